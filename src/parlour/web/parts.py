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
from parlour.runtime import Runtime
from parlour.services.core import Core
from parlour.services.ratelimit import Limiter
from parlour.services.sessions import SessionService
from parlour.storage import SalonStores, Storage
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
    runtime: Runtime
    """The process's composition root: the platform's pages reach the salons through it."""
    stores: SalonStores
    """This salon's stores (a change feed of its own: the staff desk's live view)."""


SALON_PARTS = "parlour.parts"
"""The scope key under which a salon's own parts ride with its request (many salons:
``web/middleware/salons.py`` puts them there before anything else runs)."""


def parts(where: HTTPConnection | Starlette) -> Parts:
    """The parts of the salon this request is for (or of this app: its only salon, or with
    many, the platform's own)."""
    if isinstance(where, Starlette):
        found: Parts = where.state.parts
        return found
    salon: Parts | None = where.scope.get(SALON_PARTS)
    return salon if salon is not None else where.app.state.parts


def core(where: HTTPConnection | Starlette) -> Core:
    return parts(where).core
