"""The English and Russian strings: the same keys, the same placeholders, and every key the page uses."""

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
