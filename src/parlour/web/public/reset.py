"""Staff password reset: "forgot your password" on /login, and the single-use link it mails.

Asking says the same whether or not the address has an account, and is limited per address
and per client IP (``PARLOUR_PASSWORD_RESET_RATE_LIMIT``). The link works once, for 30
minutes, and only while it is the account's newest; setting the password through it ends every
session of the account. A link that no longer works says why, without a form.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.services.accounts import (
    RESET_GONE,
    RESET_VALID,
    AccountError,
    ResetState,
    normalise_email,
)
from parlour.services.ratelimit import Identity
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render
from parlour.web.parts import core
from parlour.web.ratelimit import enforce
from parlour.web.staff.audit import audit

SENT = (
    "If {email} has a staff account, a link to choose a new password is on its way. It works "
    "once, for {minutes} minutes. Nothing came? Check the address, or ask an administrator."
)


async def forgot_page(request: Request) -> Response:
    return await render(request, "login_forgot.html", {})


async def forgot(request: Request) -> Response:
    form = await submitted(request)
    email = form.text("email", 254).strip()
    if "@" not in email:
        return await render(
            request,
            "login_forgot.html",
            {"error": "Enter the e-mail address you log in with.", "email": email},
            status=400,
        )
    # Counted for every address, known or not, so the limit tells nothing either.
    await enforce(request, "password_reset", Identity.email(normalise_email(email)))
    await core(request).accounts.ask_reset(email)
    sent = SENT.format(email=email, minutes=RESET_VALID // 60)
    return await render(request, "login_forgot.html", {"sent": sent})


async def reset_page(request: Request) -> Response:
    token = request.path_params["token"]
    state = await core(request).accounts.reset_state(token)
    if state != "valid":  # no form: say why, and what to do instead
        return await _gone(request, RESET_GONE[state], state)
    return await render(request, "login_reset.html", {"token": token})


async def reset(request: Request) -> Response:
    form = await submitted(request)
    token = request.path_params["token"]
    try:
        user = await core(request).accounts.reset_password(token, form.text("password", 1024))
    except AccountError as exc:
        if exc.field == "token":
            return await _gone(request, str(exc), await core(request).accounts.reset_state(token))
        context = {"token": token, "error": str(exc)}
        return await render(request, "login_reset.html", context, status=400)
    await audit(request, "account.password_reset", user.email)
    return redirect("/login?reset=1")


async def _gone(request: Request, why: str, state: ResetState) -> Response:
    context = {"gone": why, "may_log_in": state == "changed"}
    return await render(request, "login_reset.html", context, status=410)


routes = [  # under /login
    Route("/forgot", forgot_page, methods=["GET"]),
    Route("/forgot", forgot, methods=["POST"]),
    Route("/reset/{token}", reset_page, methods=["GET"]),
    Route("/reset/{token}", reset, methods=["POST"]),
]
