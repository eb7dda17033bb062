"""Display names: which ones the room accepts, and when two of them count as the same name.

js/names.js mirrors these rules in the page; tests/test_browser_abuse.py checks that the two agree.
"""

from __future__ import annotations

import logging
import unicodedata

logger = logging.getLogger(__name__)

MAX_NAME = 32

# Format (Cf: zero-width spaces and joiners, bidi controls, tags), private-use (Co) and unassigned
# (Cn) characters are invisible or unknown, so they let a name pass for another one.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})

# Letters and marks that render as nothing at all: the Hangul fillers, the blank Braille pattern,
# the combining grapheme joiner, the Khmer inherent vowels, the musical null notehead.
BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\U0001d159")

ZWJ = "\u200d"

# Invisible when they follow a letter: the same name with or without them is the same name.
_IGNORED_IN_KEY = frozenset([ZWJ, *map(chr, range(0xFE00, 0xFE10))])


def _joins_emoji(name: str, index: int) -> bool:
    """A zero-width joiner inside an emoji sequence (👩‍💻), where it is part of the picture."""
    if not 0 < index < len(name) - 1:
        return False
    before, after = name[index - 1], name[index + 1]
    return (unicodedata.category(before) in ("So", "Sk") or before == "\ufe0f") and unicodedata.category(after) == "So"


def name_problem(name: str) -> str | None:
    """Why a trimmed name is refused (for the log and the tests), or None when it is fine."""
    if not 1 <= len(name) <= MAX_NAME:
        return "length"
    visible = False
    for index, char in enumerate(name):
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES and not (char == ZWJ and _joins_emoji(name, index)):
            return f"U+{ord(char):04X} ({category})"
        if char in BLANK:
            return f"U+{ord(char):04X} (blank)"
        visible = visible or category[0] in "LNPS"
    return None if visible else "nothing visible"


def name_key(name: str) -> str:
    """What two names must not share: NFKC with case folding, joiners and selectors dropped, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join("".join(char for char in folded if char not in _IGNORED_IN_KEY).split())
