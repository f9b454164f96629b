"""Where Redis is: one server, a master watched by Sentinel, or a Cluster, named by one URL.

- ``redis://``, ``rediss://``, ``unix://``: one server.
- ``redis+sentinel://[user:password@]host:port[,host:port...]/master[/db]`` (``rediss+sentinel``
  for TLS to the master): the sentinels are asked where the master is on every new connection,
  so after a failover the next connection reaches the new master with no restart.
- ``redis+cluster://[user:password@]host:port[,host:port...]`` (``rediss+cluster``), or any
  ``redis://`` URL with ``REDIS_CLUSTER=true``: the nodes named are where discovery starts.

The password, user name and TLS options (``?ssl_ca_certs=...``) are read from the URL the way
redis-py reads a one-server URL, so every topology takes the same options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from redis.asyncio import ConnectionPool, Redis, RedisCluster, SSLConnection
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel

Kind = Literal["standalone", "sentinel", "cluster"]
Client = Redis | RedisCluster

SCHEMES: dict[str, Kind] = {
    "redis": "standalone",
    "rediss": "standalone",
    "unix": "standalone",
    "redis+sentinel": "sentinel",
    "rediss+sentinel": "sentinel",
    "redis+cluster": "cluster",
    "rediss+cluster": "cluster",
}


@dataclass(frozen=True)
class Topology:
    kind: Kind
    url: str  # with TLS applied when REDIS_TLS_ENABLED asked for it
    addresses: tuple[tuple[str, int], ...] = ()  # sentinels, or cluster seeds
    master: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # from the URL: password, db, TLS

    @property
    def where(self) -> str:
        """Host and port (or socket path) for messages, with no credentials."""
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            return parts.path
        hosts = parts.netloc.rpartition("@")[2]
        return f"{hosts} (master {self.master!r})" if self.kind == "sentinel" else hosts


def parse(url: str, *, tls: bool = False, cluster: bool = False) -> Topology:
    """The topology a URL names; ``tls`` and ``cluster`` are REDIS_TLS_ENABLED and REDIS_CLUSTER."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if tls and not scheme.startswith(("rediss", "unix")):
        scheme = "rediss" + scheme.removeprefix("redis")
    kind = SCHEMES.get(scheme)
    if kind is None:
        raise ValueError(f"the scheme {parts.scheme or '(none)'!r} is not one Parlour speaks")
    if kind == "standalone" and cluster:
        kind = "cluster"
        scheme += "+cluster"
    # Only the scheme changes: urlunsplit would write unix:///path (no host) as unix:/path,
    # which redis-py refuses.
    url = scheme + url[len(parts.scheme) :] if parts.scheme else url
    if kind == "standalone":
        return Topology(kind, url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    addresses = tuple(_address(host) for host in hosts.split(","))
    path = [segment for segment in parts.path.split("/") if segment]
    master = ""
    if kind == "sentinel":
        if not path:
            raise ValueError(
                "name the master after the sentinels: redis+sentinel://host:26379/mymaster"
            )
        master = path.pop(0)
    if kind == "cluster" and path not in ([], ["0"]):
        raise ValueError("Redis Cluster has only database 0: leave the path off the URL")
    # One server's URL with the same credentials and query, for redis-py to read the options.
    base = "rediss" if scheme.startswith("rediss") else "redis"
    credentials = f"{userinfo}@" if userinfo else ""
    one = f"{base}://{credentials}{hosts.split(',')[0]}/{path[0] if path else 0}"
    if parts.query:
        one += f"?{parts.query}"
    return Topology(kind, url, addresses, master, dict(parse_url(one)))


def _address(host: str) -> tuple[str, int]:
    name, _, port = host.rpartition(":")
    if not name or not port.isdigit():
        raise ValueError(f"write each node as host:port, not {host!r}")
    return name.strip("[]"), int(port)


@dataclass
class Connection:
    """A client, and for Sentinel the clients that ask the sentinels, all closed together."""

    client: Client
    sentinels: list[Redis] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.client.aclose()
        for sentinel in self.sentinels:
            await sentinel.aclose()


def connect(topology: Topology, **options: Any) -> Connection:
    """A client for ``topology``; ``options`` (timeouts, pool size, password) win over the URL's."""
    if topology.kind == "standalone":
        return Connection(Redis.from_pool(ConnectionPool.from_url(topology.url, **options)))
    merged = {**topology.options, **options}
    for ignored in ("host", "port"):  # the addresses come from the topology
        merged.pop(ignored, None)
    ssl = merged.pop("connection_class", None) is SSLConnection
    if topology.kind == "sentinel":
        if ssl:
            merged["ssl"] = True
        shared = ("socket_timeout", "socket_connect_timeout", "retry", "ssl")
        talk_to_sentinels = {  # TLS to the sentinels too, but the password is the master's
            key: value for key, value in merged.items() if key in shared or key.startswith("ssl_")
        }
        sentinel = Sentinel(list(topology.addresses), sentinel_kwargs=talk_to_sentinels)  # type: ignore[no-untyped-call,unused-ignore]
        master: Redis = sentinel.master_for(topology.master, **merged)
        return Connection(master, list(sentinel.sentinels))
    merged.pop("db", None)
    return Connection(
        RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in topology.addresses],
            ssl=ssl,
            **merged,
        )
    )
