"""The staff calendar as a time grid: one lane per therapist or room (a day) or per day (a week
of one therapist), time running down in 5-minute rows, each booking a block as long as it
lasts with its buffers, closed hours shaded, free times links that start a booking there.

Pure: bookings, resources, the zone and the clock in; rows and blocks out. The page places
everything with CSS classes (``at-N``, ``span-N``: :func:`stylesheet`, kept in
``static/grid.css``), never a ``style`` attribute, so a strict Content-Security-Policy holds.

Rows follow each lane's real time from its local midnight, labelled by the wall clock. Lanes
line up by wall-clock time, so on a clock-change day: a 23-hour day has no rows where the clocks
jump (shaded "not on the clock" if another lane has them); a 25-hour day has its repeated hour
twice, the second time labelled with the zone's new abbreviation. A booking's block always
covers its real duration in its own lane's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from parlour.domain.booking import Booking
from parlour.domain.catalogue import UNIT_MINUTES, Resource
from parlour.domain.schedule import local_day_bounds

ROW = timedelta(minutes=UNIT_MINUTES)
MAX_ROWS = 25 * 60 // UNIT_MINUTES
"""The longest day (25 hours) in rows: the largest ``at-N``/``span-N`` the stylesheet has."""
MAX_TRACKS = 4
"""Overlapping blocks in one lane sit side by side, in at most this many tracks."""
DEFAULT_HOURS = (9 * 60, 17 * 60)
"""The window shown when nobody works and nothing is booked: 09:00-17:00."""
_DAY_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class Label:
    row: int
    text: str
    hour: bool


@dataclass(frozen=True, slots=True)
class Shade:
    """Rows of a lane where nothing can be booked: ``closed`` (outside working hours) or
    ``no-time`` (a wall-clock time this lane's day does not have)."""

    row: int
    span: int
    kind: str


@dataclass(frozen=True, slots=True)
class Note:
    """What a blocked time is for (a training, a holiday), written where it is shaded: staff saw
    a grey stretch and had to open the closures page to learn why."""

    row: int
    span: int
    text: str


@dataclass(frozen=True, slots=True)
class FreeCell:
    row: int
    span: int
    start: datetime
    """UTC: a start the slot engine could offer (on the business's step), free and to come."""


@dataclass(frozen=True, slots=True)
class Block:
    booking: Booking
    row: int
    span: int
    before: int
    """Rows of preparation (the treatment's buffer before), then ``during``, then ``after``."""
    during: int
    after: int
    track: int


@dataclass(frozen=True, slots=True)
class Lane:
    key: str
    """For the page's ids: the resource id (day view) or the date (week view)."""
    title: str
    day: date
    resource: Resource
    working: bool
    """Whether the resource works at all that day (a day off is shaded whole)."""
    shades: tuple[Shade, ...]
    free: tuple[FreeCell, ...]
    blocks: tuple[Block, ...]
    tracks: int
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class Grid:
    rows: int
    labels: tuple[Label, ...]
    lanes: tuple[Lane, ...]
    hidden: tuple[Booking, ...]
    """Cancelled bookings (they hold no time), listed beside the grid rather than in it."""


@dataclass(frozen=True, slots=True)
class _Spec:
    key: str
    title: str
    day: date
    resource: Resource
    bookings: tuple[Booking, ...]


def day_grid(
    day: date,
    zone: ZoneInfo,
    resources: Sequence[Resource],
    bookings: Iterable[Booking],
    *,
    now: datetime,
    step: int,
    status: str = "",
) -> Grid:
    """One lane per resource on ``day``. ``status`` shows only bookings with that status."""
    mine: dict[str, list[Booking]] = {r.id: [] for r in resources}
    for booking in bookings:
        mine.setdefault(booking.resource_id, []).append(booking)
    specs = [_Spec(r.id, r.name, day, r, tuple(mine[r.id])) for r in resources]
    return _grid(specs, zone, now, step, status)


def week_grid(
    days: Sequence[date],
    zone: ZoneInfo,
    resource: Resource,
    bookings: Mapping[date, Iterable[Booking]],
    *,
    now: datetime,
    step: int,
    status: str = "",
) -> Grid:
    """One lane per day for one resource."""
    specs = [
        _Spec(
            day.isoformat(),
            day.strftime("%a %-d %b"),
            day,
            resource,
            tuple(b for b in bookings.get(day, ()) if b.resource_id == resource.id),
        )
        for day in days
    ]
    return _grid(specs, zone, now, step, status)


# -- building ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Clock:
    """One lane's day in real 5-minute rows: the instant, wall time and sort key of each."""

    start: datetime
    instants: list[datetime]
    walls: list[time]
    keys: list[tuple[int, int, int]]

    @classmethod
    def of(cls, day: date, zone: ZoneInfo) -> _Clock:
        start, end = local_day_bounds(day, zone)
        instants = []
        moment = start
        while moment < end:
            instants.append(moment)
            moment += ROW
        walls = [moment.astimezone(zone).time() for moment in instants]  # keeps the fold
        return cls(start, instants, walls, _sort_keys(walls))

    def index(self, instant: datetime) -> int:
        """The row holding ``instant``, clamped to the day (a buffer may cross midnight)."""
        offset = (instant - self.start) // ROW
        return max(0, min(len(self.instants), offset))

    def index_after(self, instant: datetime) -> int:
        """The first row starting at or after ``instant``, for an exclusive end."""
        offset = -(-(instant - self.start) // ROW)
        return max(0, min(len(self.instants), offset))


def _sort_keys(walls: Sequence[time]) -> list[tuple[int, int, int]]:
    """Keys that put every lane's rows in one wall-clock order: a time shown once sorts by its
    minutes; the second showing of a repeated time sorts after the first showing of every time
    before the next ordinary one (so 01:00-01:55 again falls between 01:55 and 02:00)."""
    keys: list[tuple[int, int, int]] = [(0, 0, 0)] * len(walls)
    following = _DAY_MINUTES
    for position in range(len(walls) - 1, -1, -1):
        wall = walls[position]
        minutes = wall.hour * 60 + wall.minute
        if wall.fold:
            keys[position] = (following, -1, minutes)
        else:
            keys[position] = (minutes, 0, 0)
            following = minutes
    return keys


def _grid(specs: Sequence[_Spec], zone: ZoneInfo, now: datetime, step: int, status: str) -> Grid:
    clocks = [_Clock.of(spec.day, zone) for spec in specs]
    working = [spec.resource.schedule.intervals(spec.day, zone) for spec in specs]
    labelled = [_labelled_blocks(spec, zone) for spec in specs]
    shown = [[b for b in spec.bookings if _shown(b, status)] for spec in specs]
    first, last = _window(clocks, working, shown)
    axis = sorted(
        {
            key
            for clock in clocks
            for key, wall in zip(clock.keys, clock.walls, strict=True)
            if first <= wall.hour * 60 + wall.minute < last
        }
    )
    row_of_key = {key: number for number, key in enumerate(axis, start=1)}
    lanes = tuple(
        replace(
            _lane(spec, clock, hours, blocks, row_of_key, len(axis), now, step),
            notes=_notes(clock, row_of_key, notes),
        )
        for spec, clock, hours, blocks, notes in zip(
            specs, clocks, working, shown, labelled, strict=True
        )
    )
    hidden = () if status else tuple(b for spec in specs for b in spec.bookings if not b.holds_time)
    labels = tuple(_labels(axis, clocks, zone))
    return Grid(len(axis), labels, lanes, hidden)


def _labelled_blocks(spec: _Spec, zone: ZoneInfo) -> list[tuple[datetime, datetime, str]]:
    """The blocked times and closures of the lane's day that say what they are for."""
    schedule = spec.resource.schedule
    return [
        (*block.interval(spec.day, zone), block.label)
        for block in (*schedule.blocks, *schedule.closures)
        if block.label and block.on(spec.day)
    ]


def _notes(
    clock: _Clock,
    row_of_key: Mapping[tuple[int, int, int], int],
    labelled: Sequence[tuple[datetime, datetime, str]],
) -> tuple[Note, ...]:
    """Each label over the rows of the window its blocked time covers (none outside it)."""
    notes = []
    for start, end, text in labelled:
        rows = [
            row_of_key[key]
            for key, moment in zip(clock.keys, clock.instants, strict=True)
            if start <= moment < end and key in row_of_key
        ]
        if rows:
            notes.append(Note(min(rows), max(rows) - min(rows) + 1, text))
    return tuple(notes)


def _shown(booking: Booking, status: str) -> bool:
    return booking.status.value == status if status else booking.holds_time


def _window(
    clocks: Sequence[_Clock],
    working: Sequence[Sequence[tuple[datetime, datetime]]],
    shown: Sequence[Sequence[Booking]],
) -> tuple[int, int]:
    """Whole wall-clock hours from the earliest opening or booking to the latest."""
    edges: list[tuple[int, int]] = []
    for clock, hours, bookings in zip(clocks, working, shown, strict=True):
        spans = [*hours, *(_occupied(b) for b in bookings)]
        for start, end in spans:
            begin, stop = clock.index(start), clock.index_after(end)
            if begin < stop:
                edges.append((_minutes(clock.walls[begin]), _minutes(clock.walls[stop - 1]) + 5))
    if not edges:
        return DEFAULT_HOURS
    low = min(edge[0] for edge in edges)
    high = max(edge[1] for edge in edges)
    return low - low % 60, min(_DAY_MINUTES, high + (-high) % 60)


def _minutes(wall: time) -> int:
    return wall.hour * 60 + wall.minute


def _occupied(booking: Booking) -> tuple[datetime, datetime]:
    return (
        booking.start - timedelta(minutes=booking.buffer_before),
        booking.end + timedelta(minutes=booking.buffer_after),
    )


def _lane(
    spec: _Spec,
    clock: _Clock,
    hours: Sequence[tuple[datetime, datetime]],
    shown: Sequence[Booking],
    row_of_key: Mapping[tuple[int, int, int], int],
    rows: int,
    now: datetime,
    step: int,
) -> Lane:
    # The axis row of each of this lane's rows, or None outside the window.
    placed = [row_of_key.get(key) for key in clock.keys]

    def row_at(index: int) -> int:
        """The axis row where the lane's row ``index`` (or the first shown after it) starts;
        one past the last row for an index past the window."""
        for position in range(index, len(placed)):
            found = placed[position]
            if found is not None:
                return found
        return rows + 1

    open_rows = [any(a <= moment < b for a, b in hours) for moment in clock.instants]
    busy = [False] * len(clock.instants)
    for booking in spec.bookings:
        if booking.holds_time:
            start, end = _occupied(booking)
            for index in range(clock.index(start), clock.index_after(end)):
                busy[index] = True

    state: dict[int, str] = dict.fromkeys(range(1, rows + 1), "no-time")
    for index, row in enumerate(placed):
        if row is not None:
            state[row] = "open" if open_rows[index] else "closed"
    shades = tuple(Shade(run[0], len(run), kind) for kind, run in _runs(state) if kind != "open")

    free = []
    step_rows = max(1, step // UNIT_MINUTES)
    for index, moment in enumerate(clock.instants):
        aligned = index % step_rows == 0  # the slot engine's starts: local midnight + k steps
        bookable = aligned and open_rows[index] and not busy[index] and moment >= now
        if not bookable or placed[index] is None:
            continue
        stop = index + 1
        while stop < len(placed) and stop % step_rows and open_rows[stop] and not busy[stop]:
            stop += 1
        free.append(FreeCell(row_at(index), row_at(stop) - row_at(index), moment))

    blocks = []
    track_ends: list[int] = []
    for booking in sorted(shown, key=lambda b: b.start):
        start, end = _occupied(booking)
        first, stop = clock.index(start), clock.index_after(end)
        top, bottom = row_at(first), row_at(stop)
        if bottom <= top:
            continue
        begins, ends = row_at(clock.index(booking.start)), row_at(clock.index_after(booking.end))
        track = next((n for n, e in enumerate(track_ends) if e <= top), len(track_ends))
        if track == len(track_ends):
            track_ends.append(bottom)
        track_ends[track] = bottom
        blocks.append(
            Block(
                booking,
                row=top,
                span=bottom - top,
                before=begins - top,
                during=ends - begins,
                after=bottom - ends,
                track=min(track, MAX_TRACKS - 1) + 1,
            )
        )
    return Lane(
        key=spec.key,
        title=spec.title,
        day=spec.day,
        resource=spec.resource,
        working=bool(hours),
        shades=shades,
        free=tuple(free),
        blocks=tuple(blocks),
        tracks=max(1, min(len(track_ends), MAX_TRACKS)),
    )


def _runs(state: Mapping[int, str]) -> Iterable[tuple[str, list[int]]]:
    for kind, group in itertools.groupby(sorted(state), key=state.__getitem__):
        yield kind, list(group)


def _labels(
    axis: Sequence[tuple[int, int, int]], clocks: Sequence[_Clock], zone: ZoneInfo
) -> Iterable[Label]:
    """A label every half hour; the second showing of a repeated hour names its zone."""
    instants: dict[tuple[int, int, int], datetime] = {}
    for clock in clocks:
        for key, moment in zip(clock.keys, clock.instants, strict=True):
            instants.setdefault(key, moment)
    for number, key in enumerate(axis, start=1):
        local = instants[key].astimezone(zone)
        if local.minute % 30 == 0:
            text = f"{local:%H:%M}" + (f" {local.tzname()}" if local.fold else "")
            yield Label(number, text, local.minute == 0)


# -- the stylesheet ---------------------------------------------------------------------------


def stylesheet() -> str:
    """Every placement class the grid uses, written once (``static/grid.css``; a test keeps
    that file equal to this)."""
    lines = ["/* Generated by parlour.web.staff.grid.stylesheet(): do not edit by hand. */"]
    lines += [f".at-{n}{{grid-row-start:{n}}}" for n in range(1, MAX_ROWS + 2)]
    lines += [f".span-{n}{{grid-row-end:span {n}}}" for n in range(1, MAX_ROWS + 1)]
    lines += [
        f".rows-{n}{{grid-template-rows:repeat({n},var(--row))}}" for n in range(1, MAX_ROWS + 1)
    ]
    lines += [
        f".tracks-{n}{{grid-template-columns:repeat({n},minmax(0,1fr))}}"
        for n in range(1, MAX_TRACKS + 1)
    ]
    lines += [f".track-{n}{{grid-column:{n}}}" for n in range(1, MAX_TRACKS + 1)]
    return "\n".join(lines) + "\n"
