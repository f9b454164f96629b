"""The Lua scripts (``lua/*.lua`` next to this module): each write, its index entry and its
change event in one script, so one round trip and atomic.

Redis runs a script by its SHA-1 once it has seen the text; :func:`run_script` sends the SHA
and, on a ``NOSCRIPT`` reply (nothing ran), the text once. Also here: how each script is told
its arguments, and what its refusals mean.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

import redis.exceptions as rx
from redis.asyncio import Redis

from parlour.errors import CorruptValue, InvalidValue, StorageError
from parlour.storage.base import ABSENT, DELETE, Condition, Operation
from parlour.storage.events import ChangeKind
from parlour.storage.redis.durability import evalsha_acknowledged
from parlour.storage.redis.gate import Gate

_SHARED = {"write": ("reclaim",), "prune": ("reclaim",), "transact": ("reclaim", "merge")}
"""The shared Lua each script needs in front of it."""
WRITE_MODES = {
    Condition.ALWAYS: "",
    Condition.IF_ABSENT: "NX",
    Condition.IF_PRESENT: "XX",
    Condition.IF_VALUE: "CAS",
}
"""How write.lua is told a ``set``'s condition."""
_REFUSALS = {"PARLOUR_CORRUPT": CorruptValue, "PARLOUR_TOOBIG": InvalidValue}


def load_script(name: str) -> str:
    """``lua/<name>.lua``, with the shared pieces it uses (``reclaim.lua``, ``merge.lua``)."""
    lua = files("parlour.storage.redis").joinpath("lua")
    parts = [*_SHARED.get(name, ()), name]
    return "\n".join(lua.joinpath(f"{part}.lua").read_text("utf-8") for part in parts)


@functools.cache
def script_sha(name: str) -> str:
    """The SHA-1 by which Redis knows ``load_script(name)``."""
    return hashlib.sha1(load_script(name).encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


async def run_script(
    gate: Gate,
    name: str,
    keys: list[str],
    args: list[str | int],
    *,
    idempotent: bool,
    acknowledged: bool = False,
) -> Any:
    """Run ``lua/<name>.lua`` by SHA through :meth:`Gate.call`, loading it when Redis lacks it;
    ``acknowledged``: once a replica has the write too (one server or Sentinel only).

    A NOSCRIPT reply means nothing ran, so sending the script again applies it once.
    """
    client = gate.client
    sha = script_sha(name)
    evalsha: Callable[[], Awaitable[Any]]
    evalsha = functools.partial(client.evalsha, sha, len(keys), *keys, *args)
    if acknowledged and isinstance(client, Redis):
        wait_ms = max(1, round(gate.timeout * 500))  # well inside the socket timeout
        evalsha = functools.partial(
            evalsha_acknowledged, client, sha, keys, args, wait_ms, gate.where
        )
    try:
        return await gate.call(evalsha, idempotent=idempotent)
    except StorageError as exc:
        if not isinstance(exc.__cause__, rx.NoScriptError):
            raise
    load = functools.partial(client.script_load, load_script(name))
    await gate.call(load, idempotent=True)
    return await gate.call(evalsha, idempotent=idempotent)


def milliseconds(ttl: float) -> int:
    """A TTL as the scripts and PEXPIRE take it: whole milliseconds, at least one."""
    return max(1, math.ceil(ttl * 1000))


def transact_step(operation: Operation) -> tuple[list[str | int], ChangeKind]:
    """What transact.lua is told of one operation (all but its event), and the event's kind."""
    if operation.expect is None:
        expectation, expected = "", ""
    elif operation.expect is ABSENT:
        expectation, expected = "absent", ""
    else:
        expectation, expected = "equal", str(operation.expect)
    if operation.merge is not None:
        fields = [[field, value] for field, value in operation.merge.items()]
        text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        write, kind = "merge", ChangeKind.SET
    elif operation.write is None:
        write, text, kind = "", "", ChangeKind.SET
    elif operation.write is DELETE:
        write, text, kind = "delete", "", ChangeKind.REMOVED
    elif operation.announce is ChangeKind.REMOVED:
        write, text, kind = "removal", str(operation.write), ChangeKind.REMOVED
    else:
        write, text, kind = "set", str(operation.write), ChangeKind.SET
    ttl = 0 if operation.ttl is None else milliseconds(operation.ttl)
    return [operation.key, expectation, expected, write, text, ttl], kind


def refused(exc: StorageError) -> StorageError | None:
    """The refusal transact.lua replied with (``PARLOUR_CORRUPT``, ``PARLOUR_TOOBIG``), if any."""
    reply = str(exc.__cause__) if isinstance(exc.__cause__, rx.ResponseError) else ""
    code, _, message = reply.partition(" ")
    refusal = _REFUSALS.get(code)
    return None if refusal is None else refusal(message, backend="redis")
