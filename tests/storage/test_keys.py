"""Redis key layout: no key reaches another namespace, and a namespace stays in one Cluster slot."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from parlour.storage.redis import RedisBackend

namespaces = st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True)
keys = st.text(st.characters(codec="utf-8"), max_size=40)  # what check_key accepts
layout = RedisBackend("redis://127.0.0.1:6379/0")


@given(namespaces, keys)
def test_an_item_shares_its_namespace_index_slot(namespace: str, key: str) -> None:
    item = layout.item_key(namespace, key).encode()
    assert key_slot(item) == key_slot(layout.index_key(namespace).encode())


@given(namespaces, keys, namespaces, keys)
def test_distinct_items_never_share_a_redis_key(ns1: str, k1: str, ns2: str, k2: str) -> None:
    if (ns1, k1) != (ns2, k2):
        assert layout.item_key(ns1, k1) != layout.item_key(ns2, k2)
    assert layout.item_key(ns1, k1) != layout.index_key(ns2)
