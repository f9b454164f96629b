"""Sign-up on the platform's host: a salon's name, its address (``<slug>.<platform domain>``)
and its owner's e-mail; then the link from that e-mail, where the owner chooses a password and
is sent, logged in, to the new salon's staff pages (``services/signup.py``).

Asking is limited per client address (the platform-wide ``platform`` policy, as on every
salon's host, and ``signup``) and per owner address (``signup``); a form that will not do, or a
slug that is taken, is answered before anything is counted.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.errors import Conflict, InvalidInput
from parlour.runtime import Runtime
from parlour.salons import SalonServices
from parlour.services.accounts import AccountError, User
from parlour.services.audit import Actor
from parlour.services.catalogue import Business
from parlour.services.ratelimit import Identity
from parlour.services.signup import (
    SIGNUP_VALID,
    SignUps,
    WelcomeLogins,
    WelcomeMail,
    check_signup,
)
from parlour.services.tenants import Salon, Tenants
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import parts
from parlour.web.ratelimit import client_address, enforce
from parlour.web.staff.audit import audit


def _runtime(request: Request) -> tuple[Runtime, Tenants]:
    runtime = parts(request).runtime
    assert runtime.tenants is not None  # the platform's pages are served with many salons only
    return runtime, runtime.tenants


def address_of(runtime: Runtime, salon: Salon) -> str:
    """Where a salon is served: its platform name on the platform's scheme and port."""
    assert runtime.tenants is not None
    origin = urlsplit(runtime.home.links.origin)
    return runtime.tenants.origin_of(salon, origin.scheme, origin.port)


def sign_ups(request: Request) -> SignUps:
    runtime, tenants = _runtime(request)
    home = runtime.home
    mail = WelcomeMail(
        home.core.catalogue,
        runtime.mail.sealer,
        home.links,
        lambda salon: address_of(runtime, salon),
    )
    return SignUps(tenants, home.stores.kv("users"), mail.stage)


def _form_context(request: Request, **more: object) -> dict[str, object]:
    _, tenants = _runtime(request)
    return {"domain": tenants.domain, "errors": {}, "fields": {}, **more}


async def signup_page(request: Request) -> Response:
    return await render(request, "platform/signup.html", _form_context(request))


async def signup(request: Request) -> Response:
    form = await submitted(request)
    fields = {
        "name": form.text("name", 200),
        "slug": form.text("slug", 100).strip().lower(),
        "email": form.text("email", 254).strip(),
    }
    signups = sign_ups(request)
    try:
        slug, _, email = check_signup(fields["slug"], fields["name"], fields["email"])
        await signups.check_free(slug)
    except InvalidInput as exc:
        context = _form_context(request, errors=exc.fields, fields=fields)
        return await render(request, "platform/signup.html", context, status=400)
    except Conflict as exc:
        context = _form_context(request, errors={"slug": str(exc)}, fields=fields)
        return await render(request, "platform/signup.html", context, status=409)
    # The platform's own limiter is no salon's, so the deployment-wide limit per address,
    # which enforce() applies on a salon's host, is asked for here.
    await parts(request).limiter.check("platform", Identity.ip(client_address(request)))
    await enforce(request, "signup", Identity.email(email))
    try:
        asked = await signups.ask(fields["slug"], fields["name"], fields["email"])
    except Conflict as exc:  # taken meanwhile
        context = _form_context(request, errors={"slug": str(exc)}, fields=fields)
        return await render(request, "platform/signup.html", context, status=409)
    await audit(request, "salon.signup", asked.salon.slug, None, {"owner": email})
    context = {
        "salon": asked.salon,
        "address": address_of(parts(request).runtime, asked.salon),
        "hours": SIGNUP_VALID // 3600,
    }
    return await render(request, "platform/signup_sent.html", context)


async def confirm_page(request: Request) -> Response:
    token = request.path_params["token"]
    salon = await sign_ups(request).pending(token)
    if salon is None:
        return await _gone(request)
    return await render(request, "platform/signup_confirm.html", _confirm_context(request, salon))


async def _gone(request: Request) -> Response:
    return await render(request, "platform/signup_confirm.html", {"gone": True}, status=410)


def _confirm_context(request: Request, salon: Salon, **more: object) -> dict[str, object]:
    address = address_of(parts(request).runtime, salon)
    return {"salon": salon, "address": address, "token": request.path_params["token"], **more}


async def confirm(request: Request) -> Response:
    form = await submitted(request)
    token = request.path_params["token"]
    runtime, _ = _runtime(request)
    assert runtime.salons is not None
    salons = runtime.salons
    signups = sign_ups(request)
    try:
        opened = await signups.confirm(
            token,
            form.text("password", 1024),
            accounts=lambda salon: salons.services(salon).core.accounts,
            furnish=lambda salon: _furnish(salons.services(salon), salon),
        )
    except AccountError as exc:
        salon = None if exc.field == "token" else await signups.pending(token)
        if salon is None:
            return await _gone(request)
        context = _confirm_context(request, salon, error=str(exc))
        return await render(request, "platform/signup_confirm.html", context, status=400)
    salon, owner = opened.salon, opened.owner
    services = salons.services(salon)
    await audit(request, "salon.opened", salon.slug, {"status": "pending"}, {"status": "active"})
    actor = Actor(owner.id, owner.email, client_address(request))
    await services.core.audit.record(actor, "salon.opened", salon.slug)
    welcome = await WelcomeLogins(services.sessions.store).issue(owner)
    # Not a redirect: the pages' CSP (form-action 'self') stops a form's answer from sending
    # the browser to another host, so this page moves on by itself, with a link besides.
    context = {"salon": salon, "to": services.links.absolute(f"/login/welcome/{welcome}")}
    return await render(request, "platform/signup_opened.html", context)


async def _furnish(services: SalonServices, salon: Salon) -> None:
    """A new salon starts with its name on its pages; the rest is the first-run guide's."""
    catalogue = services.core.catalogue
    business = await catalogue.business()
    if business == Business():
        await catalogue.put_business(replace(business, name=salon.name))


async def welcome(request: Request) -> Response:
    """On the salon's host: the one-time login the confirmation redirected to."""
    taken = await WelcomeLogins(parts(request).sessions.store).take(request.path_params["token"])
    owner: User | None = None
    if taken is not None:
        owner = await parts(request).core.accounts.get(taken[0])
    if owner is None or taken is None or owner.credentials_version != taken[1]:
        return redirect("/login?next=/admin")
    session_of(request).start(owner)
    return redirect("/admin")


routes = [
    Route("/signup", signup_page, methods=["GET"]),
    Route("/signup", signup, methods=["POST"]),
    Route("/signup/confirm/{token}", confirm_page, methods=["GET"]),
    Route("/signup/confirm/{token}", confirm, methods=["POST"]),
]
"""On the platform's host."""

salon_routes = [Route("/login/welcome/{token}", welcome, methods=["GET"])]
"""On every salon's host (``web/app.py`` serves them before the ``/login`` mount)."""
