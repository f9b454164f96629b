"""Two-factor over HTTP: the second login step, and setting it up or turning it off.

Every code checked here is a guess like a password (``web/login_throttle.py``): a wrong or
replayed code counts as a failed login. The session id is issued only after the second factor.
"""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.services.accounts import AccountError, User
from parlour.services.twofactor import WRONG_CODE, PendingLogins, qr_svg
from parlour.web.audit import audit
from parlour.web.forms import submitted
from parlour.web.guards import ENROLLING, guarded, signed_in
from parlour.web.login_throttle import count_guess, guessed_right
from parlour.web.pages import local_path, redirect, render, session_of
from parlour.web.parts import core, parts

EXPIRED = "That login took too long or was used already. Enter your password again."


def _pending(request: Request) -> PendingLogins:
    return PendingLogins(parts(request).sessions.store)


async def ask_for_code(request: Request, user: User, destination: str) -> Response:
    """The password was right: remember that for five minutes and ask for the second factor.
    Nothing is logged in yet."""
    token = await _pending(request).begin(user)
    return await render(request, "login_code.html", {"token": token, "next": destination})


async def login_code(request: Request) -> Response:
    form = await submitted(request)
    token, code = form.text("login_token", 64), form.text("code", 64)
    destination = local_path(form.text("next", 2048), "/admin")
    pending = await _pending(request).get(token)
    if pending is None:
        return await render(
            request, "login.html", {"error": EXPIRED, "next": destination}, status=400
        )
    guess = await count_guess(request, pending.email)
    user = await core(request).twofactor.verify(pending.email, code)
    if user is None:
        context = {"token": token, "next": destination, "error": WRONG_CODE}
        return await render(request, "login_code.html", context, status=400)
    if user.credentials_version != pending.version or not await _pending(request).finish(token):
        return await render(
            request, "login.html", {"error": EXPIRED, "next": destination}, status=400
        )
    await guessed_right(request, guess, user)
    session_of(request).start(user)  # the session, and its new id, only now
    return redirect(destination)


async def enrolment_page(request: Request) -> Response:
    me = signed_in(request)
    return await _page(request, me.email)


async def _page(
    request: Request,
    email: str,
    errors: dict[str, str] | None = None,
    codes: list[str] | None = None,
    status: int = 200,
) -> Response:
    user = await core(request).accounts.get(email)
    context: dict[str, object] = {
        "enabled": bool(user and user.two_factor),
        "errors": errors or {},
        "codes": codes or [],
        "required": parts(request).settings.require_2fa,
    }
    if user is not None and user.totp_pending and not user.two_factor:
        enrolment = core(request).twofactor.enrolment(user)
        context |= {"key": enrolment.secret, "qr": Markup(qr_svg(enrolment.uri))}  # noqa: S704 - segno's own SVG
    return await render(request, "admin/two_factor.html", context, status=status)


async def start(request: Request) -> Response:
    me = signed_in(request)
    await submitted(request)
    if (user := await core(request).accounts.get(me.email)) and user.two_factor:
        return redirect("/admin/account/two-factor")
    await core(request).twofactor.start(me.email)
    await audit(request, "2fa.start", me.email)
    return redirect("/admin/account/two-factor")


async def confirm(request: Request) -> Response:
    me = signed_in(request)
    form = await submitted(request)
    guess = await count_guess(request, me.email)
    try:
        user, codes = await core(request).twofactor.confirm(me.email, form.text("code", 64))
    except AccountError as exc:
        return await _page(request, me.email, {"code": str(exc)}, status=400)
    await guessed_right(request, guess)
    await audit(request, "2fa.enable", me.email, {"two_factor": False}, {"two_factor": True})
    session = session_of(request)
    await parts(request).sessions.end_all(me.user_id, keep=session.key, reason="2FA enabled")
    session.start(user)  # a new id, carrying the second factor
    return await _page(request, me.email, codes=codes)


async def disable(request: Request) -> Response:
    me = signed_in(request)
    form = await submitted(request)
    guess = await count_guess(request, me.email)
    accounts, twofactor = core(request).accounts, core(request).twofactor
    if await accounts.authenticate(me.email, form.text("password", 1024)) is None:
        errors = {"password": "The password is not right."}
        return await _page(request, me.email, errors, status=400)
    if await twofactor.verify(me.email, form.text("code", 64)) is None:
        return await _page(request, me.email, {"code": WRONG_CODE}, status=400)
    await guessed_right(request, guess)
    user = await twofactor.disable(me.email)
    await audit(request, "2fa.disable", me.email, {"two_factor": True}, {"two_factor": False})
    session = session_of(request)
    await parts(request).sessions.end_all(me.user_id, keep=session.key, reason="2FA disabled")
    session.start(user)
    session.flash("Two-factor is off.")
    return redirect("/admin/account")


login_routes = [Route("/code", login_code, methods=["POST"])]  # under /login
routes = guarded(  # under /admin
    ENROLLING,
    [
        Route("/account/two-factor", enrolment_page, methods=["GET"]),
        Route("/account/two-factor/start", start, methods=["POST"]),
        Route("/account/two-factor/confirm", confirm, methods=["POST"]),
        Route("/account/two-factor/disable", disable, methods=["POST"]),
    ],
)
