"""Logging in and out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.services.accounts import AccountError
from parlour.web.forms import submitted
from parlour.web.login_throttle import count_guess, guessed_right
from parlour.web.pages import local_path, redirect, render, session_of
from parlour.web.parts import core
from parlour.web.public.twofactor import ask_for_code

WRONG = "That e-mail address and password do not match an account."


async def login_page(request: Request) -> Response:
    destination = local_path(request.query_params.get("next"), "/admin")
    session = session_of(request)
    if session.has_cookie and await session.load() is not None:
        return redirect(destination)
    return await render(request, "login.html", {"next": destination})


async def login(request: Request) -> Response:
    form = await submitted(request)
    email, password = form.text("email", 254), form.text("password", 1024)
    destination = local_path(form.text("next", 2048), "/admin")
    if not email.strip() or not password:
        return await render(
            request,
            "login.html",
            {
                "error": "Enter your e-mail address and password.",
                "email": email,
                "next": destination,
            },
            status=400,
        )
    accounts = core(request).accounts
    # A full hashing pool turns the login away before anything is counted or looked up; then
    # the guess is counted before the password is checked, so guessing is bounded (a success
    # gives it back), and an unknown account costs its dummy hash only after the throttle.
    accounts.hashing.check()
    guess = await count_guess(request, email)
    try:
        user = await accounts.authenticate(email, password)
    except AccountError as exc:  # switched off: the guess was right, and still no login
        await guessed_right(request, guess)
        context = {"error": str(exc), "email": email, "next": destination}
        return await render(request, "login.html", context, status=403)
    if user is None:
        return await render(
            request, "login.html", {"error": WRONG, "email": email, "next": destination}, status=400
        )
    if user.two_factor:
        await guessed_right(request, guess)  # the password was right; the code counts anew
        return await ask_for_code(request, user, destination)
    await guessed_right(request, guess, user)
    session_of(request).start(user)
    return redirect(destination)


async def logout(request: Request) -> Response:
    await submitted(request)
    session = session_of(request)
    if session.has_cookie:
        await session.load()
    session.end()
    return redirect("/login?ended=1")


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
