"""One mailbox, one identity for the booking limit, however the address is written (issue 11.9)."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import httpx
import idna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parlour.config import load_settings
from parlour.services.ratelimit import Identity
from parlour.web.app import create_app
from parlour.web.parts import core, parts

from support.salon import MASSAGE, at, client, furnish, upcoming_weekday
from support.web import running, with_attempt_route

JSON = {"accept": "application/json"}


async def attempt(http: httpx.AsyncClient, n: int, email: str) -> int:
    """One booking attempt from its own client address: only the e-mail limit can bind."""
    headers = {**JSON, "x-forwarded-for": f"203.0.113.{n}"}
    return (await http.post("/attempt", data={"email": email}, headers=headers)).status_code


VARIANTS = [
    "zoe.smith@gmail.com",
    "Zoe.Smith+spa@gmail.com",  # a +tag, and case
    "zoesmith@googlemail.com",  # Gmail ignores dots; googlemail is gmail
    "\uff5a\uff4f\uff45\uff0e\uff53\uff4d\uff49\uff54\uff48@\uff47mail.com",  # fullwidth
    "zoe.smith+x@GMAIL.COM.",  # a trailing dot on the domain
    "z.o.e.s.m.i.t.h+1@gmail.com",
]


@pytest.fixture
async def attempts(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(env_file=None, data_dir=tmp_path, trusted_proxies="127.0.0.0/8")
    async with running(with_attempt_route(create_app(settings))) as http:
        yield http


async def test_six_ways_of_writing_one_mailbox_share_one_limit(
    attempts: httpx.AsyncClient,
) -> None:
    answers = [await attempt(attempts, n, variant) for n, variant in enumerate(VARIANTS)]
    assert answers == [200, 200, 200, 429, 429, 429]


async def test_idn_and_punycode_and_nfd_are_one_mailbox(attempts: httpx.AsyncClient) -> None:
    written = ["zoé@bücher.example", "zoe\u0301@xn--bcher-kva.example", "ZOÉ+a@BÜCHER.example"]
    answers = [
        await attempt(attempts, n, v) for n, v in enumerate([*written, "zoé@bücher.example"])
    ]
    assert answers == [200, 200, 200, 429]
    assert await attempt(attempts, 9, "zoe@bücher.example") == 200  # é is not e: another one


async def test_the_booking_keeps_the_address_as_typed(tmp_path: Path) -> None:
    app = create_app(load_settings(env_file=None, data_dir=tmp_path))
    async with running(app) as http:
        await furnish(parts(app).storage.kv)
        typed = "Zoe.Smith+spa@googlemail.com"
        made = await http.post(
            "/api/bookings",
            json={"treatment": MASSAGE.id, "start": at(10, day=upcoming_weekday()),
                  **client(email=typed)},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        stored = await core(app).bookings.by_token(made.json()["manage_token"])
        assert stored.email.casefold() == typed.casefold()


# -- properties --------------------------------------------------------------------------------

LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789éøß", min_size=1, max_size=12)
DOMAINS = ["example.com", "bücher.example", "mail.example.org", "gmail.com", "köln.de"]


@st.composite
def mailboxes(draw: st.DrawFn) -> tuple[str, str]:
    """A mailbox in its plain form: lower case, no tag, dots only where they count."""
    domain = draw(st.sampled_from(DOMAINS))
    parts = draw(st.lists(LOCAL, min_size=1, max_size=3))
    local = "".join(parts) if domain == "gmail.com" else ".".join(parts)
    return local, domain


def _fullwidth(character: str) -> str:
    return chr(ord(character) + 0xFEE0) if "!" <= character <= "~" else character


@st.composite
def written(draw: st.DrawFn, mailbox: tuple[str, str]) -> str:
    """One of the many ways a person may write ``mailbox``."""
    local, domain = mailbox
    if domain == "gmail.com":
        domain = draw(st.sampled_from(["gmail.com", "googlemail.com"]))
        dots = draw(st.lists(st.integers(1, max(1, len(local) - 1)), max_size=3))
        for position in sorted(set(dots), reverse=True):
            if position < len(local):
                local = local[:position] + "." + local[position:]
    if draw(st.booleans()):
        local += "+" + draw(st.text("abcxyz0123456789-+", max_size=8))
    if draw(st.booleans()):
        domain = idna.encode(domain, uts46=True).decode()
    address = f"{local}@{domain}"
    address = "".join(c.upper() if draw(st.booleans()) else c for c in address)
    if draw(st.booleans()):
        address = "".join(_fullwidth(c) if draw(st.booleans()) else c for c in address)
    form: Literal["NFC", "NFD", "NFKC", "NFKD"] = draw(
        st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"])
    )
    return unicodedata.normalize(form, address)


@given(st.data())
def test_every_way_of_writing_a_mailbox_is_one_identity(data: st.DataObject) -> None:
    mailbox = data.draw(mailboxes())
    plain = Identity.email(f"{mailbox[0]}@{mailbox[1]}")
    variant = data.draw(written(mailbox))
    assert Identity.email(variant) == plain, variant


@given(mailboxes(), mailboxes())
def test_different_mailboxes_stay_apart(one: tuple[str, str], two: tuple[str, str]) -> None:
    def plain(box: tuple[str, str]) -> tuple[str, str]:
        local = unicodedata.normalize("NFKC", box[0].casefold())
        return local, idna.encode(box[1], uts46=True).decode()

    if plain(one) != plain(two):
        assert Identity.email("@".join(one)) != Identity.email("@".join(two))
