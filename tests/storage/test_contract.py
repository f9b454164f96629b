"""The storage contract: every backend passes every test here."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from parlour.errors import InvalidKey, InvalidValue
from parlour.storage import Backend, ChangeKind, KVStore
from parlour.storage.base import ABSENT, DELETE, MAX_KEY_BYTES, MAX_VALUE_BYTES, Operation
from parlour.storage.dual import DualBackend

from support.waiting import eventually

MISSING = object()

VALUES = [
    pytest.param(None, id="null"),
    pytest.param(True, id="true"),
    pytest.param(0, id="zero"),
    pytest.param(-(2**53), id="big-int"),
    pytest.param(1.5, id="float"),
    pytest.param("", id="empty-text"),
    pytest.param("Zoë 👋 中文 \x00 end", id="unicode-and-nul"),
    pytest.param([], id="empty-list"),
    pytest.param({"a": [1, {"b": None}], "ü": "ß"}, id="nested"),
]

HOSTILE_KEYS = [
    pytest.param("a:b", id="colon"),
    pytest.param("*", id="glob-star"),
    pytest.param("?[a-z]\\", id="glob-class"),
    pytest.param("{x}", id="hash-tag"),
    pytest.param("}{", id="braces"),
    pytest.param("", id="empty"),
    pytest.param(" ", id="space"),
    pytest.param("v:beta", id="looks-internal"),
    pytest.param("../../etc/passwd", id="path"),
    pytest.param("\x00\n\r\t", id="control"),
    pytest.param("Zoë 👋 中文", id="unicode"),
    pytest.param("k" * MAX_KEY_BYTES, id="longest"),
]


async def test_missing_key_gives_the_default(kv: KVStore) -> None:
    assert await kv.get_item("nope") is None
    assert await kv.get_item("nope", MISSING) is MISSING


@pytest.mark.parametrize("value", VALUES)
async def test_values_round_trip(kv: KVStore, value: Any) -> None:
    await kv.set_item("k", value)
    assert await kv.get_item("k", MISSING) == value


async def test_stored_null_is_not_missing(kv: KVStore) -> None:
    await kv.set_item("k", None)
    assert await kv.get_item("k", MISSING) is None
    assert await kv.get_all_items() == {"k": None}


async def test_returned_values_are_copies(kv: KVStore) -> None:
    value = {"list": [1]}
    await kv.set_item("k", value)
    value["list"].append(2)
    fetched = await kv.get_item("k")
    assert fetched is not None
    fetched["list"].append(3)
    assert await kv.get_item("k") == {"list": [1]}


async def test_overwrite_and_remove(kv: KVStore) -> None:
    await kv.set_item("k", 1)
    await kv.set_item("k", 2)
    assert await kv.get_item("k") == 2
    assert await kv.remove_item("k") is True
    assert await kv.remove_item("k") is False
    assert await kv.get_item("k", MISSING) is MISSING


async def test_large_value(kv: KVStore) -> None:
    value = {"blob": "x" * (MAX_VALUE_BYTES - 20)}
    await kv.set_item("big", value)
    assert await kv.get_item("big") == value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param({1, 2}, id="set"),
        pytest.param(object(), id="object"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param("x" * MAX_VALUE_BYTES, id="too-large"),
    ],
)
async def test_values_that_are_not_json_are_refused_and_nothing_is_stored(
    kv: KVStore, value: Any
) -> None:
    with pytest.raises(InvalidValue):
        await kv.set_item("k", value)
    assert await kv.get_item("k", MISSING) is MISSING


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("\udcff", id="lone-surrogate"),
        pytest.param("k" * (MAX_KEY_BYTES + 1), id="too-long"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(7, id="int"),
    ],
)
async def test_bad_keys_are_refused(kv: KVStore, key: Any) -> None:
    with pytest.raises(InvalidKey):
        await kv.set_item(key, 1)
    with pytest.raises(InvalidKey):
        await kv.get_item(key)


@pytest.mark.parametrize("namespace", ["", "Sessions", "a:b", "{x}", "a" * 33, "1st", "ümlaut"])
def test_bad_namespaces_are_refused(backend: Backend, namespace: str) -> None:
    with pytest.raises(InvalidKey):
        KVStore(backend, namespace)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), True, "10"])
async def test_bad_ttls_are_refused(kv: KVStore, ttl: Any) -> None:
    with pytest.raises(InvalidValue):
        await kv.set_item("k", 1, ttl=ttl)
    assert await kv.get_item("k", MISSING) is MISSING


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_hostile_keys_stay_in_their_namespace(backend: Backend, key: str) -> None:
    alpha, beta = KVStore(backend, "alpha"), KVStore(backend, "beta")
    await beta.set_item("v:beta", "beta's own")
    await alpha.set_item(key, "alpha's")
    assert await alpha.get_item(key) == "alpha's"
    assert await alpha.get_all_items() == {key: "alpha's"}
    assert await beta.get_all_items() == {"v:beta": "beta's own"}
    assert await beta.get_item(key, MISSING) in (MISSING, "beta's own")
    assert await alpha.remove_item(key) is True
    assert await beta.get_item("v:beta") == "beta's own"


async def test_items_expire(kv: KVStore) -> None:
    await kv.set_item("brief", 1, ttl=0.2)
    await kv.set_item("lasting", 2, ttl=60)
    await kv.set_item("forever", 3)

    async def brief_is_gone() -> bool:
        return await kv.get_item("brief", MISSING) is MISSING

    await eventually(brief_is_gone, what="the item with a 0.2 s TTL expiring")
    assert await kv.get_all_items() == {"lasting": 2, "forever": 3}
    assert await kv.touch("brief", 10) is False
    assert await kv.remove_item("brief") is False


async def test_writing_without_ttl_clears_the_old_ttl(kv: KVStore) -> None:
    await kv.set_item("k", 1, ttl=0.2)
    await kv.set_item("k", 2)
    await kv.set_item("probe", 0, ttl=0.2)

    async def probe_is_gone() -> bool:
        return await kv.get_item("probe", MISSING) is MISSING

    await eventually(probe_is_gone, what="the probe expiring")
    assert await kv.get_item("k") == 2


async def test_touch_slides_the_expiry(kv: KVStore) -> None:
    assert await kv.touch("nope", 10) is False
    await kv.set_item("k", 1, ttl=0.2)
    assert await kv.touch("k", 60) is True
    await kv.set_item("probe", 0, ttl=0.2)

    async def probe_is_gone() -> bool:
        return await kv.get_item("probe", MISSING) is MISSING

    await eventually(probe_is_gone, what="the probe expiring")
    assert await kv.get_item("k") == 1


async def test_get_and_touch_reads_and_slides(kv: KVStore) -> None:
    assert await kv.get_and_touch("nope", 10, MISSING) is MISSING
    await kv.set_item("k", {"user": "u1"}, ttl=0.2)
    assert await kv.get_and_touch("k", 60) == {"user": "u1"}
    await kv.set_item("probe", 0, ttl=0.2)

    async def probe_is_gone() -> bool:
        return await kv.get_item("probe", MISSING) is MISSING

    await eventually(probe_is_gone, what="the probe expiring")
    assert await kv.get_item("k") == {"user": "u1"}


async def test_set_if_absent(kv: KVStore) -> None:
    assert await kv.set_if_absent("k", "first") is True
    assert await kv.set_if_absent("k", "second") is False
    assert await kv.get_item("k") == "first"
    await kv.remove_item("k")
    assert await kv.set_if_absent("k", "third", ttl=0.2) is True

    async def claimable_again() -> bool:
        return await kv.set_if_absent("k", "fourth")

    await eventually(claimable_again, what="an expired item being claimable again")
    assert await kv.get_item("k") == "fourth"


async def test_replace_item_never_resurrects(kv: KVStore) -> None:
    assert await kv.replace_item("k", "stale copy") is False
    assert await kv.get_item("k", MISSING) is MISSING
    await kv.set_item("k", "v1")
    assert await kv.replace_item("k", "v2", ttl=60) is True
    assert await kv.get_item("k") == "v2"


async def test_concurrent_set_if_absent_in_one_process_has_one_winner(kv: KVStore) -> None:
    results = await asyncio.gather(*(kv.set_if_absent("slot", n) for n in range(50)))
    assert results.count(True) == 1
    assert await kv.get_item("slot") == results.index(True)


async def test_listing_twenty_thousand_items(kv: KVStore) -> None:
    expected = {f"item-{n:05}": {"n": n} for n in range(20_000)}
    keys = list(expected)
    for start in range(0, len(keys), 500):  # the listing is tested here, not a burst of writes
        assert await kv.transact({key: expected[key] for key in keys[start : start + 500]})
    assert await kv.get_all_items() == expected
    listed = [key async for key, _ in kv.items(batch_size=333)]
    assert sorted(listed) == sorted(expected)


async def test_subscribers_hear_every_write_of_their_namespace(backend: Backend) -> None:
    alpha, beta = KVStore(backend, "alpha"), KVStore(backend, "beta")
    async with alpha.subscribe() as events:
        await beta.set_item("elsewhere", 1)
        await alpha.set_item("k", 1)
        await alpha.set_if_absent("k", 2)  # no write, no event
        await alpha.touch("k", 60)  # a new TTL is not a new value
        await alpha.replace_item("k", 3)
        await alpha.remove_item("k")
        await alpha.remove_item("k")  # nothing removed, no event
        await alpha.set_item("last", 1)
        seen: list[tuple[str, str, ChangeKind]] = []
        while len(seen) < 4:
            event = await events.next(timeout=5)
            assert event is not None, f"only {seen} arrived"
            seen.append((event.namespace, event.key, event.kind))
    assert seen == [
        ("alpha", "k", ChangeKind.SET),
        ("alpha", "k", ChangeKind.SET),
        ("alpha", "k", ChangeKind.REMOVED),
        ("alpha", "last", ChangeKind.SET),
    ]


async def test_a_subscriber_that_names_prefixes_hears_only_those_keys_and_every_resync(
    backend: Backend,
) -> None:
    alpha = KVStore(backend, "alpha")
    async with alpha.subscribe(("d:", "b:")) as some, alpha.subscribe() as every:
        await alpha.transact(
            {"u:1": "b_1", "b:b_1": {}, "t:x": "b_1"}, merge={"d:day": {"b_1": ""}}
        )
        await alpha.set_item("q:shard", 1)
        await alpha.set_item("d:other", 1)
        seen = [await some.next(timeout=5) for _ in range(3)]
        assert [(e.key, e.kind) for e in seen if e is not None] == [
            ("b:b_1", ChangeKind.SET),
            ("d:day", ChangeKind.SET),
            ("d:other", ChangeKind.SET),
        ]
        everything = [await every.next(timeout=5) for _ in range(6)]
        assert {e.key for e in everything if e is not None} == {
            "u:1", "b:b_1", "t:x", "d:day", "q:shard", "d:other"
        }  # fmt: skip
        backend.changes.resync_all()  # events may have been lost: a RESYNC reaches everyone
        resync = await some.next(timeout=5)
        assert resync is not None
        assert resync.kind is ChangeKind.RESYNC


async def test_iterating_a_subscription_outside_its_context_is_an_error(kv: KVStore) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await anext(aiter(kv.subscribe()))


async def test_update_applies_a_change_atomically(kv: KVStore) -> None:
    assert await kv.update("doc", lambda value: {"n": 1} if value is None else value) == {"n": 1}

    def bump(value: Any) -> Any:
        return {"n": value["n"] + 1}

    results = await asyncio.gather(*(kv.update("doc", bump, ttl=60) for _ in range(20)))
    assert await kv.get_item("doc") == {"n": 21}
    assert sorted(result["n"] for result in results) == list(range(2, 22))


async def test_update_of_a_missing_item_starts_from_none(kv: KVStore) -> None:
    seen = []

    def record(value: Any) -> Any:
        seen.append(value)
        return ["created"]

    assert await kv.update("fresh", record) == ["created"]
    assert seen == [None]


async def test_get_many_returns_the_keys_that_exist(kv: KVStore) -> None:
    await kv.set_item("a", 1)
    await kv.set_item("b", None)
    keys = ["a", "b", "c", *(f"x{n}" for n in range(1500))]
    assert await kv.get_many(keys) == {"a": 1, "b": None}
    assert await kv.get_many([]) == {}


async def test_transact_writes_all_or_nothing(kv: KVStore) -> None:
    await kv.set_item("taken", "someone")
    claimed = await kv.transact(
        {"u1": "me", "u2": "me", "taken": "me", "record": {"n": 1}},
        expect={"u1": ABSENT, "u2": ABSENT, "taken": ABSENT},
    )
    assert claimed is False
    assert await kv.get_many(["u1", "u2", "record"]) == {}
    assert await kv.get_item("taken") == "someone"
    assert await kv.transact(
        {"u1": "me", "u2": "me", "record": {"n": 1}},
        expect={"u1": ABSENT, "u2": ABSENT},
        ttl={"u1": 60},
    )
    assert await kv.get_many(["u1", "u2", "record"]) == {"u1": "me", "u2": "me", "record": {"n": 1}}


async def test_transact_compares_values_and_deletes(kv: KVStore) -> None:
    await kv.set_item("record", {"status": "confirmed", "units": ["u1"]})
    await kv.set_item("u1", "me")
    stale = {"status": "pending"}
    assert not await kv.transact({"u1": DELETE}, expect={"record": stale})
    current = await kv.get_item("record")
    assert current is not None
    moved = await kv.transact(
        {"u1": DELETE, "u2": "me", "record": {**current, "units": ["u2"]}},
        expect={"record": current, "u1": "me", "u2": ABSENT},
    )
    assert moved is True
    assert await kv.get_many(["u1", "u2"]) == {"u2": "me"}
    record = await kv.get_item("record")
    assert record is not None
    assert record["units"] == ["u2"]


async def test_concurrent_transacts_on_shared_keys_have_one_winner(kv: KVStore) -> None:
    async def claim(n: int) -> bool:
        units = [f"unit{u}" for u in range(n % 3, n % 3 + 4)]  # overlapping ranges
        return await kv.transact(
            {**dict.fromkeys(units, n), f"booking{n}": {"units": units}},
            expect=dict.fromkeys(units, ABSENT),
        )

    results = await asyncio.gather(*(claim(n) for n in range(30)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await kv.get_item(f"booking{winner}") is not None


async def test_transact_events_reach_subscribers(kv: KVStore) -> None:
    async with kv.subscribe() as events:
        await kv.set_item("old", 1)
        await kv.transact({"new": 2, "old": DELETE})
        seen: set[tuple[str, ChangeKind]] = set()
        while len(seen) < 3:
            event = await events.next(timeout=5)
            assert event is not None
            seen.add((event.key, event.kind))
    assert seen == {("old", ChangeKind.SET), ("new", ChangeKind.SET), ("old", ChangeKind.REMOVED)}


async def test_a_write_that_stands_for_a_removal_is_announced_as_one(backend: Backend) -> None:
    """``Operation.announce``: how dual-write's tombstones are heard. Like a delete, it is
    announced only when it replaced something other than itself."""
    kv = KVStore(backend, "alpha")
    if isinstance(backend, DualBackend):
        backend = backend.new  # the dual backend uses this itself, on its new backend
    stone = Operation("k", write="tomb", announce=ChangeKind.REMOVED)
    async with kv.subscribe() as events:
        await kv.set_item("k", 1)
        assert await backend.transact("alpha", [stone])  # replaces 1: heard as a removal
        assert await backend.transact("alpha", [stone])  # over itself: nothing removed
        assert await backend.transact("alpha", [replace(stone, key="never")])  # nothing there
        await kv.set_item("last", 1)
        seen: list[tuple[str, ChangeKind]] = []
        while len(seen) < 3:
            event = await events.next(timeout=5)
            assert event is not None, f"only {seen} arrived"
            seen.append((event.key, event.kind))
    assert seen == [("k", ChangeKind.SET), ("k", ChangeKind.REMOVED), ("last", ChangeKind.SET)]
    assert await backend.get("alpha", "k") == "tomb"
