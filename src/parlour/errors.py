"""Every error Parlour raises on purpose.

    ParlourError
    ├── ConfigurationError         settings that cannot work; names the variable and the fix
    ├── RateLimited                too many attempts; says when to try again (HTTP 429)
    ├── Busy                       too much of one kind of work at once; try again soon (HTTP 503)
    ├── LoginRequired              the page is for staff who are logged in (HTTP 303 to /login)
    ├── TwoFactorRequired          an admin must set up two-factor first (HTTP 303 to enrol)
    ├── Forbidden                  logged in, but this needs another role (HTTP 403)
    ├── CsrfRejected               an unsafe request that may be forged (HTTP 403)
    ├── InvalidInput               input a person can correct; names each field (HTTP 422, a form)
    ├── NotFound                   no such treatment, booking, photo... (HTTP 404)
    ├── Conflict                   the request meets a state that refuses it (HTTP 409)
    │   └── SlotTaken              someone booked that time first; carries fresh alternatives
    └── StorageError               anything the storage layer could not do
        ├── StorageUnavailable     the backend is down, hung or refused us; retry later (HTTP 503)
        ├── InvalidKey             a key or namespace the storage layer will not accept
        ├── NoSalonInScope         a salon's namespace asked for without a salon (multi-tenant)
        ├── InvalidValue           a value that is not a JSON document
        └── CorruptValue           stored bytes that do not decode; never silently ignored

Foreign exceptions (``redis.exceptions.*``, ``sqlite3.*``) never escape the storage layer: each
backend translates them at its boundary with ``raise ... from exc``, and a test walks every
native exception class to prove the mapping is total.
"""

from __future__ import annotations

from collections.abc import Sequence


class ParlourError(Exception):
    """Base class of every error Parlour raises on purpose."""


class ConfigurationError(ParlourError):
    """Settings that cannot work. The message names the variable and what to do."""


class RateLimited(ParlourError):
    """A rate-limit policy refused the request. Nothing was counted against it."""

    def __init__(self, policy: str, retry_after: float, *, limit: int, window: float) -> None:
        super().__init__(f"too many attempts ({policy}); try again in {retry_after:.0f} s")
        self.policy = policy
        self.retry_after = retry_after
        self.limit = limit
        self.window = window


class Busy(ParlourError):
    """The server has as much of this work (password hashing) in hand as it takes; nothing was
    done. The message says so for people; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginRequired(ParlourError):
    """The page needs a logged-in member of staff."""


class TwoFactorRequired(ParlourError):
    """PARLOUR_REQUIRE_2FA is on and this admin has no second factor yet."""


class Forbidden(ParlourError):
    """The person is logged in but their role does not allow this."""


class CsrfRejected(ParlourError):
    """An unsafe request without proof that it came from Parlour's own page."""


class InvalidInput(ParlourError):
    """Input a person can correct. ``fields`` maps each field name to what to change."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in fields.items()))
        self.fields = fields


class NotFound(ParlourError):
    """The thing asked for does not exist (or is not for this person to see)."""


class Conflict(ParlourError):
    """The request is sound but the state refuses it (too late to cancel, already reviewed)."""


class SlotTaken(Conflict):
    """Another booking took the time first. ``alternatives`` are free start times that day."""

    def __init__(self, message: str, alternatives: Sequence[object]) -> None:
        super().__init__(message)
        self.alternatives = alternatives


class StorageError(ParlourError):
    """The storage layer could not do what was asked."""

    def __init__(self, message: str, *, backend: str = "") -> None:
        super().__init__(message)
        self.backend = backend


class NoSalonInScope(StorageError):
    """With ``PARLOUR_TENANCY=multi``, a salon's namespace was asked for with no salon named:
    a mistake in Parlour, never a default to some salon (``Storage.salon`` names one)."""


class StorageUnavailable(StorageError):
    """The backend did not answer in time or refused the connection.

    Whether the operation took effect is unknown only for operations the caller may safely repeat;
    the storage layer never repeats one that is not idempotent.
    """


class InvalidKey(StorageError):
    """A key or namespace that the storage layer refuses (not text, or not encodable)."""


class InvalidValue(StorageError):
    """A value that cannot be stored as a JSON document."""


class CorruptValue(StorageError):
    """Stored bytes that are not the JSON document they should be."""
