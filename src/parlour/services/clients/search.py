"""What staff can type to find a client, and the sorted entries that answer it at the cost of a
page: each listed key has a few strings in the sorted index (services.sorted_index), and a
query reads the run of strings that start with what it asks.

    n <name> <id>            everyone, by name (case-folded), then id: the list without a query
    w <word> <name> <id>     each word of the name, folded (:func:`fold`): "ann", "nguyen"
    e <e-mail> <id>          the address, case-folded: "ann@", "ann@example.com"
    p <reversed digits> <id> the phone number read backwards: its last digits, "0111", or all

(the parts joined by U+001F, which no name, address or number holds). So a query finds a name
by the start of any of its words (each word of the query must start one, in any order), an
e-mail address by its start, a phone number by its end (three digits or more, or the whole
number as it was given): what a receptionist types, and each a run of one stretch of the index.
Words are compared folded, without case or accents (issue 24: "nguyen" finds "Nguyễn", and
"Nguyễn" finds "Nguyen"), as a receptionist types on a keyboard without them.
It cannot find the middle of a word or of a number ("xamp", "7700 900"), which would need every
client read. :func:`matches` is the same rule for one client, for the reference derivation.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace

from parlour.services.bookings.client_keys import phone_key

SEP = "\x1f"
_PHONE_QUERY = re.compile(r"[0-9 +().-]+")
_WORD_PARTS = re.compile("[-'\u2019.]+")  # hyphen, apostrophe (typed or typographic), dot


class Kind(enum.StrEnum):
    EVERYONE = "n"
    NAME = "w"
    EMAIL = "e"
    PHONE = "p"


def sort_name(name: str) -> str:
    return name.casefold().replace(SEP, " ")


_UNDECOMPOSED = str.maketrans(
    {"đ": "d", "ø": "o", "ł": "l", "æ": "ae", "œ": "oe", "\u0131": "i"}  # the last: dotless i
)
"""Letters that Unicode does not decompose into a base letter and a mark."""


def fold(text: str) -> str:
    """``text`` case-folded and without accents: "Nguyễn" -> "nguyen", "Øre" -> "ore"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNDECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_words(name: str) -> set[str]:
    """The words a name is found by, folded: each word, and each part of a hyphenated or
    apostrophed one ("smith-jones": also "smith" and "jones"; "o'brien": also "brien")."""
    words = set()
    for word in fold(sort_name(name)).split():
        words.add(word)
        words.update(part for part in _WORD_PARTS.split(word) if part)
    return words


def _digits(phone: str) -> str:
    return phone_key(phone).lstrip("+")


def entries(key_id: str, name: str, email: str, phone: str) -> list[str]:
    """The strings that list a key whose client is ``name``, ``email`` and ``phone``."""
    sorted_as = sort_name(name)
    found = [SEP.join((Kind.EVERYONE, sorted_as, key_id))]
    found += [SEP.join((Kind.NAME, word, sorted_as, key_id)) for word in sorted(name_words(name))]
    if email.strip():
        found.append(SEP.join((Kind.EMAIL, email.strip().casefold(), key_id)))
    if _digits(phone):
        found.append(SEP.join((Kind.PHONE, _digits(phone)[::-1], key_id)))
    return found


def key_of(entry: str) -> str:
    return entry.rsplit(SEP, 1)[-1]


@dataclass(frozen=True, slots=True)
class Query:
    kind: Kind
    text: str
    """What the index is searched by: a word, an address, reversed digits; "" for everyone.
    For a name, one of :attr:`words`: the longest, unless :meth:`by` chose another."""
    words: tuple[str, ...] = ()
    """For a name: every word asked, each of which must start a word of the name."""

    @property
    def mark(self) -> str:
        """What a page's cursor carries so that later pages search by the same word: the
        word's place among several; "" when there is no choice."""
        if self.kind is not Kind.NAME or len(set(self.words)) < 2:
            return ""
        return f".{self.words.index(self.text)}"

    def by(self, word: str) -> Query:
        """The same query, searched by another of its words (one fewer names start with)."""
        return replace(self, text=word) if word in self.words else self

    @property
    def prefix(self) -> str:
        """The start every entry this query can find begins with."""
        return f"{self.kind}{SEP}{self.text}"

    def lists(self, entry: str) -> bool:
        """Whether ``entry`` lists its key in this query's answer: it starts with
        :attr:`prefix`, its client matches the whole query, and, for a name found by several
        of its words, it is the first of them (so that each client is shown once)."""
        if not entry.startswith(self.prefix):
            return False
        if self.kind is not Kind.NAME:
            return True
        _, word, name, _ = entry.split(SEP)
        words = name_words(name)
        return word == min((w for w in words if w.startswith(self.text)), default=word) and all(
            any(w.startswith(asked) for w in words) for asked in self.words
        )

    def entry_of(self, listed: Iterable[str]) -> str | None:
        """Which of a key's entries lists it in this query's answer, if any."""
        return next((entry for entry in sorted(listed) if self.lists(entry)), None)


def parse(text: str) -> Query:
    text = text.strip()
    if not text:
        return Query(Kind.EVERYONE, "")
    if "@" in text:
        return Query(Kind.EMAIL, "".join(text.split()).casefold())
    digits = _digits(text)
    if _PHONE_QUERY.fullmatch(text) and len(digits) >= 3:
        return Query(Kind.PHONE, digits[::-1])
    words = tuple(fold(sort_name(text)).split())
    if not words:
        return Query(Kind.EVERYONE, "")
    return Query(Kind.NAME, max(words, key=len), words)


def matches(query: Query, name: str, email: str, phone: str) -> bool:
    """Whether a client with these details is in ``query``'s answer: the rule the index
    answers by, for one client at a time."""
    if query.kind is Kind.EVERYONE:
        return True
    if query.kind is Kind.EMAIL:
        return email.strip().casefold().startswith(query.text)
    if query.kind is Kind.PHONE:
        return bool(_digits(phone)) and _digits(phone)[::-1].startswith(query.text)
    words = name_words(name)
    return all(any(w.startswith(asked) for w in words) for asked in query.words)
