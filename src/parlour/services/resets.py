"""Password reset links: what a request for one is, how long a link lives, and what state a
link is in (``AccountService`` makes and uses them; this module holds the rules it keeps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from parlour.tokens import sha256_hex


@dataclass(frozen=True, slots=True)
class PasswordResetAsked:
    """Someone asked for a reset link for an account that exists (issue 13's typed event).

    The ``stage`` hook of :class:`AccountService` turns it into the message, staged into the
    same transact as the link's hash: no link without its e-mail, no e-mail without its link."""

    email: str
    user_id: str
    token: str
    """The link's token: only its hash is stored."""
    at: float
    expires: float


RESET_VALID = 30 * 60
"""Seconds a reset link works for."""

ResetState = Literal["valid", "replaced", "changed", "gone"]
"""What a reset link is now: it works; a newer link was asked for since (only the newest works);
the password was set since (through another link, or by its owner); or it is unknown, used or
expired."""


RESET_GONE: dict[ResetState, str] = {
    "gone": "This reset link has expired or was already used. Ask for a new one.",
    "replaced": "This reset link was replaced by a newer one: use the link in the most recent "
    "e-mail, or ask for a new one.",
    "changed": "This reset link no longer works: the password was changed after it was sent. "
    "Log in with the new password, or ask for a new link.",
}
"""Why a link cannot set the password, for people (every state but ``valid``)."""


def newest_link_key(email: str) -> str:
    # Hashed like the links, and without an "@": the namespace's accounts are the keys with one.
    return f"rl:{sha256_hex(email)}"


def state_of(
    token: str, record: dict[str, Any], newest: Any, current: dict[str, Any] | None
) -> ResetState:
    """A live link's state, given the account's newest link and the account itself."""
    if isinstance(newest, dict) and newest.get("link") != f"r:{sha256_hex(token)}":
        return "replaced"
    if current is None or int(current.get("credentials_version", 0)) != record["version"]:
        return "changed"
    return "valid"
