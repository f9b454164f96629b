"""A stateful test of the storage contract against a plain dict, on SQLite and PostgreSQL.

Hypothesis runs random sequences of writes, conditional writes, removals, transacts (with
expectations that hold or not) and merges, and after every step the store must hold exactly
what the model holds. The backend is driven from its own event loop, since the machine is
synchronous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from parlour.errors import CorruptValue
from parlour.storage import Backend, KVStore
from parlour.storage.base import ABSENT, DELETE
from parlour.storage.postgres import PostgresBackend
from parlour.storage.sqlite import SQLiteBackend

T = TypeVar("T")
KEYS = st.sampled_from(["a", "b", "c", "d", "\x00z", "Zoë"])
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none())
FIELDS = st.dictionaries(
    st.sampled_from(["x", "y", "ü"]), st.one_of(st.text(max_size=2), st.just(DELETE)), max_size=3
)


def machine(make: Callable[[], Backend]) -> type[RuleBasedStateMachine]:
    class Storage(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.backend = make()
            self.run(self.backend.open())
            self.kv = KVStore(self.backend, f"s{id(self) % 10**8}")
            self.model: dict[str, Any] = {}

        def run(self, work: Awaitable[T]) -> T:
            return self.loop.run_until_complete(work)

        def teardown(self) -> None:
            self.run(self.backend.close())
            self.loop.close()

        @rule(key=KEYS, value=VALUES)
        def set_item(self, key: str, value: Any) -> None:
            self.run(self.kv.set_item(key, value))
            self.model[key] = value

        @rule(key=KEYS, value=VALUES)
        def set_if_absent(self, key: str, value: Any) -> None:
            wrote = self.run(self.kv.set_if_absent(key, value))
            assert wrote == (key not in self.model)
            self.model.setdefault(key, value)

        @rule(key=KEYS, value=VALUES)
        def replace_item(self, key: str, value: Any) -> None:
            wrote = self.run(self.kv.replace_item(key, value))
            assert wrote == (key in self.model)
            if wrote:
                self.model[key] = value

        @rule(key=KEYS)
        def remove_item(self, key: str) -> None:
            assert self.run(self.kv.remove_item(key)) == (key in self.model)
            self.model.pop(key, None)

        @rule(
            writes=st.dictionaries(KEYS, st.one_of(VALUES, st.just(DELETE)), max_size=3),
            expected=st.dictionaries(KEYS, st.sampled_from(["absent", "current", "stale"])),
        )
        def transact(self, writes: dict[str, Any], expected: dict[str, str]) -> None:
            expect: dict[str, Any] = {}
            for key, how in expected.items():
                if how == "absent":
                    expect[key] = ABSENT
                elif how == "current":
                    expect[key] = self.model.get(key, ABSENT)
                else:
                    expect[key] = ["not", "what", "is", "there"]
            holds = all(
                (key not in self.model) if want is ABSENT else self.model.get(key, ABSENT) == want
                for key, want in expect.items()
            )
            assert self.run(self.kv.transact(writes, expect=expect)) == holds
            if holds:
                for key, value in writes.items():
                    if value is DELETE:
                        self.model.pop(key, None)
                    else:
                        self.model[key] = value

        @rule(key=KEYS, fields=FIELDS)
        def merge(self, key: str, fields: dict[str, Any]) -> None:
            current = self.model.get(key, {})
            if not isinstance(current, dict):  # only an object of text values takes a merge
                with pytest.raises(CorruptValue):
                    self.run(self.kv.transact({}, merge={key: fields}))
                return
            self.run(self.kv.transact({}, merge={key: fields}))
            merged = {**current, **{f: v for f, v in fields.items() if v is not DELETE}}
            for field, value in fields.items():
                if value is DELETE:
                    merged.pop(field, None)
            self.model[key] = merged

        @invariant()
        def holds_what_the_model_holds(self) -> None:
            assert self.run(self.kv.get_all_items()) == self.model
            found = self.run(self.kv.get_many(["a", "b", "c", "d", "\x00z", "Zoë"]))
            assert found == self.model

    return Storage


CHECKS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_sqlite_keeps_the_contract_over_any_sequence(tmp_path: Path) -> None:
    run_state_machine_as_test(machine(lambda: SQLiteBackend(tmp_path / "s.db")), settings=CHECKS)


@pytest.mark.postgres
def test_postgres_keeps_the_contract_over_any_sequence(postgres_url: str) -> None:
    # Logic, not deadlines: a generous timeout, so a loaded machine does not fail it.
    make = lambda: PostgresBackend(postgres_url, timeout=2)  # noqa: E731
    run_state_machine_as_test(machine(make), settings=CHECKS)
