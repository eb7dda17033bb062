"""Chat @mentions in a real Chromium: the combobox by keyboard, highlights, the toast, and the mention logic."""

from __future__ import annotations

from typing import Callable

import pytest
from playwright.async_api import Browser, expect

from conftest import RunningServer
from browser import open_tab
from chat_page import chat_input, joined, message_count, messages, state

pytestmark = pytest.mark.browser

# -- mentions ------------------------------------------------------------------------------

async def test_browser_chat_mentions_by_keyboard_highlight_and_toast(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(capacity=3)
    alice, boris, bob = await joined(browser, server, ["Alice", "Борис", "Bob"])
    page = alice.page
    box = chat_input(page)
    await page.evaluate("""() => {
      window.__escapes = 0;
      document.addEventListener('keydown', (e) => { if (e.key === 'Escape') window.__escapes += 1; });
    }""")
    await box.focus()

    # "@" lists everyone else, in the roster's order, as an ARIA combobox with a listbox.
    await box.type("@")
    listbox = page.get_by_role("listbox", name="People in the call")
    await expect(listbox).to_be_visible()
    now = await state(page)
    assert now["options"] == ["Борис", "Bob"] and now["expanded"] == "true" and now["active"] == "Борис"
    assert now["selected"] == [now["activeId"]]
    await expect(listbox.get_by_role("option")).to_have_count(2)
    await box.press("ArrowDown")
    assert (await state(page))["active"] == "Bob"
    await box.press("ArrowDown")
    assert (await state(page))["active"] == "Борис"
    await box.press("ArrowUp")
    assert (await state(page))["active"] == "Bob"
    await box.press("ArrowUp")
    assert (await state(page))["active"] == "Борис"

    # Filtered as one types, Cyrillic and any case; Enter picks and does not send.
    await box.type("бор")
    assert (await state(page))["options"] == ["Борис"]
    for _ in range(3):
        await box.press("Backspace")
    await box.type("Бор")
    assert (await state(page))["options"] == ["Борис"]
    await box.press("Enter")
    now = await state(page)
    assert now["value"] == "@Борис " and now["caret"] == len("@Борис ") and now["focused"]
    assert now["expanded"] == "false" and not now["listVisible"] and now["activeId"] is None
    await box.type("and @b")
    assert (await state(page))["options"] == ["Bob"]
    await box.press("Tab")
    now = await state(page)
    assert now["value"] == "@Борис and @Bob " and now["focused"], "Tab picks and keeps focus in the input"

    # Esc closes the list and nothing else.
    await box.type("@")
    assert (await state(page))["listVisible"]
    await box.press("Escape")
    now = await state(page)
    assert not now["listVisible"] and now["expanded"] == "false" and now["focused"]
    assert now["value"] == "@Борис and @Bob @"
    assert await page.evaluate("window.__escapes") == 0
    await expect(page.locator("#chat-card")).to_have_attribute("data-collapsed", "false")
    await box.press("Backspace")
    await box.type("hi")

    # Bob hides his chat; Борис keeps his open.
    await bob.page.get_by_role("button", name="Hide chat").click()
    await expect(bob.page.locator("#chat-log")).to_be_hidden()
    await box.press("Enter")
    await expect(box).to_have_value("")

    for tab in (alice, boris, bob):
        await message_count(tab.page, 1)
    (to_boris,) = await messages(boris.page)
    assert to_boris["text"] == "@Борис and @Bob hi" and to_boris["mentionsMe"]
    assert to_boris["marks"] == [["@Борис", True], ["@Bob", False]]
    assert to_boris["elements"] == ["mark", "mark"]
    mention_toast = "Alice mentioned you"
    # Борис is looking at the chat: the highlight is enough, no toast.
    await expect(boris.page.locator("#toasts").get_by_text(mention_toast)).to_have_count(0)
    # Bob is not: a toast, and an unread count on the collapsed chat.
    await expect(bob.page.locator("#toasts").get_by_text(f"{mention_toast}: @Борис and @Bob hi")).to_be_visible()
    await expect(bob.page.get_by_role("button", name="Show chat (1 unread)")).to_be_visible()
    await bob.page.get_by_role("button", name="Show chat (1 unread)").click()
    (to_bob,) = await messages(bob.page)
    assert to_bob["mentionsMe"] and to_bob["marks"] == [["@Борис", False], ["@Bob", True]]
    (own,) = await messages(page)
    assert own["own"] and not own["mentionsMe"]

    # A pick that is erased again before sending mentions nobody.
    await box.type("@Б")
    await box.press("Enter")
    await expect(box).to_have_value("@Борис ")
    await box.fill("never mind")
    await box.press("Enter")
    await message_count(boris.page, 2)
    second = (await messages(boris.page))[1]
    assert second["text"] == "never mind" and not second["mentionsMe"] and second["marks"] == []

    # A page in a background tab gets the toast too (simulated: headless Chromium keeps every page visible).
    await boris.page.evaluate(
        "() => Object.defineProperty(document, 'visibilityState', {get: () => 'hidden', configurable: true})")
    await box.type("@Бо")
    await box.press("Enter")
    await box.type("ping")
    await box.press("Enter")
    await expect(boris.page.locator("#toasts").get_by_text(f"{mention_toast}: @Борис ping")).to_be_visible()
    # The mouse picks too, without taking focus from the input.
    await box.type("@")
    await page.get_by_role("option", name="Bob").click()
    now = await state(page)
    assert now["value"] == "@Bob " and now["focused"] and not now["listVisible"]
    for tab in (alice, boris, bob):
        await tab.clean()


async def test_browser_chat_mention_logic(browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    """js/mentions.js on its own: queries, matching (NFC, case, ids), inserting, keeping, splitting."""
    server = start_server()
    tab = await open_tab(browser, server.url)
    result = await tab.page.evaluate("""async () => {
      const m = await import('/js/mentions.js');
      const { charCount, excerpt } = await import('/js/chat.js');
      const people = [{id: 'a1b2c3d4', name: 'Alice'}, {id: '3f9a01bc', name: 'Борис'},
                      {id: 'ffff0000', name: 'Anna Lee'}, {id: '0bad0bad', name: 'Йоко'},
                      {id: '12345678', name: 'Bob'}];
      const names = (list) => list.map((p) => p.name);
      return {
        at: [m.mentionAt('hi @Бо', 6), m.mentionAt('mail@example', 12), m.mentionAt('@', 1), m.mentionAt('no', 2),
             m.mentionAt('@Anna L', 7), m.mentionAt('@a\\nb', 4), m.mentionAt('(@x', 3)],
        upper: names(m.matchPeople(people, 'БОР')),
        nfc: names(m.matchPeople(people, '\\u0418\\u0306')),
        word: names(m.matchPeople(people, 'lee')),
        id: names(m.matchPeople(people, '3f9a')),
        all: names(m.matchPeople(people, '')),
        ranked: names(m.matchPeople(people, 'a')),
        insert: [m.insertMention('hi @Бо', 3, 6, 'Борис'), m.insertMention('@Bo there', 0, 3, 'Bob')],
        kept: m.mentionedIds('@Bobby and @Борис, @Anna Lee!', people),
        gone: m.mentionedIds('nobody here', people),
        split: m.splitMentions('@Anna Lee and @Anna, not mail@Anna or @Annabel',
                               [{id: 'x', name: 'Anna'}, {id: 'y', name: 'Anna Lee'}]),
        count: [charCount('😀a'), charCount('Борис'), charCount('\\ud83d')],
        excerpt: [excerpt('a  b\\nc'), excerpt('😀'.repeat(100), 5)],
      };
    }""")
    assert result["at"] == [{"start": 3, "query": "Бо"}, None, {"start": 0, "query": ""}, None,
                            {"start": 0, "query": "Anna L"}, None, {"start": 1, "query": "x"}]
    assert result["upper"] == ["Борис"]
    assert result["nfc"] == ["Йоко"], "a decomposed Й (И + combining breve) finds the composed name"
    assert result["word"] == ["Anna Lee"]
    assert result["id"] == ["Борис"]
    assert result["all"] == ["Alice", "Борис", "Anna Lee", "Йоко", "Bob"]
    assert result["ranked"] == ["Alice", "Anna Lee"], "names that start with the query, in roster order"
    assert result["insert"] == [{"text": "hi @Борис ", "caret": 10}, {"text": "@Bob there", "caret": 5}]
    assert result["kept"] == ["3f9a01bc", "ffff0000"]
    assert result["gone"] == []
    assert result["split"] == [{"text": "@Anna Lee", "id": "y"}, {"text": " and "}, {"text": "@Anna", "id": "x"},
                               {"text": ", not mail@Anna or @Annabel"}]
    assert result["count"] == [2, 5, 1]
    assert result["excerpt"] == ["a b c", "😀😀😀😀…"]
    await tab.clean()
