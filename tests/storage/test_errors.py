"""Every native exception is translated at the storage boundary (and the mapping is total)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg.exceptions as px
import pytest
import redis.exceptions as rx

from parlour.errors import StorageError, StorageUnavailable
from parlour.storage.postgres_pool import translate_postgres_error
from parlour.storage.redis import translate_redis_error
from parlour.storage.sqlite import translate_sqlite_error


def subclasses(root: type[BaseException]) -> list[type[BaseException]]:
    found, queue = [root], [root]
    while queue:
        for child in queue.pop().__subclasses__():
            if child not in found and child.__module__.startswith(("redis", "sqlite3", "asyncpg")):
                found.append(child)
                queue.append(child)
    return found


REDIS_ERRORS = subclasses(rx.RedisError)
SQLITE_ERRORS = subclasses(sqlite3.Error) + subclasses(sqlite3.Warning)
POSTGRES_ERRORS = (
    subclasses(px.PostgresError)
    + subclasses(px.InterfaceError)
    + subclasses(px.InternalClientError)
)


def test_the_walk_finds_the_classes_that_matter() -> None:
    for expected in (
        rx.ConnectionError,
        rx.TimeoutError,
        rx.AuthenticationError,
        rx.ReadOnlyError,
        rx.ClusterDownError,
        rx.MovedError,
        rx.NoScriptError,
        rx.ResponseError,
    ):
        assert expected in REDIS_ERRORS
    assert sqlite3.OperationalError in SQLITE_ERRORS
    assert sqlite3.IntegrityError in SQLITE_ERRORS


@pytest.mark.parametrize("error", REDIS_ERRORS, ids=lambda error: error.__name__)
def test_every_redis_error_becomes_a_storage_error(error: type[rx.RedisError]) -> None:
    translated = translate_redis_error(error("1 127.0.0.1:6380"), "127.0.0.1:6379")
    assert isinstance(translated, StorageError)
    assert "127.0.0.1:6379" in str(translated)
    assert translated.backend == "redis"
    if issubclass(error, rx.ConnectionError | rx.TimeoutError | rx.ReadOnlyError):
        assert isinstance(translated, StorageUnavailable)


@pytest.mark.parametrize("error", SQLITE_ERRORS, ids=lambda error: error.__name__)
def test_every_sqlite_error_becomes_a_storage_error(error: type[sqlite3.Error]) -> None:
    translated = translate_sqlite_error(error("disk I/O error"), Path("/data/parlour.db"))
    assert isinstance(translated, StorageError)
    assert "/data/parlour.db" in str(translated)
    if issubclass(error, sqlite3.OperationalError):
        assert isinstance(translated, StorageUnavailable)


def test_file_system_errors_are_translated_too() -> None:
    translated = translate_sqlite_error(PermissionError("denied"), Path("/data/parlour.db"))
    assert isinstance(translated, StorageUnavailable)


def test_the_walk_finds_the_postgres_classes_that_matter() -> None:
    for expected in (
        px.SerializationError,
        px.DeadlockDetectedError,
        px.ConnectionDoesNotExistError,
        px.InvalidPasswordError,
        px.AdminShutdownError,
        px.CannotConnectNowError,
        px.QueryCanceledError,
        px.UniqueViolationError,
        px.InterfaceError,
    ):
        assert expected in POSTGRES_ERRORS
    assert len(POSTGRES_ERRORS) > 200


UNAVAILABLE_POSTGRES = (
    px.PostgresConnectionError,
    px.InterfaceError,
    px.OperatorInterventionError,
    px.InsufficientResourcesError,
    px.TransactionRollbackError,
    px.InvalidAuthorizationSpecificationError,
)


@pytest.mark.parametrize("error", POSTGRES_ERRORS, ids=lambda error: error.__name__)
def test_every_postgres_error_becomes_a_storage_error(error: type[Exception]) -> None:
    translated = translate_postgres_error(error("boom"), "db.example:5432/parlour")
    assert isinstance(translated, StorageError)
    assert "db.example:5432/parlour" in str(translated)
    assert translated.backend == "postgres"
    if issubclass(error, UNAVAILABLE_POSTGRES):
        assert isinstance(translated, StorageUnavailable)


@pytest.mark.parametrize("error", [OSError, ConnectionRefusedError, TimeoutError])
def test_socket_errors_and_timeouts_on_postgres_are_unavailable(error: type[Exception]) -> None:
    assert isinstance(translate_postgres_error(error("x"), "db:5432/p"), StorageUnavailable)
