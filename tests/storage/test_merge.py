"""The storage contract's merge: fields of a JSON object of text values, set or removed inside
``transact`` without an expectation, so independent writers of one index never conflict."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parlour.errors import CorruptValue, InvalidValue
from parlour.storage import ChangeKind, KVStore
from parlour.storage.base import ABSENT, DELETE, canonical

# Text a person or the booking engine might put in an index, hostile to hand-written JSON:
# quotes, backslashes, every control character, non-ASCII letters that sort differently by
# locale than by code point, and characters beyond the BMP.
TEXT = st.text(
    st.characters(exclude_categories=["Cs"]) | st.sampled_from('"\\\x00\x1f\x7fé Zz😀\uffff'),
    max_size=12,
)


async def test_merge_builds_an_object_field_by_field(kv: KVStore) -> None:
    assert await kv.transact({}, merge={"day": {"b1": "10:00", "b2": "11:00"}})
    assert await kv.get_item("day") == {"b1": "10:00", "b2": "11:00"}
    assert await kv.transact({}, merge={"day": {"b1": DELETE, "b3": "12:00"}})
    assert await kv.get_item("day") == {"b2": "11:00", "b3": "12:00"}
    assert await kv.transact({}, merge={"day": {"b2": DELETE, "b3": DELETE, "gone": DELETE}})
    assert await kv.get_item("day") == {}  # emptied, not removed


async def test_merges_into_one_key_never_conflict(kv: KVStore) -> None:
    """Forty bookings of forty different slots: each claims its own unit and adds itself to
    the same day index, at once. Only the claims may decide, so all forty succeed."""

    async def book(n: int) -> bool:
        return await kv.transact(
            {f"u{n}": f"b{n}"}, expect={f"u{n}": ABSENT}, merge={"day": {f"b{n}": f"u{n}"}}
        )

    assert all(await asyncio.gather(*(book(n) for n in range(40))))
    assert await kv.get_item("day") == {f"b{n}": f"u{n}" for n in range(40)}


async def test_a_failed_expectation_merges_nothing(kv: KVStore) -> None:
    await kv.set_item("u1", "someone")
    assert not await kv.transact({"u1": "me"}, expect={"u1": ABSENT}, merge={"day": {"me": "u1"}})
    assert await kv.get_item("day", "nothing") == "nothing"


async def test_a_merged_value_as_read_serves_as_an_expectation(kv: KVStore) -> None:
    await kv.transact({}, merge={"day": {"é": "1", "z": "2", "Z": "3", "😀": "4"}})
    current = await kv.get_item("day")
    assert await kv.transact({"x": 1}, expect={"day": current})


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param([1], id="list"),
        pytest.param({"a": 1}, id="number-field"),
        pytest.param("{", id="text"),
    ],
)
async def test_merging_into_anything_else_refuses_and_changes_nothing(
    kv: KVStore, stored: object
) -> None:
    await kv.set_item("day", stored)
    with pytest.raises(CorruptValue):
        await kv.transact({"u1": "me"}, expect={"u1": ABSENT}, merge={"day": {"b": "x"}})
    assert await kv.get_item("day") == stored
    assert await kv.get_item("u1", "nothing") == "nothing"


@pytest.mark.parametrize("merge_first", [True, False], ids=["merge-listed-first", "merge-last"])
async def test_a_failed_expectation_says_false_before_any_merge_is_tried(
    kv: KVStore, merge_first: bool
) -> None:
    """Expectations are decided first, on every backend and in any order of keys: a step that
    would not apply says False, even when a key it merges into holds no mergeable object."""
    await kv.set_item("day", [1])
    await kv.set_item("u1", "someone")
    merge = {"day": {"b": "x"}}
    expect = {"u1": ABSENT}
    if merge_first:
        assert not await kv.transact({}, merge=merge, expect={"day": [1], **expect})
    else:
        assert not await kv.transact({"u1": "me"}, expect=expect, merge=merge)
    assert await kv.get_item("day") == [1]
    assert await kv.get_item("u1") == "someone"


async def test_a_key_is_either_written_or_merged(kv: KVStore) -> None:
    with pytest.raises(InvalidValue):
        await kv.transact({"day": {}}, merge={"day": {"b": "x"}})
    with pytest.raises(InvalidValue):
        await kv.transact({}, merge={"day": {"b": 5}})  # type: ignore[dict-item]


async def test_a_merged_key_takes_its_ttl(kv: KVStore) -> None:
    await kv.transact({}, merge={"day": {"b": "x"}}, ttl={"day": 60})
    ttl = (await kv.backend.ttls(kv.namespace, ["day"]))["day"]
    assert ttl is not None
    assert 0 < ttl <= 60


async def test_a_merge_is_announced(kv: KVStore) -> None:
    async with kv.subscribe() as events:
        await kv.transact({}, merge={"day": {"b": "x"}})
        event = await events.next(timeout=5)
    assert event is not None
    assert (event.key, event.kind) == ("day", ChangeKind.SET)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.dictionaries(TEXT, st.none() | TEXT, max_size=4), min_size=1, max_size=5))
async def test_every_backend_writes_the_canonical_text(
    kv: KVStore, steps: list[dict[str, str | None]]
) -> None:
    """Byte for byte what Python's json.dumps(sort_keys=True) writes, on every backend (the
    Redis script sorts and escapes by hand), so texts compare equal across stores."""
    await kv.remove_item("day")
    model: dict[str, str] = {}
    for step in steps:
        merge = {field: DELETE if value is None else value for field, value in step.items()}
        assert await kv.transact({}, merge={"day": merge})
        for field, value in step.items():
            if value is None:
                model.pop(field, None)
            else:
                model[field] = value
    raw = await kv.backend.get(kv.namespace, "day")
    assert raw == canonical(model)
    assert json.loads(raw) == model
