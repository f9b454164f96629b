"""The hours form of a therapist or room, read into a :class:`~parlour.domain.schedule.Schedule`,
and a salon closure's line."""

from __future__ import annotations

import itertools
from datetime import date

from parlour.domain.schedule import Block, Hours, Schedule, parse_block
from parlour.domain.text import HIDDEN, hidden_characters
from parlour.errors import InvalidInput


def parse_schedule_form(fields: dict[str, str], problems: dict[str, str]) -> Schedule:
    """Weekly hours (``hours_0`` .. ``hours_6``: ``09:00-13:00, 14:00-18:00`` or empty),
    ``closed`` (days off: ``2026-12-25`` or ``2026-12-24 to 2026-12-31 Christmas``, one per
    line), ``blocked`` (``Tuesdays 12:00-13:00 Lunch``, ``2026-12-03 14:00-16:00 Training``:
    domain.schedule.parse_block) and ``exceptions`` (``2026-12-24 09:00-13:00`` per line)."""
    weekly = []
    for weekday in range(7):
        name = f"hours_{weekday}"
        try:
            weekly.append(_hours_list(fields.get(name, "")))
        except ValueError as exc:
            problems[name] = str(exc)
            weekly.append(())
    closed: set[date] = set()
    blocks: list[Block] = []
    for name in ("closed", "blocked"):
        for line in fields.get(name, "").splitlines():
            if not line.strip():
                continue
            try:
                block = parse_block(line)
            except ValueError as exc:
                problems[name] = str(exc)
                continue
            if hidden_characters(block.label):
                problems[name] = HIDDEN
            elif block == Block(block.first, block.first):
                closed.add(block.first)  # a plain day off, as days off were always kept
            else:
                blocks.append(block)
    exceptions = []
    for line in fields.get("exceptions", "").splitlines():
        if not line.strip():
            continue
        day, _, hours = line.strip().partition(" ")
        try:
            exceptions.append((date.fromisoformat(day), _hours_list(hours)))
        except ValueError:
            problems["exceptions"] = (
                f"Write one day per line, like 2026-12-24 09:00-13:00 (not {line.strip()!r})."
            )
    return Schedule(
        tuple(weekly), frozenset(closed), tuple(sorted(exceptions)), tuple(dict.fromkeys(blocks))
    )


def parse_closure(text: str) -> Block:
    """One salon-wide closure, written as a line of blocked time; ``ValueError`` says how to
    write it."""
    block = parse_block(text)
    if hidden_characters(block.label):
        raise ValueError(HIDDEN)
    return block


def _hours_list(text: str) -> tuple[Hours, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    hours = tuple(sorted((Hours.parse(part) for part in parts), key=lambda h: h.start))
    for first, second in itertools.pairwise(hours):
        if second.start < first.end:
            raise ValueError(f"{first} and {second} overlap")
    return hours


def closure_from_form(fields: dict[str, str]) -> Block:
    """A salon closure from the closures form: ``first`` (a date), ``last`` (a date, or empty
    for one day), ``start`` and ``end`` (times, or both empty for whole days), ``weekly`` (the
    first day's weekday every week, to ``last`` or for good) and ``label``.
    ``InvalidInput`` names each field a person must correct."""
    problems: dict[str, str] = {}
    first = _date(fields, problems, "first", required=True)
    last = _date(fields, problems, "last", required=False) or first
    hours = None
    start, end = fields.get("start", "").strip(), fields.get("end", "").strip()
    if start or end:
        try:
            hours = Hours.parse(f"{start}-{end}")
        except ValueError:
            problems["end" if start else "start"] = (
                "Give both times, the second after the first (like 12:00 and 14:00), or "
                "neither to close whole days."
            )
    label = fields.get("label", "").strip()
    if len(label) > 100:
        problems["label"] = "Keep the reason under 100 characters."
    elif hidden_characters(label):
        problems["label"] = HIDDEN
    if first and last and last < first:
        problems["last"] = "The last day is before the first. Check the dates."
    if problems or first is None or last is None:
        raise InvalidInput(problems)
    if fields.get("weekly", "") in ("on", "true", "1"):
        # every week on the first day's weekday, until the last day if one was given
        return Block(first, last if fields.get("last", "").strip() else None, hours, True, label)
    return Block(first, last, hours, label=label)


def _date(
    fields: dict[str, str], problems: dict[str, str], name: str, *, required: bool
) -> date | None:
    text = fields.get(name, "").strip()
    if not text:
        if required:
            problems[name] = "Enter the first day, like 2026-12-24."
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems[name] = f"Write the date like 2026-12-24 (not {text[:20]!r})."
        return None
