"""Private PostgreSQL clusters for tests: ``initdb`` + ``pg_ctl`` on a free port, never a fake.

The binaries come from ``PARLOUR_TEST_POSTGRES_BIN`` or Debian's ``/usr/lib/postgresql/*/bin``.
``initdb`` refuses to run as root, so when the tests run as root (CI does) the cluster is made
and run by an unprivileged user (``postgres`` or ``nobody``) through ``runuser``, in a directory
outside pytest's root-only temporary folder, chowned to that user.

Statements go through asyncpg on a thread of their own (no ``psql`` process per database), and
a test's database is a copy of a template that holds Parlour's schema, migrated once per cluster
(``CREATE DATABASE ... TEMPLATE``), unless the test is about an empty database.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

import asyncpg

from parlour.storage.postgres_pool import Database

from support.redis_server import free_port

T = TypeVar("T")

STARTUP_TIMEOUT = 30.0
TEMPLATE = "parlour_template"
"""The database every migrated test database is copied from."""
USER = "parlour"
PASSWORD = "test-secret-pw"  # a password, so that tests can prove it is masked everywhere


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``."""
    configured = os.environ.get("PARLOUR_TEST_POSTGRES_BIN")
    if configured:
        return Path(configured)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if versions:
        return Path(versions[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _unprivileged_user() -> str | None:
    """Whom to run the server as: ``None`` (ourselves) unless we are root."""
    if os.getuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root with neither a postgres nor a nobody user for initdb")


class PostgresServer:
    """One PostgreSQL cluster in its own directory, listening on 127.0.0.1 only."""

    def __init__(self, bin_dir: Path, *, settings: dict[str, str] | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.user = _unprivileged_user()
        self.directory = Path(tempfile.mkdtemp(prefix="parlour-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            "max_connections": "300",
            "shared_buffers": "32MB",
            "fsync": "on",  # restarts under load must prove no acknowledged write is lost
            "log_min_messages": "warning",
            **(settings or {}),
        }
        self._databases = itertools.count()
        self._template: str | None = None

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / command[0]), *command[1:]]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def start(self) -> Self:
        if self.user is not None:
            shutil.chown(self.directory, self.user)
        password_file = self.directory / "password"
        password_file.write_text(PASSWORD)
        if self.user is not None:
            shutil.chown(password_file, self.user)
        self._run(
            "initdb",
            "-D", str(self.data),
            "-U", USER,
            "--pwfile", str(password_file),
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in self.settings.items())
            conf.write(f"port = {self.port}\n")
        self._pg_ctl("start")
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        result = self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", str(int(STARTUP_TIMEOUT)), *extra, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl {action} failed: {result.stdout}{result.stderr}\n{tail}")

    def restart_immediate(self) -> None:
        """``pg_ctl restart -m immediate``: no checkpoint, crash recovery on the way up."""
        self._pg_ctl("restart", "-m", "immediate")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-m", mode)

    def start_again(self) -> None:
        self._pg_ctl("start")

    def destroy(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.thaw()
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def processes(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        root = self.pid()
        found = [root]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                        found.append(int(entry.name))
        return found

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: a hung server, its sockets still open."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement (synchronously, so fixtures inside an event loop can use it too);
        its rows, one a line, columns joined by ``|``."""

        async def run() -> str:
            try:
                connection = await asyncpg.connect(self.url(database), timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                raise RuntimeError(f"cannot connect to run {statement!r}: {exc}") from exc
            try:
                rows = await connection.fetch(statement, timeout=60)
            except asyncpg.PostgresError as exc:
                raise RuntimeError(f"{statement!r} failed: {exc}") from exc
            finally:
                await connection.close()
            return "\n".join("|".join(str(value) for value in row.values()) for row in rows)

        return _on_a_thread(run())

    def migrated_template(self) -> str:
        """The template database with Parlour's schema, made on first use: migrated by
        Parlour's own ``Database.upgrade`` (what ``parlour db upgrade`` runs), then closed to
        connections, since a template being copied must have none."""
        if self._template is None:
            self.sql(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE template0')

            async def upgrade() -> None:
                database = Database(self.url(TEMPLATE), timeout=5.0, pool_size=1)
                await database.open()
                try:
                    await database.upgrade()
                finally:
                    await database.close()

            _on_a_thread(upgrade())
            self.sql(f'ALTER DATABASE "{TEMPLATE}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
            self._template = TEMPLATE
        return self._template

    def fresh_database(self, *, migrated: bool = False) -> str:
        """A new database's URL, each test its own: empty, or ``migrated`` (a copy of
        :meth:`migrated_template`, as if Parlour had already been run against it)."""
        template = self.migrated_template() if migrated else "template0"
        name = f"t{os.getpid()}_{next(self._databases)}"
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def wait_until_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sql("SELECT 1")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _on_a_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to the end in an event loop of its own on another thread: callers may be
    inside a running loop (an async fixture) or outside any."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()
