"""Jinja2 templates, built per app (never at import time) with autoescaping on."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.templating import Jinja2Templates

from parlour.domain.schedule import WEEKDAYS
from parlour.services.catalogue import money

STATIC_DIRECTORY = Path(str(files("parlour.web").joinpath("static")))


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(files("parlour.web").joinpath("templates")))
    # Computed once: url_for() walks every route per call (Starlette raises and catches a
    # NoMatchFound for each miss), 15% of a page's time. The hash makes browsers fetch a
    # changed stylesheet after a deploy and cache it for good otherwise.
    templates.env.globals["static"] = {
        path.name: f"/static/{path.name}?v={_digest(path)}" for path in STATIC_DIRECTORY.iterdir()
    }
    templates.env.filters["duration"] = duration
    templates.env.filters["money"] = money
    templates.env.filters["local"] = local
    templates.env.globals["weekdays"] = WEEKDAYS
    templates.env.filters["isotime"] = lambda ts: datetime.fromtimestamp(ts, UTC).isoformat()
    templates.env.filters["localtime"] = lambda ts: datetime.fromtimestamp(ts, UTC).strftime(
        "%-d %b %Y, %H:%M UTC"
    )
    return templates


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


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
