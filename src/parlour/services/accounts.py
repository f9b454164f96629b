"""Staff accounts: who may log in, in which role, with an argon2id password hash.

Hashing takes about 0.15 s of CPU and 64 MiB by design, so it runs in a bounded pool of threads
(``services/hashing.py``), never on the event loop; a full pool refuses at once (``Busy``).
A failed login costs the same whether or not the e-mail exists, and says the same.

Every change to what a session stands for (the password, the role, two-factor, "end all
sessions") raises the account's ``credentials_version`` in the same atomic write. A session
carries the version it was made with and ends when that is no longer the account's: see
``services/sessions.py``. The version is read through the process's namespace cache, so the
check costs a dictionary lookup per request, and any write to ``users`` from any process drops it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from parlour.domain.addresses import parse_email
from parlour.errors import InvalidInput
from parlour.services.cache import NamespaceCache, NoCache
from parlour.services.hashing import HashingPool
from parlour.services.resets import (
    RESET_GONE,
    RESET_VALID,
    PasswordResetAsked,
    ResetState,
    newest_link_key,
    state_of,
)
from parlour.services.roles import ROLES, Role, parse_role, role_of
from parlour.services.staged import Staged
from parlour.storage.base import ABSENT, DELETE, KVStore
from parlour.tokens import sha256_hex

__all__ = [  # what other modules import from here, those of resets.py and roles.py among them
    "RESET_GONE",
    "RESET_VALID",
    "ROLES",
    "SWITCHED_OFF",
    "AccountError",
    "AccountService",
    "PasswordResetAsked",
    "ResetState",
    "Role",
    "User",
    "bumped",
    "check_email",
    "normalise_email",
]

MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class AccountError(InvalidInput):
    """A request about an account that cannot be met; the message says why, for people."""

    def __init__(self, message: str, *, field: str = "email") -> None:
        super().__init__({field: message})
        self.field = field

    def __str__(self) -> str:
        return self.fields[self.field]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: Role
    password_hash: str
    created_at: float
    password_changed_at: float
    credentials_version: int = 0
    """Raised by every change of password, role or second factor, and by "end all sessions"."""
    totp_secret: str = ""
    """Base32 TOTP secret once two-factor is confirmed; empty when it is off."""
    totp_pending: str = ""
    """A secret being enrolled, not yet confirmed by a first code."""
    totp_last_step: int = 0
    """The last TOTP time-step accepted: a code of that step or an earlier one is a replay."""
    recovery_codes: list[str] = field(default_factory=list)
    """SHA-256 of each unused one-time recovery code."""
    known_addresses: list[str] = field(default_factory=list)
    """Keyed hashes of the client addresses of recent successful logins (newest last)."""
    resource_id: str = ""
    """A therapist's account: the therapist (resource) whose bookings it sees and works."""
    deactivated_at: float = 0.0
    """When an admin switched the account off (0: it is on). It cannot log in; its history
    (audit entries, bookings it made) stays."""

    def __post_init__(self) -> None:
        # An account stored by an older Parlour says "staff": it reads as "reception".
        object.__setattr__(self, "role", role_of(self.role))

    @property
    def active(self) -> bool:
        return not self.deactivated_at

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def two_factor(self) -> bool:
        return bool(self.totp_secret)


SWITCHED_OFF = "This account is switched off. Ask the salon's owner to switch it back on."

KNOWN_ADDRESSES = 10
"""How many recent login addresses an account remembers (the login throttle trusts them)."""


def bumped(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``record`` with ``changes`` and the next credentials version: one atomic write ends every
    session made before it."""
    version = int(record.get("credentials_version", 0)) + 1
    return {**record, **changes, "credentials_version": version}


def normalise_email(email: str) -> str:
    return email.strip().casefold()


def check_email(email: str) -> str:
    """An account's address (strict syntax: ``domain.addresses``), case-folded: an account is
    one login whatever case it is typed in."""
    try:
        return normalise_email(parse_email(email).typed)
    except InvalidInput as exc:
        raise AccountError(exc.fields["email"], field="email") from None


def check_password(password: str, email: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"Choose a password of at least {MIN_PASSWORD} characters.", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"Keep the password under {MAX_PASSWORD} characters.", field="password")
    if normalise_email(password) == normalise_email(email):
        raise AccountError("The password cannot be the e-mail address.", field="password")
    return password


class AccountService:
    def __init__(
        self,
        users: KVStore,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
        cache: NamespaceCache | None = None,
        stage: Callable[[PasswordResetAsked], Awaitable[Staged]] | None = None,
        hashing: HashingPool | None = None,
    ) -> None:
        self._users = users
        self.stage = stage
        """Turns a reset request into its message (services.notices.notifier); ``None``: a
        reset is refused, since it could not be told."""
        self.hasher = hasher or PasswordHasher()
        """Public so that a test can trade argon2's cost for speed."""
        self.hashing = hashing or HashingPool()
        """Where every hash and check runs (the app passes the one its settings size)."""
        self._clock = clock
        self._cache = cache or NoCache()
        self._dummy_hash: str | None = None

    async def _hash(self, password: str) -> str:
        hasher = self.hasher
        return await self.hashing.run(lambda: hasher.hash(password))

    async def _verify(self, password_hash: str, password: str) -> bool:
        hasher = self.hasher

        def verify() -> bool:
            try:
                return hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self.hashing.run(verify)

    async def get(self, email: str) -> User | None:
        record = await self._users.get_item(normalise_email(email))
        return None if record is None else User(**record)

    async def credentials_version(self, email: str, *, fresh: bool = False) -> int | None:
        """The account's credentials version (``None``: no such account). ``fresh`` reads the
        store itself; otherwise this process's cache answers while its change feed is live."""

        async def load() -> int | None:
            record = await self._users.get_item(normalise_email(email))
            if record is None or record.get("deactivated_at"):
                return None  # a switched-off account has no live session
            return int(record.get("credentials_version", 0))

        if fresh:
            return await load()
        return await self._cache.get(
            self._users.namespace, f"version:{normalise_email(email)}", load
        )

    async def change(self, email: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> User:
        """Apply ``change`` to the account's record atomically (``bumped`` for a change that
        ends sessions). Raises ``AccountError`` if there is no such account."""

        def apply(record: dict[str, Any] | None) -> dict[str, Any]:
            if record is None:
                raise AccountError("There is no such account.", field="email")
            return change(record)

        user = User(**await self._users.update(normalise_email(email), apply))
        self._cache.forget(self._users.namespace)
        return user

    async def end_sessions(self, email: str) -> User:
        """Raise the credentials version: every session made before now ends on its next use."""
        return await self.change(email, bumped)

    async def remember_address(self, user: User, address: str) -> None:
        """Note a successful login's (hashed) address, so the throttle knows it next time."""
        if user.known_addresses[-1:] == [address]:
            return

        def change(record: dict[str, Any]) -> dict[str, Any]:
            known = [a for a in record.get("known_addresses", []) if a != address]
            return {**record, "known_addresses": [*known, address][-KNOWN_ADDRESSES:]}

        await self.change(user.email, change)

    async def list_users(self) -> list[User]:
        # Accounts are keyed by their address; the namespace also holds the reset links'
        # hashes and their outbox (services/outbox/keys.py), whose keys have no "@".
        return sorted(
            (User(**r) for key, r in (await self._users.get_all_items()).items() if "@" in key),
            key=lambda user: user.email,
        )

    async def create_user(
        self, email: str, role: str, password: str, *, resource_id: str = ""
    ) -> User:
        """A new account. ``role`` accepts the old name ``staff`` (reception); a therapist's
        account names its therapist (``resource_id``), and only a therapist's does."""
        address = check_email(email)
        checked, resource_id = _checked_role(role, resource_id)
        check_password(password, address)
        now = self._clock()
        user = User(
            id=f"u_{secrets.token_hex(8)}",
            email=address,
            role=checked,
            resource_id=resource_id,
            password_hash=await self._hash(password),
            created_at=now,
            password_changed_at=now,
        )
        if not await self._users.set_if_absent(address, asdict(user)):
            raise AccountError(f"There is already an account for {address}.", field="email")
        return user

    async def authenticate(self, email: str, password: str) -> User | None:
        """The user if the password is theirs; ``None`` otherwise, in the same time either way.
        Raises ``AccountError`` (:data:`SWITCHED_OFF`) for the right password of an account
        that an admin switched off."""
        user = await self.get(email) if len(password) <= MAX_PASSWORD else None
        if user is None:
            # Spend what a real check spends, so the answer's timing tells nothing.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
            await self._verify(self._dummy_hash, password[:MAX_PASSWORD])
            return None
        if not await self._verify(user.password_hash, password):
            return None
        if not user.active:  # said only to whoever knows the password
            raise AccountError(SWITCHED_OFF, field="password")
        if self.hasher.check_needs_rehash(user.password_hash):
            user = await self._store_password(user, password, changed=False)
        return user

    async def change_password(self, email: str, current: str, new: str) -> User:
        user = await self.authenticate(email, current)
        if user is None:
            raise AccountError("The current password is not right.", field="current_password")
        check_password(new, user.email)
        return await self._store_password(user, new, changed=True)

    async def set_role(self, email: str, role: str, *, resource_id: str = "") -> User:
        """Change the role (and a therapist's therapist); the account's sessions end."""
        checked, resource_id = _checked_role(role, resource_id)
        return await self.change(
            email, lambda record: bumped(record, role=checked, resource_id=resource_id)
        )

    async def set_active(self, email: str, active: bool) -> User:
        """Switch an account off (its sessions end at once, it cannot log in or reset its
        password; its record and history stay) or back on."""
        at = 0.0 if active else self._clock()
        return await self.change(email, lambda record: bumped(record, deactivated_at=at))

    async def _store_password(self, user: User, password: str, *, changed: bool) -> User:
        password_hash = await self._hash(password)
        now = self._clock()

        def change(record: dict[str, Any]) -> dict[str, Any]:
            if not changed:  # a rehash on login: the same password, nothing to end
                return {**record, "password_hash": password_hash}
            return bumped(record, password_hash=password_hash, password_changed_at=now)

        return await self.change(user.email, change)

    # -- password reset ------------------------------------------------------------------

    async def ask_reset(self, email: str) -> PasswordResetAsked | None:
        """Make a single-use reset link for the account ``email`` names and stage its message
        in the same transact. ``None`` when there is no such account: the caller answers the
        same either way, so the page tells no one which addresses have accounts."""
        try:
            user = await self.get(check_email(email))
        except AccountError:
            return None
        if user is None or not user.active or self.stage is None:
            return None
        now = self._clock()
        token = secrets.token_urlsafe(32)
        asked = PasswordResetAsked(user.email, user.id, token, now, now + RESET_VALID)
        staged = await self.stage(asked)
        key = f"r:{sha256_hex(token)}"
        record = {
            "email": user.email,
            "expires": asked.expires,
            "version": user.credentials_version,
        }
        # The account's newest link, written with it: every older one is replaced (two asked
        # at once: the later write wins, and the other link says it was replaced).
        newest = newest_link_key(user.email)
        ok = await self._users.transact(
            {key: record, newest: {"link": key}, **staged.writes},
            expect={key: ABSENT, **staged.expect},
            merge=staged.merge,
            ttl={key: float(RESET_VALID), newest: float(RESET_VALID)},
        )
        return asked if ok else None

    async def reset_state(self, token: str) -> ResetState:
        """What a reset link is now (for its page; setting the password checks again)."""
        record = await self._reset_record(token)
        if record is None:
            return "gone"
        newest = await self._users.get_item(newest_link_key(str(record["email"])))
        current = await self._users.get_item(str(record["email"]))
        return state_of(token, record, newest, current)

    async def _reset_record(self, token: str) -> dict[str, Any] | None:
        if not 16 <= len(token) <= 100:
            return None
        record = await self._users.get_item(f"r:{sha256_hex(token)}")
        if not isinstance(record, dict) or float(record["expires"]) <= self._clock():
            return None
        return record

    async def reset_password(self, token: str, password: str) -> User:
        """Set the password a reset link's holder chose and use the link up. The credentials
        version rises with it, so every session of the account ends. Raises ``AccountError``
        (its message from :data:`RESET_GONE`) for a link that is unknown, used, expired,
        replaced by a newer one or older than a later change of credentials."""
        gone = AccountError(RESET_GONE["gone"], field="token")
        record = await self._reset_record(token)
        if record is None:
            raise gone
        key = f"r:{sha256_hex(token)}"
        email = str(record["email"])
        check_password(password, email)
        password_hash = await self._hash(password)
        newest_key = newest_link_key(email)
        for _ in range(4):  # a login noting its address meanwhile changes the record
            current = await self._users.get_item(email)
            newest = await self._users.get_item(newest_key)
            state = state_of(token, record, newest, current)
            if state != "valid" or current is None:
                raise AccountError(RESET_GONE[state], field="token")
            changed = bumped(
                current, password_hash=password_hash, password_changed_at=self._clock()
            )
            # One step: the link is used up exactly when the password is set, never twice, and
            # never once a newer link was asked for.
            if await self._users.transact(
                {email: changed, key: DELETE},
                expect={
                    email: current,
                    key: record,
                    newest_key: ABSENT if newest is None else newest,
                },
            ):
                break
            if await self._users.get_item(key) != record:
                raise gone
        else:
            raise gone
        self._cache.forget(self._users.namespace)
        return User(**changed)


def _checked_role(role: str, resource_id: str) -> tuple[Role, str]:
    checked = parse_role(role)
    if checked is None:
        raise AccountError("The role is admin, reception or therapist.", field="role")
    resource_id = resource_id.strip()
    if checked == "therapist" and not resource_id:
        raise AccountError(
            "Choose the therapist whose calendar this account sees.", field="resource"
        )
    return checked, resource_id if checked == "therapist" else ""
