"""The English and Russian strings: the same keys, the same placeholders, every key the page uses, and the code symbols' names."""

from __future__ import annotations

import json
import re

from conftest import ROOT


def test_locales_have_the_same_keys_and_cover_the_page() -> None:
    en = json.loads((ROOT / "locales" / "en.json").read_text(encoding="utf-8"))
    ru = json.loads((ROOT / "locales" / "ru.json").read_text(encoding="utf-8"))
    assert set(en) == set(ru), f"only in en: {set(en) - set(ru)}, only in ru: {set(ru) - set(en)}"
    for key in en:
        assert sorted(re.findall(r"\{\w+\}", en[key])) == sorted(re.findall(r"\{\w+\}", ru[key])), key
        assert ru[key].strip(), key
    html = (ROOT / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="([^"]+)"', html))
    used |= {key for spec in re.findall(r'data-i18n-attr="([^"]+)"', html) for key in re.findall(r":(\w+)", spec)}
    assert used <= set(en), f"markup keys missing from the locales: {used - set(en)}"
    sources = "\n".join(path.read_text(encoding="utf-8") for path in [ROOT / "app.js", *(ROOT / "js").glob("*.js")])
    for key in re.findall(r'"((?:err|hint|toast|conn|peer|title|lead)[A-Z]\w*)"', sources):
        assert key in en, f"{key} is used in the code but missing from the locales"


def test_every_code_symbol_has_a_distinct_spoken_name_in_each_language() -> None:
    """The 64 symbols of a verification code (js/verify-code.js) can be read aloud: each has a name,
    no two the same (in either language), so a code compared by ear is compared symbol by symbol."""
    source = (ROOT / "js" / "verify-code.js").read_text(encoding="utf-8")
    table = source[source.index("export const SYMBOLS"):source.index("export const EMOJI")]
    symbols = re.findall(r'\["([^"]+)", "([a-z]+)"\]', table)
    assert len(symbols) == 64
    assert len({emoji for emoji, _ in symbols}) == 64
    for lang in ("en", "ru"):
        strings = json.loads((ROOT / "locales" / f"{lang}.json").read_text(encoding="utf-8"))
        names = [strings.get(f"symbol{name[0].upper()}{name[1:]}", "") for _, name in symbols]
        assert all(name.strip() and " " not in name.strip() for name in names), lang
        assert len(set(names)) == 64, f"{lang}: two symbols share a name"
    en = json.loads((ROOT / "locales" / "en.json").read_text(encoding="utf-8"))
    assert [en[f"symbol{name[0].upper()}{name[1:]}"] for _, name in symbols] == [name for _, name in symbols]
