"""Money as ISO 4217 and CLDR have it: which currencies exist, how many minor units each has
(pence: 2, yen: 0, Bahraini fils: 3), and how a locale writes an amount.

Amounts are stored as whole minor units. Babel carries the data (ISO 4217 currency codes, their
digits and each locale's patterns), so "¥2,800" and "2.800 ¥" come from the same tables a
browser or a bank uses, not from a table of symbols kept here.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    format_currency,
    get_currency_name,
    get_currency_precision,
    get_territory_currencies,
)

DEFAULT_LOCALE = "en_GB"


def minor_digits(currency: str) -> int:
    """How many digits follow the decimal point in ``currency``: 2 for GBP, 0 for JPY."""
    return int(get_currency_precision(currency))


def money(amount: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """``£45.00``, ``¥2,800``, ``45,00 €``: an amount in minor units, as ``locale`` writes it."""
    value = Decimal(amount).scaleb(-minor_digits(currency))
    return str(format_currency(value, currency, locale=_locale_or_default(locale)))


@functools.cache
def currencies_in_use() -> frozenset[str]:
    """The ISO 4217 codes that are legal tender somewhere today (no "XYZ", no gold, no test
    code "XTS", no Deutschmark). Read once, on first use, from Babel's CLDR tables."""
    return frozenset(
        code
        for territory in Locale("en").territories
        for code in get_territory_currencies(str(territory), tender=True)
    )


def check_currency(text: str) -> str | None:
    """The code in capitals if it names a currency in use, else ``None``."""
    code = text.strip().upper()
    return code if code in currencies_in_use() else None


def currency_label(code: str) -> str:
    """``GBP: British Pound``, for choosing one."""
    return f"{code}: {get_currency_name(code, locale='en')}"


def check_locale(text: str) -> str | None:
    """A locale Babel knows, written ``en_GB``; ``None`` if it is not one."""
    try:
        return str(Locale.parse(text.strip().replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def parse_amount(text: str, currency: str) -> int | None:
    """What staff type as a price, in minor units: ``45``, ``45.5`` or ``45,50`` for pounds;
    only whole yen (``2800``) for JPY; up to three decimals for dinars. ``None`` if unreadable,
    or more precise than the currency allows."""
    digits = minor_digits(currency)
    fraction = rf"(?:[.,](\d{{1,{digits}}}))?" if digits else ""
    match = re.fullmatch(rf"\s*(\d{{1,7}}){fraction}\s*", text)
    if not match:
        return None
    minor = match[2] if digits and match.lastindex == 2 else ""
    return int(match[1]) * int(10**digits) + int((minor or "0").ljust(digits, "0") or "0")


def amount_text(amount: int, currency: str) -> str:
    """An amount as staff type it back into a form: ``45.50``, ``2800``."""
    digits = minor_digits(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


def amount_example(currency: str) -> str:
    """How to write a price in this currency, for a form's hint."""
    digits = minor_digits(currency)
    return "Like 2800" if digits == 0 else f"Like 45 or 45.{'5' * digits}"


def _locale_or_default(locale: str) -> str:
    return locale if check_locale(locale) else DEFAULT_LOCALE
