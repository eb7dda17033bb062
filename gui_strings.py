"""The window's words: one file per language in gui_locales/ (as the page's locales/), and which one to use."""

from __future__ import annotations

import json
import locale
from pathlib import Path
from typing import Mapping

LANGUAGES = ("en", "ru")
LOCALES = Path(__file__).resolve().parent / "gui_locales"


def load_strings(folder: Path = LOCALES) -> dict[str, dict[str, str]]:
    """{language: {key: text}} for every language, read from `folder`/<language>.json."""
    return {language: json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
            for language in LANGUAGES}


STRINGS = load_strings()


def choose_language(env: Mapping[str, str]) -> str:
    """"ru" or "en": SECRET_CALL_LANG first, then LC_ALL, LC_MESSAGES, LANG, then the system locale."""
    candidates = [env.get(name, "") for name in ("SECRET_CALL_LANG", "LC_ALL", "LC_MESSAGES", "LANG")]
    try:
        candidates.append(locale.getlocale()[0] or "")
    except ValueError:
        pass
    for value in candidates:
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return "ru" if value.lower().startswith("ru") else "en"
    return "en"
