"""Two-factor over HTTP, the second login step (setting it up or turning it off is
``web/staff/twofactor.py``).

Every code checked here is a guess like a password (``web/login_throttle.py``): a wrong or
replayed code counts as a failed login. The session id is issued only after the second factor.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.services.accounts import User
from parlour.services.twofactor import PendingLogins
from parlour.web.forms import submitted
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
    user = await core(request).twofactor.check(pending.email, code)
    if isinstance(user, str):  # why not: wrong, or used already (defect 18)
        context = {"token": token, "next": destination, "error": user}
        return await render(request, "login_code.html", context, status=400)
    if user.credentials_version != pending.version or not await _pending(request).finish(token):
        return await render(
            request, "login.html", {"error": EXPIRED, "next": destination}, status=400
        )
    await guessed_right(request, guess, user)
    session_of(request).start(user)  # the session, and its new id, only now
    return redirect(destination)


login_routes = [Route("/code", login_code, methods=["POST"])]  # under /login
