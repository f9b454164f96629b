"""/metrics for Prometheus, one registry per app (a second app in one process never collides),
and the request middleware that counts, times and names every request.

The only module that imports prometheus_client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from parlour.services.hashing import HashingPool
from parlour.services.ratelimit import Limiter
from parlour.storage import Storage
from parlour.storage.base import Sample

if TYPE_CHECKING:
    from parlour.mail.delivery import DeliveryStats

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _Decisions(Collector):
    """Counters that live on the limiter and the backends, read at scrape time."""

    def __init__(self, limiter: Limiter, storage: Storage) -> None:
        self._limiter = limiter
        self._storage = storage
        self.backend_samples: list[Sample] = []
        """What each backend's :meth:`~parlour.storage.Backend.metrics` said at the last scrape."""

    def collect(self) -> Iterable[Metric]:
        decisions = CounterMetricFamily(
            "parlour_ratelimit_decisions", "Rate-limit decisions", labels=["policy", "outcome"]
        )
        for (policy, outcome), count in sorted(self._limiter.decisions.items()):
            decisions.add_metric([policy, outcome], count)
        yield decisions
        resyncs = sum(backend.changes.resyncs for backend in self._storage.backends.values())
        yield CounterMetricFamily(
            "parlour_pubsub_resyncs", "RESYNC events handed to subscribers (lost events)", resyncs
        )
        yield from _families(self.backend_samples)


def _families(samples: Iterable[Sample]) -> Iterable[Metric]:
    """One family per name; samples with equal labels (two backends of a kind) are summed."""
    grouped: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    first: dict[str, Sample] = {}
    for found in samples:
        first.setdefault(found.name, found)
        values = grouped.setdefault(found.name, {})
        values[found.labels] = values.get(found.labels, 0.0) + found.value
    for name, values in grouped.items():
        label_names = [label for label, _ in next(iter(values))]
        kind = CounterMetricFamily if first[name].counter else GaugeMetricFamily
        family = kind(name, first[name].documentation, labels=label_names)
        for labels, value in values.items():
            family.add_metric([value for _, value in labels], value)
        yield family


class OutboxMetrics(Collector):
    """The outbox as this process's delivery worker last saw it, and what it did."""

    def __init__(self, stats: Callable[[], DeliveryStats], clock: Callable[[], float]) -> None:
        self._stats = stats
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        stats = self._stats()
        yield GaugeMetricFamily(
            "parlour_outbox_due", "Messages due and not yet sent (every instance's)", stats.due
        )
        age = 0.0 if stats.oldest_due is None else max(0.0, self._clock() - stats.oldest_due)
        yield GaugeMetricFamily(
            "parlour_outbox_oldest_due_age_seconds",
            "How long the oldest unsent message has been due",
            age,
        )
        for name, text, value in (
            ("sent", "Messages the SMTP server accepted", stats.sent),
            ("retried", "Attempts that failed and will be tried again", stats.retried),
            ("dead", "Messages given up (a 5xx, or every attempt failed)", stats.dead),
            ("held", "Messages held by the per-recipient mail limit", stats.held),
            ("deferred", "Messages that waited for the global hourly ceiling", stats.deferred),
        ):
            yield CounterMetricFamily(f"parlour_outbox_{name}", text, value)


class HashingMetrics(Collector):
    """The password-hashing pool: how full it is, and how many it turned away."""

    def __init__(self, pool: HashingPool) -> None:
        self._pool = pool

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "parlour_password_hashing_in_flight",
            "Password hashes and checks running or waiting in this process",
            self._pool.in_flight,
        )
        yield CounterMetricFamily(
            "parlour_password_hashing_refused",
            "Password checks refused (503) because the hashing pool and its queue were full",
            self._pool.refused,
        )


class Metrics:
    def __init__(self, storage: Storage, limiter: Limiter) -> None:
        self.registry = CollectorRegistry()
        self._storage = storage
        self.requests = Counter(
            "parlour_http_requests",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "parlour_http_request_seconds",
            "Time to answer, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sessions = Histogram(
            "parlour_session_operation_seconds",
            "Session store operations",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._collected = _Decisions(limiter, storage)
        self.registry.register(self._collected)
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._session_children: dict[str, Any] = {}

    def observe_session(self, operation: str, seconds: float) -> None:
        child = self._session_children.get(operation)
        if child is None:
            child = self._session_children[operation] = self.sessions.labels(operation)
        child.observe(seconds)

    def count_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:  # labels() takes a lock and builds a tuple: once per combination
            children = self._request_children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    async def refresh(self) -> None:
        """Ask every backend for what only it knows; each reports its own outage."""
        samples: list[Sample] = []
        for backend in self._storage.backends.values():
            samples.extend(await backend.metrics())
        self._collected.backend_samples = samples

    async def endpoint(self, request: Request) -> Response:
        await self.refresh()
        return Response(
            generate_latest(self.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
        )
