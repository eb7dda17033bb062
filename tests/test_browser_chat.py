"""In-call chat in a real Chromium: messages, times, Enter and Shift+Enter, the length limit,
the emoji picker, refusals, the lobby and Russian (mentions and untrusted text have their own files;
the pictures of a busy chat come from `make screenshots`, tests/screenshots.py)."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import pytest
from playwright.async_api import Browser, WebSocketRoute, expect

from conftest import RunningServer
from browser import roster_is
from chat_page import LIMIT, LOCAL_TIME, TIMEOUT_MS, chat_input, chat_tab, joined, message_count, messages, send

pytestmark = pytest.mark.browser

# -- exchanging messages -------------------------------------------------------------------

async def test_browser_chat_two_pages_exchange_messages_with_names_and_local_times(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    frames: list[dict[str, Any]] = []
    alice = await chat_tab(browser, server.invite(), frames=frames)
    bob = await chat_tab(browser, server.invite(), locale="de-DE")
    await alice.join("Alice")
    await bob.join("Bob")
    await roster_is(alice, ["Alice (you)", "Bob"])
    log = alice.page.get_by_role("log")
    await expect(log).to_have_attribute("aria-live", "polite")
    await expect(alice.page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    await expect(alice.page.get_by_role("button", name="Emoji", exact=True)).to_be_visible()

    await send(alice.page, "Hello Bob — привет 👋")
    await send(bob.page, "Hi Alice")
    for tab in (alice, bob):
        await message_count(tab.page, 2)
    relayed = [f for f in frames if f.get("type") == "chat"]
    assert [f["text"] for f in relayed] == ["Hello Bob — привет 👋", "Hi Alice"]
    for tab, own_name in ((alice, "Alice"), (bob, "Bob")):
        shown = await messages(tab.page)
        assert [(m["name"], m["text"]) for m in shown] == [
            ("Alice", "Hello Bob — привет 👋"), ("Bob", "Hi Alice")]
        assert [m["own"] for m in shown] == [m["name"] == own_name for m in shown]
        # The server's ts, in this browser's own locale (en-US: "2:05 PM", de-DE: "14:05").
        for message, frame in zip(shown, relayed):
            assert message["time"] == await tab.page.evaluate(LOCAL_TIME, frame["ts"])
    assert abs(relayed[0]["ts"] - await alice.page.evaluate("Date.now()")) < 60_000
    assert re.fullmatch(r"\d{1,2}:\d\d", (await messages(bob.page))[0]["time"])
    assert re.fullmatch(r"\d{1,2}:\d\d\s[AP]M", (await messages(alice.page))[0]["time"])

    # One's own messages sit at the right in a bubble of their own colour; the others' at the left.
    boxes = await alice.page.evaluate("""() => {
      const log = document.getElementById('chat-log').getBoundingClientRect();
      return [...document.querySelectorAll('#chat-log .chat-text')].map((t) => {
        const r = t.getBoundingClientRect();
        return {left: r.left - log.left, right: log.right - r.right, bg: getComputedStyle(t).backgroundImage,
                animation: getComputedStyle(t.parentElement).animationName};
      });
    }""")
    own, other = boxes
    assert own["right"] < 20 < own["left"] and other["left"] < 20 < other["right"]
    assert own["bg"] != other["bg"]
    assert own["animation"] == "none", "prefers-reduced-motion: no animation"

    # Shift+Enter makes a new line, Enter sends; Enter on nothing sends nothing.
    box = chat_input(alice.page)
    await box.press("Enter")
    await box.type("line one")
    await box.press("Shift+Enter")
    await box.type("line two")
    await expect(box).to_have_value("line one\nline two")
    await box.press("Enter")
    await expect(box).to_have_value("")
    await message_count(bob.page, 3)
    assert (await messages(bob.page))[2]["text"] == "line one\nline two"
    await alice.clean()
    await bob.clean()


async def test_browser_chat_follows_new_messages_unless_scrolled_up(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    alice, bob = await joined(browser, server, ["Alice", "Bob"])
    for number in range(30):
        await send(bob.page, f"message {number}\nwith a second line")
    await message_count(alice.page, 30)
    log = alice.page.locator("#chat-log")
    at_end = "(l) => l.scrollHeight - l.scrollTop - l.clientHeight < 2"
    assert await log.evaluate("(l) => l.scrollHeight > l.clientHeight * 2"), "enough messages to scroll"
    assert await log.evaluate(at_end)
    new_messages = alice.page.get_by_role("button", name="New messages")
    await expect(new_messages).to_be_hidden()

    # Scrolled up to read: the list stays put and offers a way down.
    await log.evaluate("(l) => { l.scrollTop = 0; }")
    await send(bob.page, "are you there?")
    await message_count(alice.page, 31)
    await expect(new_messages).to_be_visible()
    assert await log.evaluate("(l) => l.scrollTop") == 0
    await new_messages.click()
    await expect(new_messages).to_be_hidden()
    assert await log.evaluate(at_end)
    # Her own message always brings her to the end.
    await log.evaluate("(l) => { l.scrollTop = 0; }")
    await send(alice.page, "yes")
    await message_count(alice.page, 32)
    assert await log.evaluate(at_end)
    await alice.clean()
    await bob.clean()


async def test_browser_chat_length_counter_warns_and_refuses_over_the_limit(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    (alice,) = await joined(browser, server, ["Alice"])
    page = alice.page
    box = chat_input(page)
    counter = page.locator("#chat-counter")
    send_button = page.get_by_role("button", name="Send", exact=True)

    await box.fill("a" * 1799)
    await expect(counter).to_contain_text("1799/2000")
    await expect(counter).not_to_have_class(re.compile("warn|over"))
    await box.fill("a" * 1800)
    await expect(counter).to_have_class(re.compile(r"\bwarn\b"))
    await expect(send_button).to_be_enabled()

    # Over the limit: red, explained, and neither the button nor Enter sends.
    await box.fill("b" * (LIMIT + 1))
    await expect(counter).to_contain_text("2001/2000")
    await expect(counter).to_have_class(re.compile(r"\bover\b"))
    await expect(box).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#chat-too-long")).to_have_text("1 over the limit — shorten the message")
    await expect(send_button).to_be_disabled()
    await box.press("Enter")
    await expect(box).to_have_value("b" * (LIMIT + 1))

    # The limit counts characters as the server does (code points), so 2000 emoji are fine.
    await box.fill("😀" * LIMIT)
    await expect(counter).to_contain_text("2000/2000")
    await expect(box).not_to_have_attribute("aria-invalid", "true")
    await box.press("End")
    await box.press("Enter")
    await message_count(page, 1)
    assert (await messages(page))[0]["text"] == "😀" * LIMIT
    await expect(counter).to_contain_text("0/2000")
    await alice.clean()


async def test_browser_chat_server_refusals_show_as_toasts(browser: Browser,
                                                           start_server: Callable[..., RunningServer]) -> None:
    """The server's refusals of a chat message (forced here) each show a toast and keep the words."""
    server = start_server()

    def route(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            data = json.loads(message)
            if data.get("type") == "chat" and data["text"].startswith("refuse:"):
                code = data["text"].removeprefix("refuse:")
                ws.send(json.dumps({"type": "error", "code": code, "message": "refused", "id": data["id"]}))
            elif data.get("type") == "chat" and data["text"] == "while another is refused":
                # An error for some other message arrives while this chat is pending: not a chat refusal.
                ws.send(json.dumps({"type": "error", "code": "rate-limited", "message": "refused", "id": "x1"}))
                upstream.send(message)
            else:
                upstream.send(message)
        ws.on_message(from_page)

    alice = await chat_tab(browser, server.invite(), route=route)
    await alice.join("Alice")
    page = alice.page
    box = chat_input(page)
    expected = {
        "too-long": "The server refused the message: it is over 2000 characters.",
        "rate-limited": "Message not sent: too many at once. Wait a moment, then send it again.",
        "not-joined": "Message not sent: you are not in the call right now.",
        "bad-message": "Message not sent: the server could not read it.",
    }
    for code, toast in expected.items():
        await box.fill(f"refuse:{code}")
        await box.press("Enter")
        await expect(page.locator("#toasts .toast-error").filter(has_text=toast)).to_be_visible()
        # The words are not lost: they come back into the composer.
        await expect(box).to_have_value(f"refuse:{code}")
    await send(page, "this one goes through")
    await message_count(page, 1)
    await send(page, "while another is refused")
    await message_count(page, 2)
    # The other message's error shows as itself; the chat message is not taken back into the composer.
    await expect(page.locator("#toasts .toast-error").filter(has_text="the app slowed down")).to_be_visible()
    await expect(box).to_have_value("")
    await alice.clean()


# -- emoji ---------------------------------------------------------------------------------

async def test_browser_chat_emoji_picker_by_keyboard_and_mouse(browser: Browser,
                                                               start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    (alice,) = await joined(browser, server, ["Alice"])
    page = alice.page
    box = chat_input(page)
    toggle = page.get_by_role("button", name="Emoji", exact=True)
    picker = page.get_by_role("dialog", name="Emoji")
    await box.fill("Hello world")
    await box.press("End")
    for _ in range(len(" world")):
        await box.press("ArrowLeft")

    # Keyboard only: Tab reaches the button, Enter opens, arrows move, Enter inserts at the caret.
    await box.press("Tab")
    await expect(toggle).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(picker).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    buttons = picker.get_by_role("grid").get_by_role("button")
    await expect(buttons).to_have_count(48)
    labels = await buttons.evaluate_all("(bs) => bs.map((b) => b.getAttribute('aria-label'))")
    assert all(labels) and len(set(labels)) == 48
    await expect(buttons.first).to_be_focused()
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowDown")
    await expect(picker.get_by_role("button", name="Surprised")).to_be_focused()
    await page.keyboard.press("ArrowUp")
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("ArrowDown")
    await expect(picker.get_by_role("button", name="Party face")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(box).to_have_value("Hello🥳 world")
    # The mouse too; the picker stays open for more.
    await picker.get_by_role("button", name="Thumbs up").click()
    await expect(box).to_have_value("Hello🥳👍 world")

    # Closed with Esc: focus back in the input, caret after what was inserted, the chat still open.
    await page.keyboard.press("Escape")
    await expect(picker).to_be_hidden()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(box).to_be_focused()
    assert await box.evaluate("(b) => b.selectionStart") == len("Hello🥳👍".encode("utf-16-le")) // 2
    await expect(page.locator("#chat-card")).to_have_attribute("data-collapsed", "false")

    # Closed with its close button.
    await toggle.click()
    await expect(picker).to_be_visible()
    await picker.get_by_role("button", name="Close").click()
    await expect(picker).to_be_hidden()
    await expect(box).to_be_focused()

    # Closed with a click outside it.
    await toggle.click()
    await expect(picker).to_be_visible()
    await page.locator("#chat-title").click()
    await expect(picker).to_be_hidden()
    await expect(box).to_be_focused()

    await box.press("Enter")
    await message_count(page, 1)
    assert (await messages(page))[0]["text"] == "Hello🥳👍 world"
    await alice.clean()


# -- who gets the chat, and for how long ----------------------------------------------------

async def test_browser_chat_lobby_gets_nothing_and_history_lasts_one_call(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(capacity=3)
    lobby_frames: list[dict[str, Any]] = []
    alice, bob = await joined(browser, server, ["Alice", "Bob"])
    carol = await chat_tab(browser, server.invite(), frames=lobby_frames)
    await roster_is(carol, ["Alice", "Bob"])
    await expect(carol.page.locator("#chat-card")).to_be_hidden()

    await send(alice.page, "only for the call")
    await message_count(bob.page, 1)
    # The roster change after it reaches the lobby too, so anything sent before it would have as well.
    await bob.leave_button.click()
    await roster_is(carol, ["Alice"])
    assert [f for f in lobby_frames if f.get("type") == "chat"] == []
    assert await carol.page.locator("#chat-log .chat-message").count() == 0
    # Leaving cleared Bob's chat.
    await expect(bob.page.locator("#chat-card")).to_be_hidden()
    assert await bob.page.locator("#chat-log .chat-message").count() == 0

    # A joiner sees what is said from then on, not before.
    await carol.join("Carol")
    await expect(chat_input(carol.page)).to_be_visible()
    await expect(carol.page.get_by_text("No messages yet")).to_be_visible()
    await bob.join()
    await roster_is(alice, ["Alice (you)", "Carol", "Bob"])
    await send(carol.page, "hello, I am new")
    for tab in (alice, bob, carol):
        await message_count(tab.page, 2 if tab is alice else 1)
    assert [m["text"] for m in await messages(bob.page)] == ["hello, I am new"]
    for tab in (alice, bob, carol):
        await tab.clean()


# -- languages and looks -------------------------------------------------------------------

async def test_browser_chat_in_russian(browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await chat_tab(browser, server.invite(), lang="ru", locale="ru-RU")
    await tab.page.get_by_label("Имя", exact=True).fill("Борис")
    await tab.page.get_by_role("button", name="Войти", exact=True).click()
    page = tab.page
    box = page.get_by_role("combobox", name="Сообщение", exact=True)
    await expect(box).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.get_by_role("button", name="Отправить", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Эмодзи", exact=True).click()
    picker = page.get_by_role("dialog", name="Эмодзи")
    await expect(picker.get_by_role("button", name="Нравится", exact=True)).to_be_visible()
    await page.keyboard.press("Escape")
    await box.fill("x" * 2001)
    await expect(page.locator("#chat-too-long")).to_have_text("Превышение на 1 симв. — сократите сообщение")
    await tab.clean()
