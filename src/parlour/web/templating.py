"""Jinja2 templates, built per app (never at import time) with autoescaping on, and the static
files they link to, served with a cache lifetime that their fingerprints make safe."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from parlour.domain.schedule import WEEKDAYS
from parlour.services.money import currencies_in_use, currency_label, money

if TYPE_CHECKING:
    import os

    from starlette.types import Scope

    from parlour.services.catalogue import Business

STATIC_DIRECTORY = Path(str(files("parlour.web").joinpath("static")))
IMMUTABLE = "public, max-age=31536000, immutable"
"""For a file asked for by its fingerprint: those bytes never change under that address."""
REVALIDATE = "no-cache"
"""For a file asked for without it (or with an old one): check with us before reusing."""


@dataclass(frozen=True, slots=True)
class StaticAssets:
    """The files under ``static/`` and a fingerprint of each, read once per app."""

    directory: Path
    digests: dict[str, str]

    @classmethod
    def scan(cls, directory: Path = STATIC_DIRECTORY) -> StaticAssets:
        return cls(directory, {path.name: _digest(path) for path in directory.iterdir()})

    @property
    def urls(self) -> dict[str, str]:
        """``parlour.css`` -> ``/static/parlour.css?v=<digest>``: a changed file gets a new
        address after a deploy, so browsers may keep each address for good."""
        return {name: f"/static/{name}?v={digest}" for name, digest in self.digests.items()}

    def files(self) -> StaticFiles:
        return FingerprintedFiles(self)

    async def favicon(self, request: Request) -> Response:
        """``/favicon.ico``, which browsers and crawlers ask for whatever a page links to."""
        return FileResponse(
            self.directory / "favicon.ico",
            media_type="image/x-icon",
            headers={"cache-control": "public, max-age=86400"},
        )


class FingerprintedFiles(StaticFiles):
    """``/static``: immutable for a year when ``?v=`` is the file's current fingerprint."""

    def __init__(self, assets: StaticAssets) -> None:
        super().__init__(directory=assets.directory)
        self._digests = assets.digests

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
        current = self._digests.get(Path(full_path).name)
        fresh = current is not None and asked == [current]
        response.headers["cache-control"] = IMMUTABLE if fresh else REVALIDATE
        return response


def build_templates(assets: StaticAssets | None = None) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(files("parlour.web").joinpath("templates")))
    # Computed once: url_for() walks every route per call (Starlette raises and catches a
    # NoMatchFound for each miss), 15% of a page's time.
    templates.env.globals["static"] = (assets or StaticAssets.scan()).urls
    templates.env.filters["duration"] = duration
    templates.env.filters["money"] = price
    templates.env.filters["local"] = local
    templates.env.filters["tel"] = tel
    templates.env.globals["weekdays"] = WEEKDAYS
    templates.env.globals["currency_choices"] = currency_choices
    templates.env.filters["isotime"] = lambda ts: datetime.fromtimestamp(ts, UTC).isoformat()
    templates.env.filters["localtime"] = lambda ts: datetime.fromtimestamp(ts, UTC).strftime(
        "%-d %b %Y, %H:%M UTC"
    )
    return templates


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def price(amount: int, business: Business) -> str:
    """An amount in the business's currency, written as its locale writes money."""
    return money(amount, business.currency, business.locale)


def currency_choices() -> list[tuple[str, str]]:
    return [(code, currency_label(code)) for code in sorted(currencies_in_use())]


def tel(phone: str) -> str:
    """A ``tel:`` address for a number as people write it: ``01225 555 0100`` ->
    ``tel:012255550100`` (RFC 3966 keeps digits and a leading ``+``)."""
    digits = re.sub(r"[^\d+]", "", phone)
    return f"tel:{digits[:1]}{digits[1:].replace('+', '')}"


def local(instant: datetime, zone: ZoneInfo, style: str = "%-d %b %Y, %H:%M") -> str:
    """An instant as the business's wall clock shows it."""
    return instant.astimezone(zone).strftime(style)


def duration(seconds: float) -> str:
    """``42 seconds``, ``3 minutes``, ``2 hours``: rounded up, so nobody comes back too early."""
    whole = max(1, int(-(-seconds // 1)))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if whole >= size:
            count = -(-whole // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{whole} second{'s' if whole != 1 else ''}"


LONG_CACHE = "public, max-age=31536000, immutable"


class CachedStatic(StaticFiles):
    """Static files, kept by browsers for a year: pages link them as ``?v=<content hash>``
    (:class:`StaticAssets`), so a changed file has a new address."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = LONG_CACHE
        return response
