"""Self-serve sign-up: a new salon asked for on the platform's host, opened by its owner.

1. :meth:`SignUps.ask` checks the slug (``tenants.check_slug``: not reserved, not taken), the
   name and the owner's address, creates the salon as ``pending`` (not served), and writes a
   single-use link's hash with its e-mail (the platform's outbox, ``users@platform``) in one
   transact: no link without its message. The link works for :data:`SIGNUP_VALID` seconds.
2. :meth:`SignUps.confirm`, with the link and the password the owner chose: the owner becomes
   an admin in the salon's own ``users`` namespace, the salon becomes ``active``, and the link is
   used up. A confirmation interrupted half-way can be repeated with the same link and password.
3. :class:`WelcomeLogins`: the owner is logged in on the salon's host (a host-only cookie cannot
   be set from the platform's), through a one-time token kept two minutes in the salon's
   ``sessions`` namespace (beside the pending second-factor logins, ``services/twofactor.py``)
   and taken once by ``/login/welcome/<token>`` on that host.

A pending salon whose link expired unused frees its slug: the next sign-up for it replaces it
(nothing was ever written for it but its record).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from parlour.errors import Conflict, InvalidInput
from parlour.services.accounts import AccountError, AccountService, User, check_email
from parlour.services.accounts import check_password as _check_password
from parlour.services.catalogue import CatalogueService
from parlour.services.notices.messages import Kind, SalonWelcome, to_json
from parlour.services.notices.notifier import SiteLinks
from parlour.services.outbox.records import new_message
from parlour.services.outbox.store import Outbox
from parlour.services.sealing import Sealer
from parlour.services.staged import Staged
from parlour.services.tenants import Salon, Status, Tenants, check_slug
from parlour.storage.base import ABSENT, DELETE, KVStore
from parlour.tokens import sha256_hex

SIGNUP_VALID = 24 * 3600
"""Seconds a sign-up link works for; a pending salon older than this frees its slug."""
WELCOME_VALID = 120.0
"""Seconds the one-time login on the salon's host works for (it is used at once, by redirect)."""
LINK_GONE = (
    "This link has expired or was already used. If your salon is open, log in at its address; "
    "otherwise sign up again."
)

_LINK = "su:"
_WELCOME = "wl:"


@dataclass(frozen=True, slots=True)
class SignUpAsked:
    """A sign-up to tell its owner about (the ``stage`` hook makes the message)."""

    salon: Salon
    token: str
    """The link's token: only its hash is stored."""
    at: float
    expires: float


@dataclass(frozen=True, slots=True)
class Opened:
    salon: Salon
    owner: User


def check_signup(slug: str, name: str, email: str) -> tuple[str, str, str]:
    """The three fields as a salon takes them, or :class:`InvalidInput` naming every problem."""
    problems: dict[str, str] = {}
    slug = slug.strip().lower()
    try:
        check_slug(slug)
    except InvalidInput as exc:
        problems |= exc.fields
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        problems["name"] = "Give your salon's name, as clients know it (up to 100 characters)."
    try:
        email = check_email(email)
    except AccountError as exc:
        problems["email"] = str(exc)
    if problems:
        raise InvalidInput(problems)
    return slug, name, email


class SignUps:
    def __init__(
        self,
        tenants: Tenants,
        store: KVStore,
        stage: Callable[[SignUpAsked], Awaitable[Staged]],
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.tenants = tenants
        self.store = store
        """The platform's ``users`` namespace: its outbox sends the link's message."""
        self.stage = stage
        self.clock = clock or tenants.clock
        """The directory's, by default: a salon's age and its link's are read on one clock."""

    async def ask(self, slug: str, name: str, email: str) -> SignUpAsked:
        """A pending salon and its link's message. :class:`InvalidInput` for a field that will
        not do, :class:`Conflict` for a slug another salon holds."""
        slug, name, email = check_signup(slug, name, email)
        salon = await self._create(slug, name, email)
        now = self.clock()
        token = secrets.token_urlsafe(32)
        asked = SignUpAsked(salon, token, now, now + SIGNUP_VALID)
        staged = await self.stage(asked)
        key = _LINK + sha256_hex(token)
        record = {"slug": slug, "email": email, "created": salon.created, "expires": asked.expires}
        written = await self.store.transact(
            {key: record, **staged.writes},
            expect={key: ABSENT, **staged.expect},
            merge=staged.merge,
            ttl={key: float(SIGNUP_VALID)},
        )
        if not written:  # a token collision: never in practice; the salon frees itself later
            raise Conflict("Please try again.")
        return asked

    async def check_free(self, slug: str) -> None:
        """:class:`Conflict` if a salon holds ``slug`` (one abandoned unconfirmed does not):
        asked before a sign-up is counted against its limits."""
        held = await self.tenants.get(slug)
        if held is not None and not self._abandoned(held):
            raise Conflict(
                f"The address {slug} is taken. Please choose another (add your town, or a word "
                "of your own)."
            )

    def _abandoned(self, salon: Salon) -> bool:
        return salon.status is Status.PENDING and salon.created + SIGNUP_VALID < self.clock()

    async def _create(self, slug: str, name: str, email: str) -> Salon:
        try:
            return await self.tenants.create(slug, name, email, status=Status.PENDING)
        except Conflict:
            await self.check_free(slug)
            await self.tenants.forget(slug)
            return await self.tenants.create(slug, name, email, status=Status.PENDING)

    async def pending(self, token: str) -> Salon | None:
        """The salon a live link opens, or ``None`` (unknown, expired, used)."""
        found = await self._link(token)
        return None if found is None else found[1]

    async def _link(self, token: str) -> tuple[dict[str, Any], Salon] | None:
        if not 16 <= len(token) <= 100:
            return None
        record = await self.store.get_item(_LINK + sha256_hex(token))
        if not isinstance(record, dict) or float(record["expires"]) <= self.clock():
            return None
        salon = await self.tenants.get(str(record["slug"]))
        if salon is None or salon.created != record["created"] or salon.status is Status.SUSPENDED:
            return None  # a salon that replaced an abandoned one, or one an operator stopped
        return record, salon

    async def confirm(
        self,
        token: str,
        password: str,
        *,
        accounts: Callable[[Salon], AccountService],
        furnish: Callable[[Salon], Awaitable[None]],
    ) -> Opened:
        """Open the salon a link names: its owner an admin with ``password``, its status active,
        the link used up. ``accounts`` gives the salon's own accounts, ``furnish`` writes what
        a new salon starts with. :class:`AccountError` (field ``token``: :data:`LINK_GONE`)
        for a link that does not work, (field ``password``) for a password that will not do."""
        found = await self._link(token)
        if found is None:
            raise AccountError(LINK_GONE, field="token")
        record, salon = found
        email = str(record["email"])
        _check_password(password, email)
        owners = accounts(salon)
        try:
            owner = await owners.create_user(email, "admin", password)
        except AccountError as exc:
            if exc.field != "email":
                raise
            # Made by an earlier try with this link that stopped half-way: the same password
            # carries on; any other is someone else's attempt.
            again = await owners.authenticate(email, password)
            if again is None:
                raise AccountError(LINK_GONE, field="token") from None
            owner = again
        await furnish(salon)
        if salon.status is Status.PENDING:
            salon = await self.tenants.set_status(salon.slug, Status.ACTIVE)
        await self.store.transact(
            {_LINK + sha256_hex(token): DELETE}, expect={_LINK + sha256_hex(token): record}
        )
        return Opened(salon, owner)


class WelcomeLogins:
    """One-time logins on a salon's host, in its ``sessions`` namespace."""

    def __init__(self, sessions: KVStore) -> None:
        self.store = sessions

    async def issue(self, owner: User) -> str:
        token = secrets.token_urlsafe(32)
        record = {"email": owner.email, "version": owner.credentials_version}
        await self.store.set_item(_WELCOME + sha256_hex(token), record, ttl=WELCOME_VALID)
        return token

    async def take(self, token: str) -> tuple[str, int] | None:
        """The e-mail the token logs in and the credentials version it was issued for, once;
        ``None`` if it is unknown, used or expired."""
        if not 16 <= len(token) <= 100:
            return None
        key = _WELCOME + sha256_hex(token)
        record = await self.store.get_item(key)
        if not isinstance(record, dict):
            return None
        if not await self.store.transact({key: DELETE}, expect={key: record}):
            return None  # taken by a parallel request
        return str(record["email"]), int(record["version"])


class WelcomeMail:
    """The sign-up link's message, staged into :meth:`SignUps.ask`'s transact: signed with the
    platform's name, the link sealed (``services/sealing.py``) until it is sent."""

    def __init__(
        self,
        catalogue: CatalogueService,
        sealer: Sealer,
        links: SiteLinks,
        address_of: Callable[[Salon], str],
    ) -> None:
        self.catalogue = catalogue
        self.sealer = sealer
        self.links = links
        self.address_of = address_of

    async def stage(self, asked: SignUpAsked) -> Staged:
        link = self.links.absolute(f"/signup/confirm/{quote(asked.token, safe='')}")
        salon = asked.salon
        data = SalonWelcome(
            await self.catalogue.business(),
            salon.owner_email,
            salon.name,
            self.address_of(salon),
            self.sealer.seal(link),
            round((asked.expires - asked.at) / 3600),
        )
        message = new_message(
            Kind.SALON_WELCOME.value, [salon.owner_email], to_json(data), now=asked.at
        )
        return Outbox.stage(message)
