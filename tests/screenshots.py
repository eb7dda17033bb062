"""`make screenshots`: pictures of the page in a busy call, for people to look at (artifacts/).

Not a test, and not run by `make test` (pytest collects test_*.py only): it drives the same real
server and Chromium through the tests' fixtures and checks only what it needs to take each picture.
What the pictures show is tested in the browser tests (the chat, mentions, unread count, toasts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from playwright.async_api import Browser, expect

from conftest import RunningServer
from browser import PHONE, Tab
from chat_page import TIMEOUT_MS, chat_input, joined, message_count, send

pytestmark = pytest.mark.browser


async def test_screenshots_of_a_busy_chat(browser: Browser, start_server: Callable[..., RunningServer],
                                        artifacts: Path) -> None:
    server = start_server(capacity=3)
    alice, boris, bob = await joined(browser, server, ["Alice", "Борис", "Bob"])

    async def mention(tab: Tab, start: str, rest: str) -> None:
        box = chat_input(tab.page)
        await box.type(start)
        await box.press("Enter")
        await box.type(rest)
        await box.press("Enter")
        await expect(box).to_have_value("")

    await send(alice.page, "Hi both! Can you hear me clearly?")
    await mention(boris, "@Ali", "yes, loud and clear 👍")
    await send(bob.page, "Same here. The echo is gone since I switched to headphones 🎧")
    await mention(alice, "@Бор", "could you share the notes from Monday?")
    await send(boris.page, "Sure — sending them right after the call.\nAlso: the demo moved to Thursday.")
    await mention(bob, "@Al", "🎉 thanks for setting this up")
    for tab in (alice, boris, bob):
        await message_count(tab.page, 6)

    page = alice.page
    # The "joined" toasts go by themselves; the pictures are of the chat.
    for tab in (alice, boris):
        await expect(tab.page.locator("#toasts .toast")).to_have_count(0, timeout=TIMEOUT_MS)
    await chat_input(page).fill("Great, see you ")
    await page.get_by_role("button", name="Emoji", exact=True).click()
    await expect(page.get_by_role("dialog", name="Emoji")).to_be_visible()
    await page.screenshot(path=artifacts / "chat-desktop.png", animations="disabled")
    await page.keyboard.press("Escape")
    await chat_input(page).type("@")
    await expect(page.get_by_role("listbox")).to_be_visible()
    await page.screenshot(path=artifacts / "chat-mentions-desktop.png", animations="disabled")
    await page.keyboard.press("Escape")

    phone = boris.page
    await phone.set_viewport_size(PHONE)
    await phone.locator("#chat-card").evaluate("(card) => card.scrollIntoView({block: 'end'})")
    await phone.screenshot(path=artifacts / "chat-phone-messages.png", animations="disabled")
    await phone.get_by_role("button", name="Emoji", exact=True).click()
    await expect(phone.get_by_role("dialog", name="Emoji")).to_be_visible()
    await phone.locator("#chat-card").evaluate("(card) => card.scrollIntoView({block: 'end'})")
    await phone.screenshot(path=artifacts / "chat-phone.png", animations="disabled")
    await phone.keyboard.press("Escape")
    await phone.get_by_role("button", name="Hide chat").click()
    await mention(bob, "@Бор", "are the notes on the shared drive?")
    await expect(phone.get_by_role("button", name="Show chat (1 unread)")).to_be_visible()
    await expect(phone.locator("#toasts").get_by_text("Bob mentioned you")).to_be_visible()
    await phone.locator("#chat-card").evaluate("(card) => card.scrollIntoView({block: 'end'})")
    await phone.screenshot(path=artifacts / "chat-phone-collapsed.png", animations="disabled")
    for tab in (alice, boris, bob):
        await tab.clean()
