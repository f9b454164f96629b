"""Two-factor over HTTP, setting it up or turning it off (the second login step is
``web/public/twofactor.py``).

Every code checked here is a guess like a password (``web/login_throttle.py``): a wrong or
replayed code counts as a failed login.
"""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.services.accounts import AccountError
from parlour.services.twofactor import qr_svg
from parlour.web.forms import submitted
from parlour.web.login_throttle import count_guess, guessed_right
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import core, parts
from parlour.web.staff.audit import audit
from parlour.web.staff.guards import ENROLLING, guarded, signed_in


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
        business = await core(request).catalogue.business()
        enrolment = core(request).twofactor.enrolment(user, business.name)
        context |= {
            "key": enrolment.secret,
            "uri": enrolment.uri,
            "qr": Markup(qr_svg(enrolment.uri)),  # noqa: S704 - segno's own SVG
        }
    return await render(request, "admin/two_factor.html", context, status=status)


async def start(request: Request) -> Response:
    me = signed_in(request)
    await submitted(request)
    if (user := await core(request).accounts.get(me.email)) and user.two_factor:
        return redirect("/admin/account/two-factor")
    await core(request).twofactor.start(me.email, (await core(request).catalogue.business()).name)
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
    checked = await twofactor.check(me.email, form.text("code", 64))
    if isinstance(checked, str):
        return await _page(request, me.email, {"code": checked}, status=400)
    await guessed_right(request, guess)
    user = await twofactor.disable(me.email)
    await audit(request, "2fa.disable", me.email, {"two_factor": True}, {"two_factor": False})
    session = session_of(request)
    await parts(request).sessions.end_all(me.user_id, keep=session.key, reason="2FA disabled")
    session.start(user)
    session.flash("Two-factor is off.")
    return redirect("/admin/account")


routes = guarded(  # under /admin
    ENROLLING,
    [
        Route("/account/two-factor", enrolment_page, methods=["GET"]),
        Route("/account/two-factor/start", start, methods=["POST"]),
        Route("/account/two-factor/confirm", confirm, methods=["POST"]),
        Route("/account/two-factor/disable", disable, methods=["POST"]),
    ],
)
