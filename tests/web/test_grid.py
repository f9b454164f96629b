"""The calendar grid: rows in the business's zone, blocks as long as their bookings (buffers
shown), closed hours shaded, free starts offered, and clock-change days of 23 and 25 hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from parlour.domain.booking import Booking, Status
from parlour.domain.catalogue import Resource
from parlour.domain.schedule import Hours, Schedule, to_utc
from parlour.web.staff.grid import MAX_ROWS, Grid, Lane, day_grid, stylesheet, week_grid
from parlour.web.templating import STATIC_DIRECTORY

LONDON = ZoneInfo("Europe/London")
DAY = date(2026, 12, 2)  # a Wednesday, GMT
SPRING = date(2026, 3, 29)  # London skips 01:00-02:00: 23 hours
AUTUMN = date(2026, 10, 25)  # London repeats 01:00-02:00: 25 hours
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

SPLIT = (Hours(time(9), time(13)), Hours(time(13, 30), time(17, 30)))
MAYA = Resource("r_maya", "Maya", Schedule(weekly=(SPLIT,) * 7))
OFF = Resource("r_off", "Off", Schedule(weekly=((),) * 7))
NIGHT = Resource("r_night", "Night", Schedule(weekly=((Hours(time(0), time(4)),),) * 7))


def booking(
    start: datetime, minutes: int = 60, before: int = 0, after: int = 0, **kw: object
) -> Booking:
    fields: dict[str, object] = {
        "id": f"b_{int(start.timestamp())}",
        "treatment_id": "t",
        "treatment_name": "Facial",
        "resource_id": "r_maya",
        "start": start,
        "duration": minutes,
        "buffer_before": before,
        "buffer_after": after,
        "price": 6500,
        "client_name": "Client",
        "email": "c@example.com",
        "phone": "07700 900123",
        "status": Status.CONFIRMED,
        "created_at": LONG_AGO,
        "token_hash": "x",
        **kw,
    }
    return Booking(**fields)  # type: ignore[arg-type]


def london(day: date, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, fold=fold), tzinfo=LONDON).astimezone(UTC)


def lane(grid: Grid, key: str) -> Lane:
    return next(found for found in grid.lanes if found.key == key)


def test_a_booking_is_a_block_as_long_as_it_lasts_with_its_buffers() -> None:
    grid = day_grid(
        DAY, LONDON, [MAYA], [booking(london(DAY, 10), 60, 10, 10)], now=LONG_AGO, step=15
    )
    assert grid.rows == 9 * 12  # 09:00-18:00: Maya's hours to the whole hour
    [block] = lane(grid, "r_maya").blocks
    assert (block.row, block.span) == (11, 16)  # 09:50 to 11:10 in 5-minute rows
    assert (block.before, block.during, block.after) == (2, 12, 2)
    assert [label.text for label in grid.labels][:3] == ["09:00", "09:30", "10:00"]


def test_closed_hours_and_days_off_are_shaded() -> None:
    grid = day_grid(DAY, LONDON, [MAYA, OFF], [], now=LONG_AGO, step=15)
    maya = lane(grid, "r_maya")
    assert maya.working
    assert [(s.row, s.span, s.kind) for s in maya.shades] == [(49, 6, "closed"), (103, 6, "closed")]
    off = lane(grid, "r_off")
    assert not off.working
    assert [(s.row, s.span) for s in off.shades] == [(1, grid.rows)]
    assert off.free == ()


def test_free_cells_start_on_the_step_after_now_and_never_under_a_booking() -> None:
    now = london(DAY, 11, 5)
    taken = booking(london(DAY, 12), 30, 0, 10)
    grid = day_grid(DAY, LONDON, [MAYA], [taken], now=now, step=15)
    starts = [cell.start.astimezone(LONDON).strftime("%H:%M") for cell in lane(grid, "r_maya").free]
    assert starts[:4] == ["11:15", "11:30", "11:45", "12:45"]  # 12:00-12:40 is taken
    assert "13:00" not in starts  # lunch is closed
    assert "13:30" in starts
    cell = lane(grid, "r_maya").free[0]
    assert cell.span == 3


def test_cancelled_bookings_leave_the_grid_for_the_list_beside_it() -> None:
    cancelled = booking(london(DAY, 10), status=Status.CANCELLED)
    grid = day_grid(DAY, LONDON, [MAYA], [cancelled], now=LONG_AGO, step=15)
    assert lane(grid, "r_maya").blocks == ()
    assert grid.hidden == (cancelled,)
    only = day_grid(DAY, LONDON, [MAYA], [cancelled], now=LONG_AGO, step=15, status="cancelled")
    assert len(lane(only, "r_maya").blocks) == 1
    assert only.hidden == ()
    confirmed = day_grid(
        DAY, LONDON, [MAYA], [booking(london(DAY, 10))], now=LONG_AGO, step=15, status="cancelled"
    )
    assert lane(confirmed, "r_maya").blocks == ()
    assert confirmed.hidden == ()  # a filter hides the rest: it does not list them


def test_overlapping_blocks_sit_side_by_side() -> None:
    first = booking(london(DAY, 10), status=Status.CANCELLED)
    second = booking(london(DAY, 10, 30), status=Status.CANCELLED, id="b_2")
    grid = day_grid(DAY, LONDON, [MAYA], [first, second], now=LONG_AGO, step=15, status="cancelled")
    maya = lane(grid, "r_maya")
    assert maya.tracks == 2
    assert [b.track for b in maya.blocks] == [1, 2]


def test_a_23_hour_day_has_no_rows_for_the_hour_the_clocks_skip() -> None:
    night = booking(london(SPRING, 0, 30), 60, resource_id="r_night")
    grid = day_grid(SPRING, LONDON, [NIGHT], [night], now=LONG_AGO, step=15)
    assert grid.rows == 3 * 12  # 00:00-04:00 on the wall clock is three real hours
    assert [label.text for label in grid.labels] == [
        "00:00", "00:30", "02:00", "02:30", "03:00", "03:30",
    ]  # fmt: skip
    [block] = lane(grid, "r_night").blocks
    assert (block.row, block.span) == (7, 12)  # 00:30 GMT to 02:30 BST: one real hour


def test_a_25_hour_day_shows_its_repeated_hour_twice() -> None:
    second = booking(london(AUTUMN, 1, 30, fold=1), 30, resource_id="r_night")
    grid = day_grid(AUTUMN, LONDON, [NIGHT], [second], now=LONG_AGO, step=15)
    assert grid.rows == 5 * 12
    assert [label.text for label in grid.labels][:6] == [
        "00:00", "00:30", "01:00", "01:30", "01:00 GMT", "01:30 GMT",
    ]  # fmt: skip
    [block] = lane(grid, "r_night").blocks
    assert (block.row, block.span) == (31, 6)  # 2.5 real hours after midnight


def test_a_week_lines_its_days_up_by_the_wall_clock_across_a_clock_change() -> None:
    days = [SPRING - timedelta(days=6 - n) for n in range(7)]  # Monday to the Sunday it skips
    grid = week_grid(days, LONDON, NIGHT, {}, now=LONG_AGO, step=15)
    assert grid.rows == 4 * 12
    sunday, monday = lane(grid, SPRING.isoformat()), lane(grid, days[0].isoformat())
    assert [(s.row, s.span, s.kind) for s in sunday.shades] == [(13, 12, "no-time")]
    assert monday.shades == ()
    # 02:00 is row 25 in every lane: the skipped hour is a gap, not a shift.
    assert [c.row for c in sunday.free if c.start == london(SPRING, 2)] == [25]
    assert [c.row for c in monday.free if c.start == london(days[0], 2)] == [25]


ZONES = [ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney")]
CLOCK_CHANGES = [date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 8), date(2026, 11, 1),
                 date(2026, 4, 5), date(2026, 10, 4), date(2026, 6, 1)]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    day=st.sampled_from(CLOCK_CHANGES),
    starts=st.lists(st.integers(0, 23 * 12), min_size=1, max_size=6, unique=True),
    length=st.integers(1, 24),
    buffers=st.tuples(st.integers(0, 3), st.integers(0, 3)),
)
def test_every_block_covers_its_real_duration_on_any_day(
    zone: ZoneInfo, day: date, starts: list[int], length: int, buffers: tuple[int, int]
) -> None:
    everyone = Resource(
        "r_maya", "All day", Schedule(weekly=((Hours(time(0), time(23, 59)),),) * 7)
    )
    midnight = to_utc(day, time(0), zone)
    made = []
    end = midnight
    for n, unit in enumerate(sorted(starts)):  # back to back at most, never overlapping
        start = max(
            midnight + timedelta(minutes=5 * unit + 5 * buffers[0]),
            end + timedelta(minutes=5 * buffers[0]),
        )
        made.append(booking(start, 5 * length, 5 * buffers[0], 5 * buffers[1], id=f"b_{n}"))
        end = start + timedelta(minutes=5 * (length + buffers[1]))
    inside = [
        b
        for b in made
        if b.end + timedelta(minutes=b.buffer_after)
        <= to_utc(day + timedelta(days=1), time(0), zone)
    ]
    grid = day_grid(day, zone, [everyone], inside, now=LONG_AGO, step=15)
    assert grid.rows <= MAX_ROWS
    blocks = lane(grid, "r_maya").blocks
    assert len(blocks) == len(inside)
    covered: set[int] = set()
    for block in blocks:
        real = block.booking.duration + block.booking.buffer_before + block.booking.buffer_after
        assert block.span * 5 == real
        assert block.before * 5 == block.booking.buffer_before
        assert block.after * 5 == block.booking.buffer_after
        rows = set(range(block.row, block.row + block.span))
        assert covered.isdisjoint(rows)
        covered |= rows
    for cell in lane(grid, "r_maya").free:
        assert covered.isdisjoint(range(cell.row, cell.row + cell.span))


def test_the_stylesheet_in_static_is_the_generated_one() -> None:
    written = (STATIC_DIRECTORY / "grid.css").read_text()
    assert written == stylesheet(), (
        'static/grid.css is stale: python -c "from parlour.web.staff.grid import stylesheet; '
        "print(stylesheet(), end='')\" > src/parlour/web/static/grid.css"
    )
    assert Path(STATIC_DIRECTORY / "grid.css").stat().st_size < 64 * 1024
