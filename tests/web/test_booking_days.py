"""The choose-a-time page: therapist choice, the month of days, and for a day with no times,
why and the next free day. Without JavaScript: every part is a link or a GET form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from parlour.config import load_settings
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import FACIAL, MASSAGE, furnish, upcoming_weekday
from support.web import running


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as browser:
        await furnish(parts(app).storage.kv, phone="01225 555 0100")
        browser.app = app  # type: ignore[attr-defined]
        yield browser


def saturday_after(days: int = 3) -> str:
    day = upcoming_weekday(days)
    return (day + timedelta(days=5 - day.weekday())).isoformat()


async def test_a_closed_day_says_so_and_links_the_next_free_day(
    site: httpx.AsyncClient,
) -> None:
    saturday = saturday_after()
    page = await site.get(f"/book/{FACIAL.id}", params={"date": saturday})
    assert page.status_code == 200
    assert "We are closed on Saturdays." in page.text
    monday = (upcoming_weekday(3) + timedelta(days=7 - upcoming_weekday(3).weekday())).isoformat()
    link = re.search(r'href="([^"]+)">Next free day: ([^<]+)</a>', page.text)
    assert link, page.text
    assert link[1] == f"/book/{FACIAL.id}?date={monday}"
    assert "Try another day" not in page.text  # the old page's only answer


async def test_choosing_a_therapist_shows_only_their_times_and_carries_them_to_the_details(
    site: httpx.AsyncClient,
) -> None:
    day = upcoming_weekday()
    app = site.app  # type: ignore[attr-defined]
    catalogue = core(app).catalogue
    off = next(r for r in await catalogue.resources() if r.id == "r_bob")
    days_off = replace(off.schedule, closed=frozenset({day}))
    await catalogue.put_resource(replace(off, schedule=days_off))
    anyone = await site.get(f"/book/{FACIAL.id}", params={"date": day.isoformat()})
    assert '<option value="r_bob">Bob</option>' in anyone.text
    assert "/details?start=" in anyone.text
    bob = await site.get(
        f"/book/{FACIAL.id}", params={"date": day.isoformat(), "resource": "r_bob"}
    )
    assert "with Bob" in bob.text
    assert f"Bob is off on {day:%A %-d %B}." in bob.text
    assert f"?date={(day + timedelta(days=1)).isoformat()}&amp;resource=r_bob" in bob.text
    ann = await site.get(
        f"/book/{FACIAL.id}", params={"date": day.isoformat(), "resource": "r_ann"}
    )
    times = re.findall(r'href="(/book/t_facial/details\?start=[^"]+)"', ann.text)
    assert times
    assert all(t.endswith("&amp;resource=r_ann") for t in times)
    details = await site.get(times[0].replace("&amp;", "&"))
    assert " with Ann" in details.text
    assert 'name="resource" value="r_ann"' in details.text


async def test_a_therapist_who_does_not_do_the_treatment_is_not_a_choice(
    site: httpx.AsyncClient,
) -> None:
    day = upcoming_weekday().isoformat()
    page = await site.get(f"/book/{MASSAGE.id}", params={"date": day, "resource": "r_bob"})
    assert page.status_code == 200
    assert "That therapist does not do Massage" in page.text
    assert 'name="resource"' not in page.text  # one therapist: nothing to choose


async def test_the_month_links_only_days_with_times(site: httpx.AsyncClient) -> None:
    saturday = saturday_after()
    page = await site.get(f"/book/{FACIAL.id}", params={"date": saturday})
    month = page.text[page.text.index('class="month-days"') :]
    assert f'?date={saturday}"' not in month  # a closed day is no link
    assert re.search(r'class="none closed chosen" title="We are closed on Saturdays."', month)
    assert re.search(r'<a class="free" href="/book/t_facial\?date=[0-9-]+" aria-label=', month)


@pytest.mark.parametrize(
    ("day", "said"),
    [
        ("9999-12-31", "Choose a date between 1900 and 2999. Here is today."),
        ("0001-01-01", "Choose a date between 1900 and 2999. Here is today."),
        ("2999-12-31", "Bookings open 60 days ahead"),  # the last day read: its month too
    ],
)
async def test_the_calendars_first_and_last_days_are_answered_not_a_500(
    site: httpx.AsyncClient, day: str, said: str
) -> None:
    page = await site.get(f"/book/{FACIAL.id}", params={"date": day})
    assert page.status_code == 200
    assert said in page.text
