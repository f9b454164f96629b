"""Real Redis Clusters and Sentinel groups for tests: processes on free ports, built by hand.

A cluster is made the way ``redis-cli --cluster create`` makes one (slots split between the
masters, CLUSTER MEET, CLUSTER REPLICATE), in Python so that no redis-cli is needed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from support.redis_server import RedisServer, free_port

SLOTS = 16384
URL_FIXTURES = {
    "redis": "redis_url",
    "redis-cluster": "cluster_url",
    "redis-sentinel": "sentinel_url",
}
"""Each Redis topology the tests run on, and the fixture that gives an empty one's URL."""
READY_TIMEOUT = 30.0


def redis_params() -> list[object]:
    """``pytest.param`` for each topology, marked ``redis``."""
    return [pytest.param(kind, marks=pytest.mark.redis) for kind in URL_FIXTURES]


def url_for(kind: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(URL_FIXTURES[kind]))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _answers(check: Callable[[], bool]) -> Callable[[], bool]:
    def guarded() -> bool:
        try:
            return check()
        except redis.RedisError:
            return False

    return guarded


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class ClusterNode(RedisServer):
    def __init__(self, binary: str, directory: Path, node_timeout_ms: int) -> None:
        super().__init__(
            binary,
            directory,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(directory / "nodes.conf"),
            "--cluster-node-timeout",
            str(node_timeout_ms),
        )
        self.port = free_cluster_port()

    def node_id(self) -> str:
        with self.client() as client:
            nodes = client.cluster("NODES")  # redis-py parses the reply: address -> fields
        for fields in nodes.values():
            if "myself" in fields["flags"]:
                return str(fields["node_id"])
        raise RuntimeError("CLUSTER NODES named no node as myself")

    def info(self) -> dict[str, str]:
        with self.client() as client:
            return {name: str(value) for name, value in client.cluster("INFO").items()}


class Cluster:
    """``masters`` masters splitting the slots, each with ``replicas`` replicas."""

    def __init__(
        self,
        binary: str,
        directory: Path,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 1000,
    ) -> None:
        self.masters = [
            ClusterNode(binary, directory / f"master-{i}", node_timeout_ms) for i in range(masters)
        ]
        self.replicas = [
            ClusterNode(binary, directory / f"replica-{i}-{j}", node_timeout_ms)
            for i in range(masters)
            for j in range(replicas)
        ]
        self.replicas_per_master = replicas
        self.slots: list[range] = []  # the slots each master was given, in order

    @property
    def nodes(self) -> list[ClusterNode]:
        return self.masters + self.replicas

    @property
    def url(self) -> str:
        seeds = ",".join(f"127.0.0.1:{node.port}" for node in self.masters)
        return f"redis+cluster://{seeds}"

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        share, extra = divmod(SLOTS, len(self.masters))
        first = 0
        for i, master in enumerate(self.masters):
            count = share + (1 if i < extra else 0)
            self.slots.append(range(first, first + count))
            with master.client() as client:
                client.execute_command("CLUSTER ADDSLOTS", *self.slots[-1])
            first += count
        with self.masters[0].client() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        everyone = str(len(self.nodes))
        for node in self.nodes:
            wait_for(
                _answers(lambda node=node: node.info().get("cluster_known_nodes") == everyone),  # type: ignore[misc]
                f"node {node.port} to meet the others",
            )
        for index, replica in enumerate(self.replicas):
            master = self.masters[index // self.replicas_per_master]
            master_id = master.node_id()
            with replica.client() as client:
                client.execute_command("CLUSTER REPLICATE", master_id)
        for node in self.nodes:
            wait_for(
                _answers(lambda node=node: node.info().get("cluster_state") == "ok"),  # type: ignore[misc]
                f"node {node.port} to see the cluster ok",
            )
        for replica in self.replicas:
            wait_for(_answers(replica.replication_up), f"replica {replica.port} to sync")
        return self

    def master_of(self, hash_tag: str) -> ClusterNode:
        """The master first given the slot of keys tagged ``{hash_tag}``."""
        slot = key_slot(hash_tag.encode())
        return next(m for m, slots in zip(self.masters, self.slots, strict=True) if slot in slots)

    def flushall(self) -> None:
        for master in self.masters:
            with master.client() as client:
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelProcess(RedisServer):
    """``redis-server sentinel.conf --sentinel``, watching one master."""

    def __init__(self, binary: str, directory: Path, master: RedisServer, name: str) -> None:
        super().__init__(binary, directory)
        self.master = master
        self.name = name

    def _arguments(self) -> list[str]:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "sentinel.conf"  # Sentinel rewrites its file: one per process
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.directory}\n"
            f"logfile {self.directory / 'redis.log'}\n"
            f"sentinel monitor {self.name} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {self.name} 500\n"
            f"sentinel failover-timeout {self.name} 5000\n"
            f"sentinel parallel-syncs {self.name} 1\n"
        )
        return [str(config), "--sentinel"]


class SentinelGroup:
    """One master, one replica, three sentinels (quorum two), as a small production would run."""

    name = "parlour-master"

    def __init__(self, binary: str, directory: Path) -> None:
        self.master = RedisServer(binary, directory / "first-master")
        self.replica = RedisServer(binary, directory / "first-replica")
        self.sentinels = [
            SentinelProcess(binary, directory / f"sentinel-{i}", self.master, self.name)
            for i in range(3)
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.name}"

    def start(self) -> SentinelGroup:
        self.master.start()
        self.replica.extra = ("--replicaof", "127.0.0.1", str(self.master.port))
        self.replica.start()
        wait_for(_answers(self.replica.replication_up), "the replica to sync")
        for sentinel in self.sentinels:
            sentinel.start()
        for sentinel in self.sentinels:
            wait_for(
                _answers(lambda s=sentinel: self._sees_everyone(s)),  # type: ignore[misc]
                f"sentinel {sentinel.port} to find the replica and the other sentinels",
            )
        return self

    def _sees_everyone(self, sentinel: SentinelProcess) -> bool:
        with sentinel.client() as client:
            others = client.execute_command("SENTINEL SENTINELS", self.name)
            replicas = client.execute_command("SENTINEL REPLICAS", self.name)
        return len(others) == 2 and len(replicas) == 1

    def master_port(self) -> int:
        with self.sentinels[0].client() as client:
            _, port = client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", self.name)
        return int(port)

    def current_master(self) -> RedisServer:
        port = self.master_port()
        return self.master if self.master.port == port else self.replica

    def flushall(self) -> None:
        with self.current_master().client() as client:
            client.flushall()
            client.execute_command("WAIT", 1, 5000)

    def stop(self) -> None:
        for process in [*self.sentinels, self.master, self.replica]:
            process.stop()
