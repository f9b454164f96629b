"""How a setting's value is written: rates, durations, host names, networks, and back to text.

Each ``Annotated`` type parses what a variable holds (``3/15 minutes``, ``2 hours``,
``10.0.0.1,10.1.0.0/16``) before pydantic checks it, and :func:`display` writes a value back the
way its variable takes it, so ``.env.example`` and ``parlour check`` show the defaults as typed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BeforeValidator, field_validator
from pydantic_settings import NoDecode

from parlour.config.vocabulary import NAMESPACES

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` admissions in any ``window`` seconds: written ``3/15 minutes``."""

    limit: int
    window: float

    def __str__(self) -> str:
        for unit, seconds in reversed(_UNITS.items()):
            if self.window % seconds == 0:
                count = int(self.window // seconds)
                return f"{self.limit}/{count} {unit}{'s' if count != 1 else ''}"
        return f"{self.limit}/{self.window:g} seconds"


def parse_rate(value: object) -> Rate:
    if isinstance(value, Rate):
        return value
    match = _RATE.fullmatch(str(value))
    if not match:
        raise ValueError("write it as LIMIT/WINDOW, e.g. 3/15 minutes, 10/hour or 100/1 day")
    limit, count, unit = int(match[1]), int(match[2] or 1), match[3].lower()
    if limit < 1 or count < 1:
        raise ValueError("the limit and the window must both be at least 1")
    return Rate(limit, count * _UNITS[unit])


_DURATION = re.compile(r"\s*(\d+)\s*(?:(second|minute|hour|day)s?)?\s*", re.IGNORECASE)


def parse_duration(value: object) -> object:
    """``30 minutes``, ``2 hours``, ``1 day`` or a number of seconds, as seconds."""
    if isinstance(value, int | float):
        return value
    match = _DURATION.fullmatch(str(value))
    if not match or int(match[1]) < 1:
        raise ValueError("write a duration like 30 minutes, 2 hours, 1 day or 90 (seconds)")
    return int(match[1]) * _UNITS[(match[2] or "second").lower()]


def _parse_networks(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in value.split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ValueError(f"{exc}; list addresses or networks, e.g. 10.0.0.1,10.1.0.0/16") from exc


def _parse_names(value: object) -> object:
    if isinstance(value, str):
        names = tuple(part.strip() for part in value.split(",") if part.strip())
        unknown = [name for name in names if name not in NAMESPACES or name == "ratelimit"]
        if unknown:
            movable = ", ".join(name for name in NAMESPACES if name != "ratelimit")
            raise ValueError(f"{', '.join(unknown)}: choose from {movable}")
        return names
    return value


_LABEL = r"[a-z0-9_][a-z0-9_-]{0,62}"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?")


def _parse_host_names(value: object) -> object:
    """``book.example.com, 10.0.0.5, [2001:db8::1]``: host names as a ``Host`` header names them
    (lower case, IPv6 in brackets), without scheme or port."""
    if not isinstance(value, str):
        return value
    names = []
    for part in (part.strip().lower() for part in value.split(",")):
        if not part:
            continue
        bare = part.removeprefix("[").removesuffix("]")
        try:
            address = ipaddress.ip_address(bare)
        except ValueError:
            if not _HOST_NAME.fullmatch(part):
                raise ValueError(
                    f"{part!r} is not a host name; list names or addresses without scheme or "
                    "port, e.g. book.example.com,10.0.0.5"
                ) from None
            names.append(part.rstrip("."))
            continue
        names.append(f"[{address}]" if address.version == 6 else str(address))
    return tuple(names)


def _parse_bind(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        return None if value == "" else value
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("write HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100")
    return f"{host}:{int(port)}"


RateSetting = Annotated[Rate, NoDecode, BeforeValidator(parse_rate)]
HostNames = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_parse_host_names)]
Bind = Annotated[str | None, BeforeValidator(_parse_bind)]
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_parse_names)]
Seconds = Annotated[int, BeforeValidator(parse_duration)]
Outage = Literal["open", "closed"]
Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    NoDecode,
    BeforeValidator(_parse_networks),
]


def _none_when_empty(value: object) -> object:
    # `REDIS_PASSWORD=` in a copied .env.example means "none", not "the empty password".
    return None if value == "" else value


def empty_is_unset(*fields: str) -> Any:
    """A validator for a group's optional ``fields``: an empty variable leaves the field unset.

    Each group assigns it under its own name (pydantic keeps one validator per attribute name).
    """
    wrap: Callable[[Callable[[object], object]], Any] = field_validator(*fields, mode="before")
    return wrap(_none_when_empty)


def display(value: object) -> str:
    """A setting's value written the way its variable takes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    return str(value)


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
