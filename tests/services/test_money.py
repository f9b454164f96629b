"""Money by ISO 4217 and CLDR: minor units per currency, each locale's way of writing it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parlour.services.money import (
    amount_text,
    check_currency,
    check_locale,
    currencies_in_use,
    money,
    parse_amount,
)


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (4550, "GBP", "en_GB", "£45.50"),
        (2800, "JPY", "en_US", "¥2,800"),  # no minor units: not "JPY 28.00"
        (2800, "JPY", "ja_JP", "￥2,800"),
        (4550, "EUR", "de_DE", "45,50\xa0€"),
        (1250, "BHD", "en_GB", "BHD\xa01.250"),  # three minor units
        (4550, "GBP", "not a locale", "£45.50"),  # a stored locale Babel lost: the default
    ],
    ids=["pounds", "yen-us", "yen-jp", "euro-de", "dinar", "unknown-locale"],
)
def test_amounts_are_written_as_the_locale_writes_money(
    amount: int, currency: str, locale: str, shown: str
) -> None:
    assert money(amount, currency, locale).replace("\u200e", "") in {
        shown,
        shown.replace("\xa0", ""),
    }


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("45", "GBP", 4500),
        ("45.5", "GBP", 4550),
        ("45,50", "GBP", 4550),
        ("45.505", "GBP", None),
        ("2800", "JPY", 2800),
        ("2800.50", "JPY", None),  # there is no half yen
        ("1.25", "BHD", 1250),
        ("free", "GBP", None),
        ("-5", "GBP", None),
    ],
)
def test_prices_are_typed_in_the_currencys_minor_units(
    text: str, currency: str, minor: int | None
) -> None:
    assert parse_amount(text, currency) == minor


@given(st.integers(0, 10**7 - 1), st.sampled_from(["GBP", "JPY", "BHD", "EUR"]))
def test_a_price_shown_in_a_form_reads_back_as_itself(amount: int, currency: str) -> None:
    assert parse_amount(amount_text(amount, currency), currency) == amount


def test_only_currencies_in_use_are_accepted() -> None:
    assert check_currency("jpy") == "JPY"
    for code in ("XYZ", "XXX", "XTS", "XAU", "DEM", "pounds", ""):
        assert check_currency(code) is None, code
    assert {"GBP", "EUR", "USD", "JPY", "XOF"} <= currencies_in_use()


def test_locales_are_those_babel_knows() -> None:
    assert check_locale("en-GB") == "en_GB"
    assert check_locale("ja_JP") == "ja_JP"
    assert check_locale("zz_ZZ") is None
    assert check_locale("") is None
