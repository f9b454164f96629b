"""The parts of one web app, taken by ``create_app`` from its runtime and read by every route.

Routes ask for :func:`core` (the use cases) or :func:`parts` (those plus the web's own pieces:
settings, templates, the limiter, metrics). Nothing else lives on ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from parlour.config import Settings
from parlour.links import Links
from parlour.mail.delivery import DeliveryWorker
from parlour.services.core import Core
from parlour.services.ratelimit import Limiter
from parlour.services.sessions import SessionService
from parlour.storage import Storage
from parlour.storage.durability import Durability
from parlour.web.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Parts:
    settings: Settings
    storage: Storage
    secret_key: bytes
    templates: Jinja2Templates
    limiter: Limiter
    metrics: Metrics
    sessions: SessionService
    core: Core
    delivery: DeliveryWorker
    """This process's mail worker (started by the lifespan); /admin/outbox renders with it."""
    links: Links
    """Every absolute link (manage links, calendar files, e-mails): from the settings only."""
    durability: Durability
    """Whether Redis may be served from: not emptied, not evicting (storage/durability.py)."""


def parts(where: HTTPConnection | Starlette) -> Parts:
    """The parts of the app that serves this request (or of this app)."""
    app = where if isinstance(where, Starlette) else where.app
    found: Parts = app.state.parts
    return found


def core(where: HTTPConnection | Starlette) -> Core:
    return parts(where).core
