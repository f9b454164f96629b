"""The staff area: the landing page, one's own account and sessions, users, rate limits."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.services.accounts import AccountError
from parlour.services.login_throttle import windows
from parlour.services.roles import ROLES, TITLES
from parlour.services.sessions import SessionRecord
from parlour.web.forms import submitted
from parlour.web.login_throttle import count_guess, guessed_right
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import core, parts
from parlour.web.staff.audit import audit
from parlour.web.staff.confirm import ask_first, confirmed
from parlour.web.staff.guards import ADMIN, ENROLLING, OWN, guarded, signed_in


async def account(request: Request) -> Response:
    return await _account_page(request, signed_in(request))


async def _account_page(
    request: Request, me: SessionRecord, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    sessions = await parts(request).sessions.sessions_of(me.user_id)
    context = {"sessions": sessions, "current": session_of(request).key, "errors": errors or {}}
    return await render(request, "admin/account.html", context, status=status)


async def change_password(request: Request) -> Response:
    me = signed_in(request)
    form = await submitted(request)
    new = form.text("new_password", 4096)
    if new != form.text("confirm_password", 4096):
        errors = {"confirm_password": "The two new passwords differ."}
        return await _account_page(request, me, errors, 400)
    guess = await count_guess(request, me.email)  # a wrong current password is a failed login
    try:
        user = await core(request).accounts.change_password(
            me.email, form.text("current_password", 1024), new
        )
    except AccountError as exc:
        if exc.field != "current_password":
            await guessed_right(request, guess)
        return await _account_page(request, me, {exc.field: str(exc)}, 400)
    await guessed_right(request, guess)
    await audit(request, "account.password", me.email)
    session = session_of(request)
    ended = await parts(request).sessions.end_all(
        me.user_id, keep=session.key, reason="password change"
    )
    session.start(user)  # a new id and CSRF secret for the session that changed it
    session.flash(f"Password changed. {_ended(ended)}")
    return redirect("/admin/account")


async def end_session(request: Request) -> Response:
    me = signed_in(request)
    form = await submitted(request)
    key = form.text("session_key", 64)
    session = session_of(request)
    if key != session.key and not confirmed(form):
        return await ask_first(
            request,
            question="End that session?",
            details="Whoever uses it is logged out there at once.",
            action="/admin/account/sessions/end",
            fields={"session_key": key},
            button="Yes, end it",
            back="/admin/account",
        )
    if key == session.key:
        await audit(request, "session.end", me.email, {"session": key[:12]}, {"ended": True})
        session.end()
        return redirect("/login?ended=1")
    ended = await parts(request).sessions.end(me.user_id, key)
    await audit(request, "session.end", me.email, {"session": key[:12]}, {"ended": ended})
    session.flash("Session ended." if ended else "That session had already ended.")
    return redirect("/admin/account")


async def end_other_sessions(request: Request) -> Response:
    me = signed_in(request)
    if not confirmed(await submitted(request)):
        return await ask_first(
            request,
            question="End every other session?",
            details="You stay logged in here; every other device is logged out at once.",
            action="/admin/account/sessions/end-others",
            button="Yes, end them",
            back="/admin/account",
        )
    session = session_of(request)
    user = await core(request).accounts.end_sessions(me.email)
    ended = await parts(request).sessions.end_all(me.user_id, keep=session.key)
    await audit(request, "session.end_others", me.email, None, {"ended": ended})
    session.follow(user)  # this one goes on, under the new credentials version
    session.flash(_ended(ended))
    return redirect("/admin/account")


async def log_out_everywhere(request: Request) -> Response:
    me = signed_in(request)
    if not confirmed(await submitted(request)):
        return await ask_first(
            request,
            question="Log out everywhere?",
            details="Every session of yours ends, this one too: you log in again afterwards.",
            action="/admin/account/sessions/end-all",
            button="Yes, log out everywhere",
            back="/admin/account",
        )
    await core(request).accounts.end_sessions(me.email)
    ended = await parts(request).sessions.end_all(me.user_id, reason="logged out everywhere")
    await audit(request, "session.end_all", me.email, None, {"ended": ended})
    session_of(request).end()
    return redirect("/login?ended=all")


async def users(request: Request) -> Response:
    return await _users_page(request)


async def _users_page(
    request: Request,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    sessions = parts(request).sessions
    rows = [
        (user, len(await sessions.sessions_of(user.id)))
        for user in await core(request).accounts.list_users()
    ]
    resources = await core(request).catalogue.resources()
    context = {
        "rows": rows,
        "errors": errors or {},
        "form": form or {},
        "roles": ROLES,
        "titles": TITLES,
        "therapists": resources,
        "names": {r.id: r.name for r in resources},
    }
    return await render(request, "admin/users.html", context, status=status)


async def create_user(request: Request) -> Response:
    form = await submitted(request)
    email, role = form.text("email", 254), form.text("role", 16)
    resource = form.text("resource", 64)
    try:
        user = await core(request).accounts.create_user(
            email, role, form.text("password", 1024), resource_id=resource
        )
    except AccountError as exc:
        fields = {"email": email, "role": role, "resource": resource}
        return await _users_page(request, {exc.field or "email": str(exc)}, fields, 400)
    words = await _role_words(request, user.role, user.resource_id)
    await audit(request, "user.create", user.email, None, words)
    session_of(request).flash(f"Account created for {user.email}.")
    return redirect("/admin/users")


async def change_role(request: Request) -> Response:
    me = signed_in(request)
    form = await submitted(request)
    before = await core(request).accounts.get(form.text("email", 254))
    demoted = before is not None and form.text("role", 16).strip() != "admin"
    if demoted and before and (refusal := await _last_admin(request, before.email)):
        return await _users_page(request, {"role": refusal}, status=400)
    try:
        user = await core(request).accounts.set_role(
            form.text("email", 254), form.text("role", 16), resource_id=form.text("resource", 64)
        )
    except AccountError as exc:
        return await _users_page(request, {"role": str(exc)}, status=400)
    await audit(
        request,
        "user.role",
        user.email,
        before and await _role_words(request, before.role, before.resource_id),
        await _role_words(request, user.role, user.resource_id),
    )
    # A session carries its role: the user's sessions end, and the next login has the new one.
    ended = await parts(request).sessions.end_all(user.id, reason="role change")
    if user.id == me.user_id:
        session_of(request).end()
        return redirect("/login?ended=1")
    title = TITLES[user.role].lower()
    session_of(request).flash(f"{user.email} is now {title}. {_ended(ended)}")
    return redirect("/admin/users")


async def set_active(request: Request) -> Response:
    """Switch an account off (it cannot log in, its sessions end, its history stays) or on."""
    me = signed_in(request)
    form = await submitted(request)
    email, active = form.text("email", 254), form.text("active", 3) == "yes"
    account = await core(request).accounts.get(email)
    if account is None:
        return await _users_page(request, {"role": "There is no such account."}, status=400)
    if account.id == me.user_id and not active:
        refusal = "You cannot switch off your own account: ask another admin."
        return await _users_page(request, {"role": refusal}, status=400)
    if not active and (refusal := await _last_admin(request, account.email)):
        return await _users_page(request, {"role": refusal}, status=400)
    if not active and not confirmed(form):
        return await ask_first(
            request,
            question=f"Switch off the account of {account.email}?",
            details="They are logged out everywhere at once and cannot log in until an admin "
            "switches the account back on. Its history stays.",
            action="/admin/users/active",
            fields={"email": account.email, "active": "no"},
            button="Yes, switch it off",
            back="/admin/users",
        )
    user = await core(request).accounts.set_active(account.email, active)
    ended = await parts(request).sessions.end_all(user.id, reason="account switched off")
    await audit(
        request,
        "user.active",
        user.email,
        {"account": "on" if account.active else "off"},
        {"account": "on" if user.active else "off"},
    )
    state = "switched back on" if active else f"switched off. {_ended(ended)}"
    session_of(request).flash(f"{user.email} is {state}")
    return redirect("/admin/users")


async def _last_admin(request: Request, email: str) -> str:
    """Why ``email`` may not stop being an active admin (``""``: it may): a salon keeps one,
    or nobody could reach the staff accounts again (short of ``parlour create-user``)."""
    others = [
        user
        for user in await core(request).accounts.list_users()
        if user.is_admin and user.active and user.email != email
    ]
    if others:
        return ""
    return f"{email} is the only active owner/admin: make another account admin first."


async def _role_words(request: Request, role: str, resource_id: str) -> dict[str, str]:
    """A role as the audit log shows it: "Therapist" with the therapist's name."""
    words = {"role": TITLES.get(role, role)}
    if resource_id:
        names = {r.id: r.name for r in await core(request).catalogue.resources()}
        words["therapist"] = names.get(resource_id, resource_id)
    return words


async def end_user_sessions(request: Request) -> Response:
    me = signed_in(request)
    form = await submitted(request)
    email = form.text("email", 254)
    if not confirmed(form):
        return await ask_first(
            request,
            question=f"End every session of {email}?",
            details="They are logged out on every device at once.",
            action="/admin/users/end-sessions",
            fields={"email": email},
            button="Yes, end them",
            back="/admin/users",
        )
    try:
        user = await core(request).accounts.end_sessions(email)
    except AccountError as exc:
        return await _users_page(request, {"email": str(exc)}, status=400)
    keep = session_of(request).key if user.id == me.user_id else None
    ended = await parts(request).sessions.end_all(user.id, keep=keep, reason="ended by an admin")
    await audit(request, "user.end_sessions", user.email, None, {"ended": ended})
    if keep is not None:
        session_of(request).follow(user)  # the admin's own session goes on
    session_of(request).flash(f"{user.email}: {_ended(ended)}")
    return redirect("/admin/users")


async def ratelimits(request: Request) -> Response:
    email = request.query_params.get("email", "")[:254]
    ip = request.query_params.get("ip", "")[:64]
    limiter = parts(request).limiter
    rows = [
        (
            window,
            limiter.policies[window.policy],
            await limiter.peek(window.policy, window.identity),
        )
        for window in windows(email, ip)
    ]
    return await render(request, "admin/ratelimits.html", {"email": email, "ip": ip, "rows": rows})


async def clear_ratelimits(request: Request) -> Response:
    form = await submitted(request)
    email, ip = form.text("email", 254), form.text("ip", 64)
    found = windows(email, ip)
    if found and not confirmed(form):
        who = " and ".join(filter(None, [email, ip]))
        return await ask_first(
            request,
            question=f"Clear every window of {who}?",
            details="Their failed logins and bookings stop counting against them.",
            action="/admin/ratelimits/clear",
            fields={"email": email, "ip": ip},
            button="Yes, clear them",
            back=f"/admin/ratelimits?email={quote(email)}&ip={quote(ip)}",
        )
    for window in found:
        await parts(request).limiter.clear(window.policy, window.identity)
    if found:
        await audit(
            request, "ratelimit.clear", f"{email} {ip}".strip(), None, [w.label for w in found]
        )
        session_of(request).flash(
            f"Cleared every window of {' and '.join(filter(None, [email, ip]))}."
        )
    return redirect("/admin/ratelimits")


def _ended(count: int) -> str:
    if count == 0:
        return "No other session was open."
    return f"{count} other session{'s' if count != 1 else ''} ended."


routes = [  # under /admin
    *guarded(ENROLLING, [Route("/account", account)]),
    *guarded(
        OWN,
        [
            Route("/account/password", change_password, methods=["POST"]),
            Route("/account/sessions/end", end_session, methods=["POST"]),
            Route("/account/sessions/end-others", end_other_sessions, methods=["POST"]),
            Route("/account/sessions/end-all", log_out_everywhere, methods=["POST"]),
        ],
    ),
    *guarded(
        ADMIN,
        [
            Route("/users", users),
            Route("/users", create_user, methods=["POST"]),
            Route("/users/role", change_role, methods=["POST"]),
            Route("/users/active", set_active, methods=["POST"]),
            Route("/users/end-sessions", end_user_sessions, methods=["POST"]),
            Route("/ratelimits", ratelimits),
            Route("/ratelimits/clear", clear_ratelimits, methods=["POST"]),
        ],
    ),
]
