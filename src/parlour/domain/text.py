"""What text Parlour accepts from people.

Names, e-mail addresses, reviews and captions end up on staff screens, in calendars and in
e-mails. They may hold any letter of any script, emoji and the joiners some scripts need, but
not control characters (a NUL byte, a bell), unpaired surrogates (not text at all, and they
fail when written as UTF-8) or the invisible direction overrides that make "gpj.exe" read as
"exe.jpg" on a staff member's screen.
"""

from __future__ import annotations

import unicodedata

HIDDEN = "Use letters, digits, spaces and punctuation only: this holds hidden characters."

_DIRECTION_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\r\t")


def hidden_characters(text: str, *, multiline: bool = False) -> bool:
    """True if ``text`` holds a character no person should be asked to type or read."""
    for character in text:
        category = unicodedata.category(character)
        if category == "Cc" and not (multiline and character in _LINE_BREAKS):
            return True
        if category == "Cs" or character in _DIRECTION_OVERRIDES:
            return True
    return False
