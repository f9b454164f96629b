"""Issue 23, proof: two salons on one store, as a state machine. Nothing done to one changes
anything the other reads.

Rules act on salon A or salon B through the services a multi-tenant runtime builds for it (its
per-process copies of the catalogue, sessions and day lists running, as when serving): book a
listed time, cancel, move, add a treatment, add staff (the same addresses at both salons), log
in and out, review a past visit, ask a password reset (a message in its outbox). After every step,
everything the other salon reads is as it was: its business, treatments and therapists, its
bookings and free times by day, its clients, its staff and their sessions, its reviews, its
outbox listing, and every key it holds.

Budget: a few examples per backend in the normal run (``--hypothesis-profile=deep`` for more).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from argon2 import PasswordHasher
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from parlour.config import load_settings
from parlour.errors import Conflict, SlotTaken
from parlour.runtime import Runtime
from parlour.salons import SalonServices
from parlour.services.accounts import AccountError
from parlour.services.sessions import SessionRecord
from parlour.services.tenants import Salon

from support.backends import KINDS, params
from support.salon import FACIAL, MASSAGE, ask, client, furnish, past_visit, upcoming_weekday
from support.tenancy import snapshot

T = TypeVar("T")
NORMAL = settings(max_examples=6, stateful_step_count=20, deadline=None)
SIDES = ("alpha", "bravo")
TREATMENTS = (MASSAGE.id, FACIAL.id)
side = st.sampled_from(SIDES)


async def reads(services: SalonServices, days: list[Any], now: float) -> dict[str, Any]:
    """Everything the salon's pages read, through its services (and its caches)."""
    core = services.core
    users = await core.accounts.list_users()
    resources = await core.catalogue.resources()
    return {
        "business": await core.catalogue.business(),
        "treatments": await core.catalogue.treatments(),
        "resources": resources,
        "bookings by day": [await core.bookings.day(d, [r.id for r in resources]) for d in days],
        "free times": [await core.bookings.availability(t, d) for t in TREATMENTS for d in days],
        "clients": await core.clients.page(),
        "users": users,
        "sessions": [await services.sessions.sessions_of(u.id) for u in users],
        "reviews": await core.reviews.all(),
        "outbox": await core.outboxes.listing(now),
        "keys": await snapshot(services.stores),
    }


class TwoSalons(RuleBasedStateMachine):
    runner: ClassVar[asyncio.Runner]
    runtime: ClassVar[Runtime]
    made: ClassVar[list[int]]
    steps: ClassVar[list[int]]

    def __init__(self) -> None:
        super().__init__()
        self.made[0] += 1
        assert self.runtime.tenants is not None
        assert self.runtime.salons is not None
        self.salons: dict[str, SalonServices] = {}
        self.days = [upcoming_weekday(), upcoming_weekday(4)]
        self.now = time.time() + 3600
        for name in SIDES:
            salon: Salon = self.run(
                self.runtime.tenants.create(f"{name}{self.made[0]}", name.title(), "o@x.test")
            )
            services = self.run(self.served(salon))
            self.run(furnish(services.stores.kv))
            self.run(
                services.core.accounts.create_user("same@example.com", "admin", "pw-1234567890")
            )
            self.salons[name] = services
        self.bookings: dict[str, list[Any]] = {name: [] for name in SIDES}
        self.sessions: dict[str, list[str]] = {name: [] for name in SIDES}
        self.acted = ""
        self.seen = {name: self.reads(name) for name in SIDES}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    async def served(self, salon: Salon) -> SalonServices:
        assert self.runtime.salons is not None
        return self.runtime.salons.services(salon)  # its copies start on the running loop

    def reads(self, name: str) -> dict[str, Any]:
        return self.run(reads(self.salons[name], self.days, self.now))

    def core(self, name: str) -> Any:
        self.acted = name
        return self.salons[name].core

    @rule(name=side, treatment=st.sampled_from(TREATMENTS), day=st.integers(0, 1), n=st.integers())
    def book(self, name: str, treatment: str, day: int, n: int) -> None:
        core = self.core(name)
        _, slots = self.run(core.bookings.availability(treatment, self.days[day]))
        if not slots:
            return
        start = slots[n % len(slots)].start.isoformat()
        request = ask({"treatment": treatment, "start": start, **client(n % 5)})
        self.bookings[name].append(self.run(core.bookings.book(request)).booking)

    @rule(name=side, n=st.integers())
    def cancel(self, name: str, n: int) -> None:
        core = self.core(name)
        if self.bookings[name]:
            booking = self.run(
                core.bookings.get(self.bookings[name][n % len(self.bookings[name])].id)
            )
            with contextlib.suppress(Conflict):
                self.run(core.bookings.cancel(booking, by_client=False))

    @rule(name=side, n=st.integers(), day=st.integers(0, 1), slot=st.integers())
    def move(self, name: str, n: int, day: int, slot: int) -> None:
        core = self.core(name)
        if not self.bookings[name]:
            return
        booking = self.run(core.bookings.get(self.bookings[name][n % len(self.bookings[name])].id))
        _, slots = self.run(
            core.bookings.availability(booking.treatment_id, self.days[day], ignoring=booking)
        )
        if slots:
            with contextlib.suppress(Conflict, SlotTaken):
                self.run(
                    core.bookings.reschedule(
                        booking, slots[slot % len(slots)].start, by_client=False
                    )
                )

    @rule(name=side, n=st.integers(0, 9), minutes=st.sampled_from([15, 45, 90]))
    def add_treatment(self, name: str, n: int, minutes: int) -> None:
        treatment = replace(MASSAGE, id=f"t_new{n}", name=f"New {n}", duration=minutes)
        self.run(self.core(name).catalogue.put_treatment(treatment))

    @rule(name=side, n=st.integers(0, 3))
    def add_staff(self, name: str, n: int) -> None:
        accounts = self.core(name).accounts
        # Already staff here raises; at the other salon too is allowed (its own account).
        with contextlib.suppress(AccountError):
            self.run(accounts.create_user(f"staff{n}@example.com", "staff", "pw-1234567890"))

    @rule(name=side)
    def log_in(self, name: str) -> None:
        user = self.run(self.core(name).accounts.get("same@example.com"))
        now = time.time()
        record = SessionRecord(user.id, user.email, user.role, secrets.token_urlsafe(32), now, now)
        self.sessions[name].append(self.run(self.salons[name].sessions.create(record)))

    @rule(name=side, n=st.integers())
    def log_out(self, name: str, n: int) -> None:
        self.acted = name
        if self.sessions[name]:
            session_id = self.sessions[name].pop(n % len(self.sessions[name]))
            self.run(self.salons[name].sessions.destroy(session_id))

    @rule(name=side, n=st.integers(0, 50))
    def review_a_past_visit(self, name: str, n: int) -> None:
        core = self.core(name)
        kv = self.salons[name].stores.kv
        try:  # one a week ago at 10:00 per salon: the next is taken
            visit, _ = self.run(past_visit(kv, core.catalogue, n))
            self.run(core.reviews.submit(visit, "4", f"Visit {n} was lovely"))
        except (Conflict, SlotTaken):
            pass

    @rule(name=side)
    def ask_a_password_reset(self, name: str) -> None:
        self.run(self.core(name).accounts.ask_reset("same@example.com"))

    @invariant()
    def the_other_salon_reads_what_it_read(self) -> None:
        self.steps[0] += 1
        for name in SIDES:
            now = self.reads(name)
            if name == self.acted:
                self.seen[name] = now
            else:
                assert now == self.seen[name], f"{self.acted}'s step changed what {name} reads"


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", params(["memory", "sqlite", "redis"]))
def test_nothing_done_to_one_salon_changes_what_the_other_reads(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, cheap_hasher: PasswordHasher
) -> None:
    deep = request.config.getoption("hypothesis_profile", None) == "deep"
    overrides = {"data_dir": tmp_path / "data", **KINDS[kind].settings(request)}
    config = load_settings(
        env_file=None, tenancy="multi", platform_domain="salons.test", **overrides
    )
    steps, made = [0], [0]
    with asyncio.Runner() as runner:
        runtime = Runtime.from_settings(config, password_hasher=cheap_hasher)
        runner.run(runtime.__aenter__())
        try:
            machine = type(
                "Machine",
                (TwoSalons,),
                {"runner": runner, "runtime": runtime, "made": made, "steps": steps},
            )
            run_state_machine_as_test(machine, settings=None if deep else NORMAL)
        finally:
            runner.run(runtime.__aexit__(None, None, None))
    assert steps[0] > 0
    print(f"two-salon model on {kind}: {steps[0]} steps over {made[0]} pairs of salons")
