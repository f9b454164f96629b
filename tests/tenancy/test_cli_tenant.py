"""``parlour tenant`` and ``parlour demo --tenant``, run in-process through ``parlour.cli.main``:
each action refuses with one salon, does its work with many, and is written to the platform's
audit log with the actor ``cli``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from parlour.cli import main
from parlour.config import load_settings
from parlour.runtime import Runtime
from parlour.services.audit import AuditEntry
from parlour.services.tenants import Salon, Status

PASSWORD = "correct horse battery"


@dataclass(frozen=True, slots=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def parlour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Ran]]:
    """``parlour(*argv, stdin=...)`` with many salons in ``tmp_path``; the root logger as it was
    afterwards (main configures logging for the process)."""
    monkeypatch.setenv("PARLOUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PARLOUR_TENANCY", "multi")
    monkeypatch.setenv("PARLOUR_PLATFORM_DOMAIN", "salons.test")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(*argv: str, stdin: str = "") -> Ran:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(argv)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    yield run
    root.handlers[:], root.level = handlers, level


def salons_and_audit(tmp_path: Path) -> tuple[list[Salon], list[AuditEntry]]:
    settings = load_settings(
        env_file=None, data_dir=tmp_path, tenancy="multi", platform_domain="salons.test"
    )

    async def read() -> tuple[list[Salon], list[AuditEntry]]:
        runtime = Runtime.from_settings(settings)
        async with runtime.opened() as platform:
            assert runtime.tenants is not None
            return await runtime.tenants.all(), [e async for e in platform.audit.entries()]

    return asyncio.run(read())


ACTIONS = [
    ["tenant", "create", "--slug", "maya", "--name", "Maya", "--owner-email", "o@maya.test"],
    ["tenant", "list"],
    ["tenant", "suspend", "--slug", "maya"],
    ["tenant", "resume", "--slug", "maya"],
    ["tenant", "export", "--slug", "maya", "out.jsonl"],
    ["tenant", "import", "--slug", "maya", "out.jsonl"],
    ["tenant", "erase", "--slug", "maya", "--yes"],
    ["tenant", "domain", "add", "--slug", "maya", "--host", "book.maya.test"],
    ["tenant", "domain", "remove", "--slug", "maya", "--host", "book.maya.test"],
    ["demo", "--tenant", "maya"],
]


@pytest.mark.parametrize("argv", ACTIONS, ids=[" ".join(argv[:3]) for argv in ACTIONS])
def test_every_action_refuses_with_one_salon(
    parlour: Callable[..., Ran], argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PARLOUR_TENANCY", "single")
    ran = parlour(*argv)
    assert ran.code == 2
    assert "PARLOUR_TENANCY=multi" in ran.err
    assert list(tmp_path.iterdir()) == []  # nothing was opened, let alone written


@pytest.mark.parametrize(
    "action", ["", "create", "list", "suspend", "resume", "export", "import", "erase", "domain"]
)
def test_every_tenant_action_has_help(
    parlour: Callable[..., Ran], action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parlour("tenant", *([action] if action else []), "--help")
    assert exit_.value.code == 0
    assert f"usage: parlour tenant {action}".rstrip() in capsys.readouterr().out


def test_a_salon_from_creation_to_erasure_every_step_audited(
    parlour: Callable[..., Ran], tmp_path: Path
) -> None:
    run = parlour
    made = run(
        "tenant",
        "create",
        "--slug",
        "maya",
        "--name",
        "Maya's Rooms",
        "--owner-email",
        "Owner@Maya.test",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.code == 0, made.err
    assert "maya.salons.test" in made.out
    assert "Owner: owner@maya.test (admin)." in made.out
    taken = run(
        "tenant",
        "create",
        "--slug",
        "maya",
        "--name",
        "Other",
        "--owner-email",
        "x@y.test",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert taken.code == 1
    assert "taken" in taken.err
    reserved = run(
        "tenant",
        "create",
        "--slug",
        "admin",
        "--name",
        "Admin",
        "--owner-email",
        "x@y.test",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert (reserved.code, "kept for the platform" in reserved.err) == (1, True)
    steps = [
        ("tenant", "domain", "add", "--slug", "maya", "--host", "Book.Maya.example"),
        ("tenant", "suspend", "--slug", "maya"),
        ("tenant", "resume", "--slug", "maya"),
        ("tenant", "export", "--slug", "maya", str(tmp_path / "maya.jsonl")),
    ]
    for step in steps:
        ran = run(*step)
        assert ran.code == 0, (step, ran.err)
    listed = run("tenant", "list")
    row = next(line for line in listed.out.splitlines() if line.startswith("maya "))
    assert row.split()[1:4] == ["active", "0", "1"]  # status, bookings, staff
    assert "book.maya.example" in row
    exported = [json.loads(line) for line in (tmp_path / "maya.jsonl").read_text().splitlines()]
    assert [line["key"] for line in exported if line["namespace"] == "users"] == ["owner@maya.test"]

    refused = run("tenant", "erase", "--slug", "maya", stdin="mya\n")
    assert refused.code == 1
    assert [salon.slug for salon in salons_and_audit(tmp_path)[0]] == ["maya"]
    erased = run("tenant", "erase", "--slug", "maya", stdin="maya\n")
    assert erased.code == 0, erased.err
    assert "nothing left" in erased.out

    salons, audit = salons_and_audit(tmp_path)
    assert salons == []
    assert [(e.action, e.target, e.actor) for e in audit] == [
        ("tenant.create", "maya", "cli"),
        ("tenant.domain.add", "maya", "cli"),
        ("tenant.suspend", "maya", "cli"),
        ("tenant.resume", "maya", "cli"),
        ("tenant.export", "maya", "cli"),
        ("tenant.erase", "maya", "cli"),
    ]
    assert audit[1].after == {"hosts": ["book.maya.example"]}


def test_adopting_without_an_owner_account_asks_for_a_password(
    parlour: Callable[..., Ran], tmp_path: Path
) -> None:
    ran = parlour(
        "tenant",
        "create",
        "--adopt",
        "--slug",
        "maya",
        "--name",
        "Maya",
        "--owner-email",
        "o@maya.test",
    )
    assert ran.code == 1
    assert ran.err == "parlour: The owner has no account yet: give a password (--password-stdin)\n"
    assert salons_and_audit(tmp_path)[0] == []


def test_demo_with_many_salons_asks_which(parlour: Callable[..., Ran], tmp_path: Path) -> None:
    ran = parlour("demo")
    assert ran.code == 2
    assert "parlour demo --tenant S" in ran.err


def test_actions_on_a_salon_that_is_not_there_say_so(parlour: Callable[..., Ran]) -> None:
    for argv in (
        ("tenant", "suspend", "--slug", "nobody"),
        ("tenant", "erase", "--slug", "nobody", "--yes"),
        ("tenant", "domain", "remove", "--slug", "nobody", "--host", "a.example"),
    ):
        ran = parlour(*argv)
        assert (ran.code, ran.err.strip()) == (1, "parlour: There is no salon 'nobody'.")


def test_an_export_to_a_folder_that_is_not_there_says_so(
    parlour: Callable[..., Ran], tmp_path: Path
) -> None:
    made = parlour(
        "tenant",
        "create",
        "--slug",
        "maya",
        "--name",
        "Maya",
        "--owner-email",
        "o@maya.test",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.code == 0
    ran = parlour("tenant", "export", "--slug", "maya", str(tmp_path / "nope" / "maya.jsonl"))
    assert ran.code == 1
    assert "cannot write" in ran.err
    assert "No such file or directory" in ran.err


@pytest.mark.slow  # the demo draws its photos and books two weeks: about 5 s
def test_demo_fills_one_tenant_and_no_other(parlour: Callable[..., Ran], tmp_path: Path) -> None:
    run = parlour
    made = run(
        "tenant",
        "create",
        "--slug",
        "maya",
        "--name",
        "Maya",
        "--owner-email",
        "o@maya.test",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.code == 0
    demo = run("demo", "--tenant", "willow")
    assert demo.code == 0, demo.err
    assert "willow.salons.test" in demo.out
    assert "Staff login: admin@example.com / " in demo.out
    again = run("demo", "--tenant", "willow")
    assert "not empty" in again.out
    listed = run("tenant", "list")
    rows = {line.split()[0]: line.split() for line in listed.out.splitlines()[1:]}
    assert int(rows["willow"][2]) > 10  # bookings
    assert rows["maya"][2] == "0"
    salons, _ = salons_and_audit(tmp_path)
    assert {salon.slug: salon.status for salon in salons} == {
        "maya": Status.ACTIVE,
        "willow": Status.ACTIVE,
    }
