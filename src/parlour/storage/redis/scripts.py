"""The Lua scripts (``lua/*.lua`` next to this module): each write, its index entry and its
change event in one script, so one round trip and atomic.

Redis runs a script by its SHA-1 once it has seen the text; :meth:`RedisBackend.eval_script`
sends the SHA and, on a ``NOSCRIPT`` reply (nothing ran), the text once.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.resources import files

_SHARED = {"write": ("reclaim",), "prune": ("reclaim",), "transact": ("reclaim", "merge")}
"""The shared Lua each script needs in front of it."""


def load_script(name: str) -> str:
    """``lua/<name>.lua``, with the shared pieces it uses (``reclaim.lua``, ``merge.lua``)."""
    lua = files("parlour.storage.redis").joinpath("lua")
    parts = [*_SHARED.get(name, ()), name]
    return "\n".join(lua.joinpath(f"{part}.lua").read_text("utf-8") for part in parts)


@functools.cache
def script_sha(name: str) -> str:
    """The SHA-1 by which Redis knows ``load_script(name)``."""
    return hashlib.sha1(load_script(name).encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
