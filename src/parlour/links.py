"""Absolute links, built from the configuration and never from a request.

A link that leaves the site (the manage link in an API answer, a calendar file, an e-mail) must
point where the operator says, whatever ``Host`` header an attacker sent: otherwise a request for
``Host: evil.example`` makes Parlour hand out its own secret links pointing at ``evil.example``.

    links = Links.from_settings(settings)
    links.manage(token)        # https://book.example.com/booking/<token>

The origin is ``PARLOUR_PUBLIC_ORIGIN``; without it, the address ``parlour serve`` listens on
(``PARLOUR_HOST``/``PARLOUR_PORT``, which ``--host``/``--port`` set), with ``127.0.0.1`` for a
wildcard address such as ``0.0.0.0``, which no browser can open.

:func:`allowed_hosts` names the hosts requests may be addressed to (see
``web/middleware/hosts.py``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from parlour.config import Settings

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""Accepted with nothing configured: a single instance opened on the machine it runs on."""

_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - recognised, not bound


def host_name(host: str) -> str:
    """``host`` as a ``Host`` header writes it: lower case, IPv6 in brackets, no trailing dot."""
    bare = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return bare
    return f"[{address}]" if address.version == 6 else str(address)


@dataclass(frozen=True, slots=True)
class Links:
    origin: str
    """``scheme://host[:port]``, without a trailing slash."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Links:
        if settings.public_origin:
            return cls(settings.public_origin.rstrip("/"))
        host = host_name(settings.host)
        if host in _WILDCARDS:
            host = "127.0.0.1"
        return cls(f"http://{host}:{settings.port}")

    @property
    def host(self) -> str:
        return host_name(urlsplit(self.origin).hostname or "")

    def absolute(self, path: str) -> str:
        """``path`` (which starts with ``/``) on the configured origin."""
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"{path!r} is not a path on this site")
        return self.origin + path

    def manage(self, token: str) -> str:
        """A client's private link to their booking."""
        return self.absolute(f"/booking/{quote(token, safe='')}")

    def calendar(self, token: str) -> str:
        """The booking as an iCalendar file."""
        return self.absolute(f"/booking/{quote(token, safe='')}/calendar.ics")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The ``Host`` names (without port) this instance answers to.

    ``PARLOUR_PUBLIC_ORIGIN``'s host when it is set, else the loopback names and the address
    ``parlour serve`` listens on; and in both cases ``PARLOUR_ALLOWED_HOSTS``. Ports are not
    compared: a proxy's ``Host`` has none (nginx's ``$host``), a direct request has the port.
    """
    if settings.public_origin:
        names = {Links.from_settings(settings).host}
    else:
        names = set(LOOPBACK_HOSTS)
        bound = host_name(settings.host)
        if bound not in _WILDCARDS:
            names.add(bound)
    return frozenset(names | set(settings.allowed_hosts))
