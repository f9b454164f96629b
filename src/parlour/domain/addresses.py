"""E-mail addresses: one strict syntax, the address as typed, and the mailbox it reaches.

An address a client types is kept and shown exactly as typed (``Zoë.Smith@Example.com``). What
the SMTP server is told (the envelope) and what the limits count (the mailbox) are derived from
it, never stored instead of it:

- the syntax is RFC 5321's dot-string mailbox, with RFC 6531's non-ASCII letters: no comments
  ``(x)``, no angle brackets, commas, spaces, quoted local parts or address literals. Each of
  those is text that an SMTP client or a mail program reads as something else: aiosmtplib turns
  ``victim@example.com(1)`` into ``RCPT TO:<victim@example.com>`` and ``a,victim@example.com``
  into ``<a>``, so a looser check let one inbox count as many;
- the envelope is the local part as typed and the domain as IDNA writes it (UTS 46), so an
  internationalised domain needs nothing of the relay, and only a non-ASCII local part needs
  SMTPUTF8 (:attr:`EmailAddress.needs_smtputf8`);
- the mailbox (:attr:`EmailAddress.mailbox`) is what limits count: one identity for every way
  of writing one inbox (:func:`mailbox`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import idna

from parlour.domain.text import hidden_characters
from parlour.errors import InvalidInput

MAX_ADDRESS = 254
"""RFC 5321's path limit (256) less the angle brackets."""

_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PUNCTUATION = {
    "(": "brackets",
    ")": "brackets",
    "<": "angle brackets",
    ">": "angle brackets",
    "[": "square brackets",
    "]": "square brackets",
    ",": "a comma",
    ";": "a semicolon",
    ":": "a colon",
    '"': "quotation marks",
    "\\": "a backslash",
}
_EXAMPLE = "Enter one e-mail address like name@example.com"


@dataclass(frozen=True, slots=True)
class EmailAddress:
    """An address that passed :func:`parse_email`."""

    typed: str
    """As the person typed it, without surrounding spaces: what is stored and shown."""
    local: str
    ascii_domain: str
    """The domain as IDNA (UTS 46) writes it, lower case."""

    @property
    def envelope(self) -> str:
        """What ``RCPT TO`` names: the local part as typed, the domain in ASCII."""
        return f"{self.local}@{self.ascii_domain}"

    @property
    def needs_smtputf8(self) -> bool:
        """Only a relay that offers SMTPUTF8 (RFC 6531) can take a non-ASCII local part."""
        return not self.local.isascii()

    @property
    def mailbox(self) -> str:
        return mailbox(self.typed)


def parse_email(text: str, *, field: str = "email") -> EmailAddress:
    """The address ``text`` holds, or :class:`InvalidInput` on ``field`` saying what is wrong."""
    typed = text.strip()
    if not typed:
        raise InvalidInput({field: f"{_EXAMPLE}."})
    if hidden_characters(typed):
        raise InvalidInput({field: f"{_EXAMPLE}: this holds hidden characters."})
    if len(typed) > MAX_ADDRESS:
        raise InvalidInput({field: f"Keep the e-mail address under {MAX_ADDRESS} characters."})
    if any(unicodedata.category(character).startswith("Z") for character in typed):
        raise InvalidInput({field: f"{_EXAMPLE}, without spaces."})
    for character, name in _PUNCTUATION.items():
        if character in typed:
            raise InvalidInput({field: f"{_EXAMPLE}, without {name}."})
    local, at, domain = typed.rpartition("@")
    if not at or not local or not domain or "@" in local:
        raise InvalidInput({field: f"{_EXAMPLE}: one @ between the name and the domain."})
    if local.startswith(".") or local.endswith(".") or ".." in local:
        why = "a dot cannot start or end the part before the @, or follow another dot"
        raise InvalidInput({field: f"{_EXAMPLE}: {why}."})
    if not _LOCAL.fullmatch(local):
        why = "the part before the @ holds a character addresses cannot have"
        raise InvalidInput({field: f"{_EXAMPLE}: {why}."})
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        raise InvalidInput({field: f"{_EXAMPLE}: the part after the @ is not a domain."})
    return EmailAddress(typed, local, ascii_domain)


@functools.lru_cache(maxsize=1024)
def _ascii_domain(domain: str) -> str | None:
    """The domain in ASCII (an internationalised one as IDNA, UTS 46, writes it), lower case,
    or ``None`` if mail cannot go to it. Kept for the domains seen last: most clients share a
    few, and IDNA cost a tenth of a booking."""
    if domain.isascii():
        encoded = domain.lower()  # a host name already; IDNA 2008 would refuse some that work
    else:
        try:
            encoded = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    labels = encoded.split(".")
    if len(labels) < 2 or len(encoded) > 253 or not labels[-1][:1].isalpha():
        return None
    return encoded if all(_LABEL.fullmatch(label) for label in labels) else None


EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
"""The ASCII addresses :func:`parse_email` accepts, as a JSON Schema pattern (ECMA 262 and
Python read it alike). It describes the API's rule for a schema-driven client: every address
it matches is accepted. The API takes more than it says (an internationalised domain; a
non-ASCII local part where the relay offers SMTPUTF8), never less. Written without look-aheads,
which schema-driven generators cannot use: so the 64 octets RFC 5321 gives a local part are not
enforced here either (a relay that refuses a longer one makes its message dead at once, and
holds up no other); the whole address stays within 254 characters."""


_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
"""Providers that ignore dots in the local part, and their one name."""


def _nfkc_fold(text: str) -> str:
    # casefold() can leave text that NFKC would still change (and the reverse): both ways once.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def mailbox(address: str) -> str:
    """The mailbox an address delivers to, as the limits count it.

    Everything that reaches one inbox is one identity: Unicode forms (NFKC: fullwidth letters,
    NFD accents), case, an IDN domain and its punycode (IDNA, UTS 46), ``+tags`` (sub-addresses
    deliver to the same mailbox at nearly every provider), and at Gmail dots in the local part
    and googlemail.com. Folding more than a server would is the safe side for a limit.
    """
    folded = _nfkc_fold(address.strip())
    local, at, domain = folded.rpartition("@")
    if not at:
        return folded
    domain = _ascii_domain(domain.rstrip(".").rstrip("\u3002")) or domain
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), _DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"
