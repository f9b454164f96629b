"""Staff two-factor: TOTP (RFC 6238, by pyotp) and one-time recovery codes.

- Enrolment writes a pending secret; it becomes the account's only once a first code from it is
  given, so a half-done enrolment never locks anyone out.
- A code is accepted for the current 30-second step or one either side (clock drift), and only
  for a step later than the last one accepted, recorded in the same atomic write: a code seen
  over a shoulder, or sent twice, is refused.
- Ten recovery codes of 80 random bits each are shown once and stored as SHA-256 (enough for
  random secrets of that size; argon2 is for passwords people choose); each works once.
- Turning two-factor on or off, or an operator's reset, raises the credentials version, so every
  session made before it ends (``services/accounts.py``).
- Logging in is two steps; between them a :class:`PendingLogins` record (a random token, five
  minutes) says whose password was right. It is not a session: nothing is logged in until the
  second factor is given, and only then is a session (with a new id) made.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
import segno

from parlour.services.accounts import AccountError, AccountService, User, bumped
from parlour.storage.base import KVStore
from parlour.tokens import sha256_hex

ISSUER = "Parlour"
"""The authenticator's name for an account when the salon has none (it names the salon)."""
DRIFT_STEPS = 1
RECOVERY_CODES = 10
PENDING_SECONDS = 300.0
WRONG_CODE = "That code is not right. Enter the 6 digits your app shows now, or a recovery code."
USED_CODE = (
    "That code was used already (to turn two-factor on, or to log in): each code works once, "
    "so one seen over a shoulder cannot be used again. Wait for your app to show the next one "
    "(at most 30 seconds) and enter that, or use a recovery code."
)
"""Issue 24, defect 18: the code that turned two-factor on was refused at a login in the same
30 s without a word. It stays refused (a code is never accepted twice, whatever it was used
for: the safer reading), and the refusal now says why and what to do."""


def recovery_code() -> str:
    """``abcd-efgh-ijkl-mnop``: 80 bits, in letters and digits that read unambiguously."""
    text = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _recovery_hash(code: str) -> str:
    return sha256_hex("".join(code.split()).replace("-", "").lower())


def qr_svg(uri: str) -> str:
    """The enrolment URI as inline SVG markup (no script, no style attributes)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, svgclass="qr", lineclass="qr-dark")
    return svg


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str


class TwoFactorService:
    def __init__(self, accounts: AccountService, *, clock: Callable[[], float] = time.time) -> None:
        self._accounts = accounts
        self._clock = clock

    async def start(self, email: str, issuer: str = ISSUER) -> Enrolment:
        """A new pending secret for ``email`` (replacing any earlier pending one)."""
        secret = pyotp.random_base32()
        user = await self._accounts.change(email, lambda r: {**r, "totp_pending": secret})
        return self.enrolment(user, issuer)

    def enrolment(self, user: User, issuer: str = ISSUER) -> Enrolment:
        """The secret and its ``otpauth://`` address; the app lists it as ``issuer`` (the
        salon's name) and the account's address."""
        issuer = " ".join(issuer.replace(":", " ").split()) or ISSUER  # ":" splits the label
        uri = pyotp.TOTP(user.totp_pending).provisioning_uri(name=user.email, issuer_name=issuer)
        return Enrolment(user.totp_pending, uri)

    async def confirm(self, email: str, code: str) -> tuple[User, list[str]]:
        """Make the pending secret the account's, proven by a code from it; returns the
        account and its new recovery codes (their only showing). Raises ``AccountError``."""
        user = await self._accounts.get(email)
        if user is None or not user.totp_pending:
            raise AccountError("Start setting up two-factor first.", field="code")
        step = self._matching_step(user.totp_pending, code)
        if step is None:
            raise AccountError(WRONG_CODE, field="code")
        codes = [recovery_code() for _ in range(RECOVERY_CODES)]
        pending = user.totp_pending

        def enable(record: dict[str, Any]) -> dict[str, Any]:
            if record.get("totp_pending") != pending:
                raise AccountError(
                    "Setting up started again elsewhere; use its code.", field="code"
                )
            return bumped(
                record,
                totp_secret=pending,
                totp_pending="",
                totp_last_step=step,
                recovery_codes=[_recovery_hash(c) for c in codes],
            )

        return await self._accounts.change(email, enable), codes

    async def verify(self, email: str, code: str) -> User | None:
        """The account if ``code`` is a fresh TOTP code or an unused recovery code of it (which
        is used up); ``None`` for a wrong, replayed or used code, or no second factor."""
        checked = await self.check(email, code)
        return checked if isinstance(checked, User) else None

    async def check(self, email: str, code: str) -> User | str:
        """As :meth:`verify`, but a refusal is why, for people: :data:`USED_CODE` for a code of
        a step already used (a replay), else :data:`WRONG_CODE`."""
        user = await self._accounts.get(email)
        if user is None or not user.two_factor:
            return WRONG_CODE
        digits = "".join(code.split())
        if digits.isdigit():
            step = self._matching_step(user.totp_secret, digits)
            if step is None:
                return WRONG_CODE
            return await self._use(email, lambda r: _take_step(r, step))
        hashed = _recovery_hash(code)
        if hashed not in user.recovery_codes:
            return WRONG_CODE
        return await self._use(email, lambda r: _take_recovery(r, hashed))

    async def disable(self, email: str) -> User:
        """Turn two-factor off (the caller checked the password and a code; an operator's reset
        checks nothing). Every session made before it ends."""
        return await self._accounts.change(
            email,
            lambda r: bumped(
                r, totp_secret="", totp_pending="", totp_last_step=0, recovery_codes=[]
            ),
        )

    def _matching_step(self, secret: str, code: str) -> int | None:
        code = "".join(code.split())
        if len(code) != 6 or not code.isdigit():
            return None
        totp = pyotp.TOTP(secret)
        now = int(self._clock()) // totp.interval
        for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
            if secrets.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    async def _use(
        self, email: str, take: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> User | str:
        try:
            return await self._accounts.change(email, take)
        except _Refused as refused:
            return str(refused)


class _Refused(AccountError):
    def __init__(self, message: str = WRONG_CODE) -> None:
        super().__init__(message, field="code")


def _take_step(record: dict[str, Any], step: int) -> dict[str, Any]:
    if step <= int(record.get("totp_last_step", 0)):
        raise _Refused(USED_CODE)  # this step, or an earlier one, was used already: a replay
    return {**record, "totp_last_step": step}


def _take_recovery(record: dict[str, Any], hashed: str) -> dict[str, Any]:
    left = list(record.get("recovery_codes", []))
    if hashed not in left:
        raise _Refused(USED_CODE)  # used meanwhile, by a parallel request
    left.remove(hashed)
    return {**record, "recovery_codes": left}


@dataclass(frozen=True, slots=True)
class PendingLogin:
    user_id: str
    email: str
    version: int
    """The credentials version the password was checked against."""


class PendingLogins:
    """Logins whose password was right and whose second factor is awaited, keyed by the hash of
    a random token that the code form carries. Each lives five minutes and is used once."""

    def __init__(self, store: KVStore) -> None:
        self._store = store

    async def begin(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        record = {"user_id": user.id, "email": user.email, "version": user.credentials_version}
        await self._store.set_item(_pending_key(token), record, ttl=PENDING_SECONDS)
        return token

    async def get(self, token: str) -> PendingLogin | None:
        if not token or len(token) > 64:
            return None
        record = await self._store.get_item(_pending_key(token))
        return None if record is None else PendingLogin(**record)

    async def finish(self, token: str) -> bool:
        """Use the pending login up; ``False`` if a parallel request used it first."""
        return await self._store.remove_item(_pending_key(token))


def _pending_key(token: str) -> str:
    return f"login:{sha256_hex(token)}"
