"""Fixtures shared by every test: a clean environment, private redis-server processes, a cheap
password hasher for the apps the tests build, and the markers of the slow lanes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from parlour.config import Settings, load_settings
from parlour.web.app import create_app

from support.redis_server import (
    RedisServer,
    TlsRedisServer,
    find_redis_server,
    self_signed_certificate,
    tls_capable_redis_server,
)
from support.redis_topologies import Cluster, SentinelGroup
from support.smtp_server import SmtpServer

pytest_plugins = ["support.backends"]  # any_backend, shared_backend and the PostgreSQL fixtures

# The long run of the property and state-machine tests: pytest --hypothesis-profile=deep ...
# (the normal run keeps each test's own small budget).
hypothesis_settings.register_profile(
    "deep",
    max_examples=2000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


SLOW: dict[str, tuple[str, ...]] = {
    # state machines over every backend (their deep run is the hypothesis profile "deep")
    "services/test_booking_model.py": (),
    "services/test_client_index_model.py": (),
    "storage/test_contract_model.py": (),
    "services/test_availability_cache.py": ("test_the_booking_model_holds_with_the_day_cache_on",),
    "tenancy/test_two_salons_model.py": (),
    "tenancy/test_two_salons_engine.py": (),
    # several processes, real servers, failover
    "test_failover.py": (),
    "test_race.py": (),
    "tenancy/test_cluster.py": ("test_fifty_",),
    "storage/test_processes.py": (),
    "storage/test_ratelimit_processes.py": (),
    "mail/test_serve_end_to_end.py": (),
    # volume: fuzzing the whole API, twenty thousand items, a day's burst of mail
    "fuzz/test_api_schema.py": (),
    "storage/test_contract.py": ("test_listing_twenty_thousand_items",),
    "services/test_outbox.py": ("test_a_burst_due_in_one_hour_spreads_over_small_shards",),
    # seconds of waiting on purpose (an SMTP server down, silent or late), on every backend
    "mail/test_delivery.py": (
        "test_a_server_down_for_a_while_loses_nothing",
        "test_a_server_that_never_answers_is_bounded_and_retried",
    ),
    "mail/test_late_replies.py": (),
    "mail/test_outage.py": (),
}
"""The ``slow`` lane: the tests of a module under tests/ whose names start with one of the given
prefixes, or all of them when none is given (measured with ``--durations`` under load: each of
these took several seconds, together about a fifth of the rest of the suite). ``fault`` tests
mark themselves; ``browser`` is a folder."""


PROCESSES = frozenset(
    {
        "test_failover.py",
        "test_race.py",
        "storage/test_processes.py",
        "storage/test_ratelimit_processes.py",
        "mail/test_serve_end_to_end.py",
        "mail/test_worker_processes.py",
    }
)
"""Modules whose tests time real processes against each other: with ``--dist loadgroup`` (the
README's whole-suite command) they run one after another on one worker, as do the ``fault``
tests, so that no two of them starve each other of the machine's cores."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the lanes that ``pytest -m "not browser and not fault and not slow"`` leaves out:
    every test under tests/browser drives a real Chromium, and :data:`SLOW`. Groups for
    ``--dist loadgroup``: the fault and process tests together, each browser module apart
    (its Chromium and servers are the module's)."""
    root = Path(__file__).parent
    for item in items:
        where = item.path.relative_to(root)
        if where.parts[0] == "browser":
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group(where.as_posix()))
        prefixes = SLOW.get(where.as_posix())
        if prefixes is not None and (not prefixes or item.name.startswith(prefixes)):
            item.add_marker(pytest.mark.slow)
        if where.as_posix() in PROCESSES or item.get_closest_marker("fault"):
            item.add_marker(pytest.mark.xdist_group("processes"))


@pytest.fixture(scope="session")
def cheap_hasher() -> PasswordHasher:
    """argon2 at its least cost (8 KiB, one pass): about 0.15 s and 64 MiB less per hash and
    per check. Its hashes carry their parameters, so argon2 at any cost verifies them."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _apps_hash_cheaply(cheap_hasher: PasswordHasher) -> Iterator[None]:
    """Every ``create_app(...)`` of a test hashes with :func:`cheap_hasher` unless it passes
    ``password_hasher`` itself: injected as the factory's default, not a setting. The tests of
    hashing (tests/services/test_hashing.py, test_accounts.py's argon2 checks) build their
    services without the factory and keep argon2's real cost; servers in other processes too."""
    defaults = create_app.__kwdefaults__
    assert defaults is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(defaults, "password_hasher", cheap_hasher)
        yield


@pytest.fixture(scope="session", autouse=True)
def _clean_environment() -> Iterator[None]:
    """Tests see only the settings they set, never the developer's shell."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("REDIS_", "PARLOUR_", "DATABASE_")) and not name.startswith(
                "PARLOUR_TEST_"
            ):
                patch.delenv(name)
        # The in-process client addresses the app as http://testserver (httpx, Starlette), a
        # host a real deployment would refuse: allowed here as Django's test runner allows it.
        patch.setenv("PARLOUR_ALLOWED_HOSTS", "testserver")
        yield


@pytest.fixture(scope="session")
def redis_binary() -> str:
    binary = find_redis_server()
    if binary is None:
        message = "redis-server not found: install it or set PARLOUR_TEST_REDIS_SERVER"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: a missing Redis is a failure, not a skip)")
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def redis_server(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    """One redis-server for the whole run; each test that asks for ``redis_url`` gets it empty."""
    server = RedisServer(redis_binary, tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(redis_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three masters splitting the slots, started once for the run."""
    cluster = Cluster(redis_binary, tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster: Cluster) -> str:
    redis_cluster.flushall()
    return redis_cluster.url


@pytest.fixture(scope="session")
def redis_sentinels(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelGroup]:
    """A master, a replica and three sentinels, started once for the run."""
    group = SentinelGroup(redis_binary, tmp_path_factory.mktemp("sentinel")).start()
    yield group
    group.stop()


@pytest.fixture
def sentinel_url(redis_sentinels: SentinelGroup) -> str:
    redis_sentinels.flushall()
    return redis_sentinels.url


@pytest.fixture
def private_redis(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to be killed, frozen or restarted."""
    server = RedisServer(redis_binary, tmp_path / "private-redis").start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Single-instance defaults with the data directory in the test's own folder."""
    return load_settings(env_file=None, data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedisServer]:
    """A TLS-only redis-server with a self-signed certificate (skipped when no redis-server
    here is built with TLS, or there is no openssl command to make the certificate)."""
    binary = tls_capable_redis_server()
    if binary is None:
        pytest.skip("no redis-server built with TLS here")
    made = self_signed_certificate(tmp_path_factory.mktemp("tls-certificate"))
    if made is None:
        pytest.skip("no openssl command to make a test certificate")
    server = TlsRedisServer(binary, tmp_path_factory.mktemp("tls-redis"), *made).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) of this test's own on a free port, recording what it got."""
    server = SmtpServer().start()
    yield server
    server.stop()
