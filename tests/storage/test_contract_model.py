"""The storage contract, model-checked: random sequences of every operation against a plain dict.

One namespace, four keys, so operations collide. After every step, every key's value and
liveness must match the model, and subscribers must have heard exactly the events the contract
promises (SET for each write or merge, REMOVED for each delete that removed something, none for
a touch or a write that did not happen), in order.

Expiry runs on a controllable clock where the backend takes one (memory, SQLite, and dual-write
built from those two), with TTLs of whole seconds and the clock moved in whole seconds, so "expired
at exactly now" is decided the same way by model and backend. On Redis (one server, Sentinel,
Cluster, and dual-write onto Redis) time is the server's own: TTLs there are long enough never to
expire during a run, and are checked as upper bounds; expiry itself is left to the clocked
backends and to the example tests of the contract.

Budget: a few examples per backend in the normal run; ``pytest --hypothesis-profile=deep
tests/storage/test_contract_model.py`` runs the long profile registered in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from parlour.errors import CorruptValue
from parlour.storage import Backend, ChangeKind, KVStore, Subscription
from parlour.storage.base import ABSENT, DELETE, canonical, decode, encode

from support.backends import make_backend, params

T = TypeVar("T")
KEYS = ["a", "b", "{d}:*", "\x00Zoë"]  # a hash tag, a glob, a NUL byte, non-ASCII
START = 1_000_000.0
NORMAL = settings(max_examples=8, stateful_step_count=25, deadline=None)
"""The normal run's budget per backend; the deep profile replaces it."""

keys = st.sampled_from(KEYS)
fields = st.dictionaries(st.sampled_from(["x", "y", "é"]), st.sampled_from(["1", "2", "\"'"]))
values = st.one_of(
    st.integers(-3, 3), st.sampled_from(["", "v", "ü\x00"]), st.lists(st.integers(0, 2), max_size=2)
) | fields.map(dict)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Model:
    """What the store must hold: key -> (stored text, expiry time or None)."""

    def __init__(self, clock: Clock | None) -> None:
        self.clock = clock
        self.items: dict[str, tuple[str, float | None]] = {}

    def now(self) -> float:
        return START if self.clock is None else self.clock.now

    def text(self, key: str) -> str | None:
        item = self.items.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self.now():
            del self.items[key]
            return None
        return item[0]

    def put(self, key: str, text: str, ttl: float | None) -> None:
        self.items[key] = (text, None if ttl is None else self.now() + ttl)

    def live(self) -> dict[str, Any]:
        return {key: decode(text) for key in KEYS if (text := self.text(key)) is not None}


class StorageMachine(RuleBasedStateMachine):
    """Subclassed per test with the backend, its event loop and its clock."""

    runner: ClassVar[asyncio.Runner]
    backend: ClassVar[Backend]
    clock: ClassVar[Clock | None]
    namespaces: ClassVar[itertools.count[int]]
    steps: ClassVar[list[int]]

    def __init__(self) -> None:
        super().__init__()
        self.kv = KVStore(self.backend, f"model{next(self.namespaces)}")
        self.model = Model(self.clock)
        self.events: Subscription = self.kv.subscribe()
        self.run(self.events.__aenter__())
        self.steps[0] += 1

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        try:
            leftover = self.run(self.events.next(timeout=0.1))
            assert leftover is None, f"an event nobody caused: {leftover}"
        finally:
            self.run(self.events.__aexit__(None, None, None))

    def heard(self, *expected: tuple[str, ChangeKind]) -> None:
        """The events of this step, in any order (one atomic step's writes have none: PostgreSQL
        announces them in key order), and (checked by the next step) no more."""
        seen: list[tuple[str, ChangeKind]] = []
        for _ in expected:
            event = self.run(self.events.next(timeout=5))
            assert event is not None, f"heard {seen}, expected {list(expected)}"
            seen.append((event.key, event.kind))
        assert sorted(seen) == sorted(expected)

    ttls = st.none() | st.integers(1, 5).map(float)

    def ttl(self, ttl: float | None) -> float | None:
        """Whole seconds on a clocked backend; on Redis, long enough never to expire here."""
        return ttl if ttl is None or self.clock is not None else ttl * 1000

    # -- writes -------------------------------------------------------------------------------

    @rule(key=keys, value=values, ttl=ttls)
    def set_item(self, key: str, value: Any, ttl: float | None) -> None:
        self.run(self.kv.set_item(key, value, ttl=self.ttl(ttl)))
        self.model.put(key, encode(value), self.ttl(ttl))
        self.heard((key, ChangeKind.SET))

    @rule(key=keys, value=values, ttl=ttls)
    def set_if_absent(self, key: str, value: Any, ttl: float | None) -> None:
        wrote = self.run(self.kv.set_if_absent(key, value, ttl=self.ttl(ttl)))
        assert wrote == (self.model.text(key) is None)
        if wrote:
            self.model.put(key, encode(value), self.ttl(ttl))
            self.heard((key, ChangeKind.SET))

    @rule(key=keys, value=values, ttl=ttls)
    def replace_item(self, key: str, value: Any, ttl: float | None) -> None:
        wrote = self.run(self.kv.replace_item(key, value, ttl=self.ttl(ttl)))
        assert wrote == (self.model.text(key) is not None)
        if wrote:
            self.model.put(key, encode(value), self.ttl(ttl))
            self.heard((key, ChangeKind.SET))

    @rule(key=keys, ttl=ttls)
    def update(self, key: str, ttl: float | None) -> None:
        def bump(value: Any) -> Any:
            return value + 1 if type(value) is int else 0

        current = self.model.text(key)
        written = self.run(self.kv.update(key, bump, ttl=self.ttl(ttl)))
        assert written == bump(None if current is None else decode(current))
        self.model.put(key, encode(written), self.ttl(ttl))
        self.heard((key, ChangeKind.SET))

    @rule(key=keys)
    def remove_item(self, key: str) -> None:
        existed = self.model.text(key) is not None
        assert self.run(self.kv.remove_item(key)) == existed
        self.model.items.pop(key, None)
        if existed:
            self.heard((key, ChangeKind.REMOVED))

    @rule(
        plan=st.dictionaries(
            keys,
            st.tuples(
                st.sampled_from(["none", "absent", "current", "other"]),
                st.sampled_from(["none", "write", "delete", "merge"]),
                values,
                fields.map(lambda f: {k: DELETE if v == "2" else v for k, v in f.items()}),
                st.none() | st.integers(1, 5).map(float),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def transact(self, plan: dict[str, tuple[str, str, Any, dict[str, Any], float | None]]) -> None:
        writes: dict[str, Any] = {}
        expect: dict[str, Any] = {}
        merge: dict[str, dict[str, Any]] = {}
        ttl: dict[str, float] = {}
        for key, (expectation, action, value, merged_fields, seconds) in plan.items():
            current = self.model.text(key)
            if expectation == "absent":
                expect[key] = ABSENT
            elif expectation == "current":
                expect[key] = ABSENT if current is None else decode(current)
            elif expectation == "other":
                expect[key] = ["not", "stored"]
            if action == "write":
                writes[key] = value
            elif action == "delete":
                writes[key] = DELETE
            elif action == "merge":
                merge[key] = merged_fields
            if seconds is not None and action in ("write", "merge"):
                ttl[key] = self.ttl(seconds)  # type: ignore[assignment]
        outcome = self.expected_transact(writes, expect, merge)
        if outcome is CorruptValue:
            with pytest.raises(CorruptValue):
                self.run(self.kv.transact(writes, expect=expect, ttl=ttl, merge=merge))
            return
        assert self.run(self.kv.transact(writes, expect=expect, ttl=ttl, merge=merge)) == outcome
        if not outcome:
            return
        events = []
        for key in dict.fromkeys([*expect, *writes, *merge]):
            if writes.get(key) is DELETE:
                if self.model.text(key) is not None:
                    events.append((key, ChangeKind.REMOVED))
                self.model.items.pop(key, None)
            elif key in writes:
                self.model.put(key, encode(writes[key]), ttl.get(key))
                events.append((key, ChangeKind.SET))
            elif key in merge:
                document = decode(self.model.text(key) or "{}")
                for field, text in merge[key].items():
                    if text is DELETE:
                        document.pop(field, None)
                    else:
                        document[field] = text
                self.model.put(key, canonical(document), ttl.get(key))
                events.append((key, ChangeKind.SET))
        self.heard(*events)

    def expected_transact(
        self, writes: dict[str, Any], expect: dict[str, Any], merge: dict[str, dict[str, Any]]
    ) -> bool | type[CorruptValue]:
        """The contract's answer: every expectation first (any failing: False), then merges."""
        for key, wanted in expect.items():
            current = self.model.text(key)
            if (current is not None) if wanted is ABSENT else current != encode(wanted):
                return False
        for key in merge:
            current = self.model.text(key)
            if current is not None:
                document = decode(current)
                if not isinstance(document, dict) or not all(
                    isinstance(v, str) for v in document.values()
                ):
                    return CorruptValue
        return True

    # -- expiry and reads ---------------------------------------------------------------------

    @rule(key=keys, ttl=st.integers(1, 5).map(float))
    def touch(self, key: str, ttl: float) -> None:
        current = self.model.text(key)
        assert self.run(self.kv.touch(key, self.ttl(ttl))) == (current is not None)  # type: ignore[arg-type]
        if current is not None:
            self.model.put(key, current, self.ttl(ttl))

    @rule(key=keys, ttl=st.integers(1, 5).map(float))
    def get_and_touch(self, key: str, ttl: float) -> None:
        current = self.model.text(key)
        got = self.run(self.kv.get_and_touch(key, self.ttl(ttl), "missing"))  # type: ignore[arg-type]
        assert got == ("missing" if current is None else decode(current))
        if current is not None:
            self.model.put(key, current, self.ttl(ttl))

    @rule(seconds=st.integers(1, 4))
    def time_passes(self, seconds: int) -> None:
        if self.clock is not None:
            self.clock.now += seconds

    @rule(some=st.lists(keys, unique=True))
    def get_many(self, some: list[str]) -> None:
        live = self.model.live()
        assert self.run(self.kv.get_many(some)) == {k: v for k, v in live.items() if k in some}

    @rule()
    def listing(self) -> None:
        live = self.model.live()
        assert self.run(self.kv.get_all_items()) == live

        async def listed() -> dict[str, Any]:
            return {key: value async for key, value in self.kv.items(batch_size=2)}

        assert self.run(listed()) == live
        ttls = self.run(self.backend.ttls(self.kv.namespace, KEYS))
        assert set(ttls) == set(live)
        for key, left in ttls.items():
            expires = self.model.items[key][1]
            if expires is None:
                assert left is None
            else:
                assert left is not None
                assert 0 < left <= expires - self.model.now() + 1e-6

    @invariant()
    def every_key_matches_the_model(self) -> None:
        for key in KEYS:
            text = self.model.text(key)
            got = self.run(self.kv.get_item(key, "missing"))
            assert got == ("missing" if text is None else decode(text)), key


MODEL_BACKENDS = params(
    [
        "memory",
        "sqlite",
        "redis",
        "redis-cluster",
        "redis-sentinel",
        "postgres",
        "dual-memory-to-sqlite",
        "dual-sqlite-to-redis",
    ]
)
CLOCKED = ("memory", "sqlite", "dual-memory-to-sqlite")


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", MODEL_BACKENDS)
def test_every_sequence_of_operations_matches_the_model(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    clock = Clock()
    deep = request.config.getoption("hypothesis_profile", None) == "deep"
    with asyncio.Runner() as runner:
        backend = make_backend(kind, tmp_path, request, clock if kind in CLOCKED else None)
        runner.run(backend.open())
        steps = [0]
        try:
            machine = type(
                "Machine",
                (StorageMachine,),
                {
                    "runner": runner,
                    "backend": backend,
                    "clock": clock if kind in CLOCKED else None,
                    "namespaces": itertools.count(),
                    "steps": steps,
                },
            )
            counted = _counting(machine)
            run_state_machine_as_test(counted, settings=None if deep else NORMAL)
        finally:
            runner.run(backend.close())
    print(f"{kind}: {counted.rules_run} steps in {steps[0]} examples")


def _counting(machine: type[StorageMachine]) -> Any:
    """``machine`` with a count of the rules it ran, for the report of the budget."""

    class Counted(machine):  # type: ignore[valid-type, misc]
        rules_run = 0

        def check_invariants(self, *args: Any, **kwargs: Any) -> None:
            type(self).rules_run += 1
            super().check_invariants(*args, **kwargs)

    return Counted
