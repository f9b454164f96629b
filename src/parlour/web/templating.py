"""Jinja2 templates, built per app (never at import time) with autoescaping on."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.templating import Jinja2Templates

STATIC_DIRECTORY = Path(str(files("parlour.web").joinpath("static")))


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(files("parlour.web").joinpath("templates")))
    templates.env.filters["duration"] = duration
    return templates


def duration(seconds: float) -> str:
    """``42 seconds``, ``3 minutes``, ``2 hours``: rounded up, so nobody comes back too early."""
    whole = max(1, int(-(-seconds // 1)))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if whole >= size:
            count = -(-whole // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{whole} second{'s' if whole != 1 else ''}"
