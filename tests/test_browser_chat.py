"""In-call chat in a real Chromium: messages, times, Enter and Shift+Enter, the length limit,
@mentions by keyboard, the emoji picker, refusals, untrusted text, the lobby, and looks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import aiohttp
import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from conftest import BROWSER_UA, TOKEN, RunningServer, wait_for
from probe import subprotocols
from browser import CONNECT_TIMEOUT, CSP_PROBE, DESKTOP, PHONE, READY, Tab, open_tab, roster_is

pytestmark = pytest.mark.browser

TIMEOUT_MS = CONNECT_TIMEOUT * 1000
LIMIT = 2000

# Every message on the page as a person sees it.
MESSAGES = """() => [...document.querySelectorAll('#chat-log .chat-message')].map((m) => ({
  name: m.querySelector('.chat-name').textContent,
  text: m.querySelector('.chat-text').textContent,
  time: m.querySelector('.chat-time').textContent,
  own: m.classList.contains('own'),
  mentionsMe: m.classList.contains('mentions-me'),
  marks: [...m.querySelectorAll('.chat-text mark')].map((k) => [k.textContent, k.classList.contains('mention-self')]),
  elements: [...m.querySelectorAll('.chat-text *, .chat-name *')].map((e) => e.tagName.toLowerCase()),
}))"""

# The time as the page should show it: the browser's locale, hours and minutes.
LOCAL_TIME = "(ts) => new Intl.DateTimeFormat(undefined, {hour: 'numeric', minute: '2-digit'}).format(ts)"

# Set before any script of the page runs; a payload that ran would change it.
XSS_PROBE = "window.__xss = 0;"

# Elements that no text a person typed may ever turn into.
INJECTED_TAGS = ("script", "img", "svg", "iframe", "object", "embed", "math", "style", "base", "meta", "link",
                 "form", "input", "details", "video", "audio", "source", "body", "a", "frame", "frameset")

# From here on, record every element of those kinds added anywhere in the document.
WATCH_INJECTIONS = """(tags) => {
  window.__injected = [];
  const wanted = new Set(tags);
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (!(node instanceof Element)) continue;
        for (const el of [node, ...node.querySelectorAll('*')]) {
          const tag = el.tagName.toLowerCase();
          // The app's own: an <audio> per peer, and each roster row's icons, slider and buttons
          // (names go only into its .who and .avatar).
          const chrome = el.closest('#players') || (el.closest('#roster') && !el.closest('.who, .avatar'));
          if (wanted.has(tag) && !chrome) {
            const parent = el.parentElement;
            window.__injected.push(`${tag} in ${parent ? parent.className || parent.id : '?'}`);
          }
        }
      }
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""

INJECTED = """(tags) => {
  const selector = tags.map((t) => '#chat-log ' + t + ', #toasts ' + t + ', #chat-mentions ' + t).join(', ');
  const names = document.querySelectorAll('#roster .name-text *, #roster .initials *').length;
  const inRoster = document.querySelectorAll(
    tags.map((t) => `#roster .who ${t}, #roster .avatar ${t}`).join(', ')).length;
  return {injected: window.__injected, inChat: document.querySelectorAll(selector).length,
          rosterNames: names, inRoster, xss: window.__xss};
}"""


# -- helpers -------------------------------------------------------------------------------

async def chat_tab(browser: Browser, url: str, *, viewport: dict[str, int] = DESKTOP, lang: str = "en",
                   locale: str = "en-US", route: Callable[[WebSocketRoute], Any] | None = None,
                   frames: list[dict[str, Any]] | None = None, dialogs: list[str] | None = None) -> Tab:
    """Like open_tab, with hooks that must be in place before the page opens its socket."""
    context = await browser.new_context(viewport=viewport, reduced_motion="reduce", locale=locale)
    await context.add_init_script(CSP_PROBE)
    await context.add_init_script(XSS_PROBE)
    if route:
        await context.route_web_socket(re.compile(r"/ws$"), route)
    page = await context.new_page()
    tab = Tab(page, context)
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
    if frames is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(_frame(payload))))
    if dialogs is not None:
        async def dismiss(dialog: Any) -> None:
            dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()
        page.on("dialog", dismiss)
    await page.goto(url.replace("/#", f"/?lang={lang}#", 1))
    await page.wait_for_function(READY)
    return tab


def _frame(payload: Any) -> dict[str, Any]:
    text = payload.get("payload") if isinstance(payload, dict) else payload
    try:
        message = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return message if isinstance(message, dict) else {}


def chat_input(page: Page) -> Any:
    return page.get_by_role("combobox", name="Message", exact=True)


async def joined(browser: Browser, server: RunningServer, names: list[str], **options: Any) -> list[Tab]:
    """One tab per name, joined one after another; each sees the chat once everyone is in."""
    tabs = [await chat_tab(browser, server.invite(), **options) for _ in names]
    for tab, name in zip(tabs, names):
        await tab.join(name)
    for tab in tabs:
        await expect(tab.page.locator("#roster .participant")).to_have_count(len(names), timeout=TIMEOUT_MS)
        await expect(chat_input(tab.page)).to_be_visible()
    return tabs


async def send(page: Page, text: str) -> None:
    """Type a message the quick way and send it with Enter."""
    box = chat_input(page)
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


async def messages(page: Page) -> list[dict[str, Any]]:
    return await page.evaluate(MESSAGES)


async def message_count(page: Page, count: int) -> None:
    await expect(page.locator("#chat-log .chat-message")).to_have_count(count, timeout=TIMEOUT_MS)


async def state(page: Page) -> dict[str, Any]:
    """The composer as assistive technology sees it."""
    return await page.evaluate("""() => {
      const box = document.getElementById('chat-input');
      const list = document.getElementById('chat-mentions');
      const active = box.getAttribute('aria-activedescendant');
      return {value: box.value, caret: box.selectionStart, focused: document.activeElement === box,
              expanded: box.getAttribute('aria-expanded'), listVisible: !list.hidden,
              options: [...list.querySelectorAll('[role=option]')]
                .map((o) => o.querySelector('.chat-mention-name').textContent),
              active: active ? document.getElementById(active).querySelector('.chat-mention-name').textContent : null,
              selected: [...list.querySelectorAll('[aria-selected=true]')].map((o) => o.id),
              activeId: active};
    }""")


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


# -- untrusted text ------------------------------------------------------------------------

# From the OWASP XSS Filter Evasion Cheat Sheet, aimed at this page: each one, if it ran, would
# set window.__xss or open an alert.
XSS_MESSAGES = [
    "<script>window.__xss=1;alert(1)</script>",
    "<img src=x onerror=\"window.__xss=2;alert(2)\">",
    "<svg/onload=window.__xss=3;alert(3)>",
    "<svg><script>window.__xss=4</script></svg>",
    "<iframe src=\"javascript:parent.__xss=5;alert(5)\"></iframe>",
    "<iframe srcdoc=\"<script>parent.__xss=6</script>\">",
    "<body onload=window.__xss=7;alert(7)>",
    "<a href=\"javascript:window.__xss=8;alert(8)\">click me</a>",
    "\"><script>window.__xss=9;alert(9)</script>",
    "'><img src=x onerror=window.__xss=10>",
    "<IMG SRC=JaVaScRiPt:alert(11)>",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;"
    "&#97;&#108;&#101;&#114;&#116;&#40;&#49;&#50;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x31&#x33&#x29>",
    "<IMG SRC=\"jav&#x09;ascript:alert(14);\">",
    "\\u003cscript\\u003ewindow.__xss=15\\u003c/script\\u003e",
    "＜script＞window.__xss=16＜/script＞",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=17>",
    "<style>@import 'javascript:alert(18)';body{background:url(\"javascript:alert(18)\")}</style>",
    "${alert(19)}",
    "{{constructor.constructor('window.__xss=20')()}}",
    "<object data=\"javascript:window.__xss=21\"></object>",
    "<embed src=\"data:text/html,<script>parent.__xss=22</script>\">",
    "<details open ontoggle=window.__xss=23>",
    "<input autofocus onfocus=window.__xss=24>",
    "<video><source onerror=\"window.__xss=25\"></video>",
    "<div style=\"background-image:url(javascript:alert(26))\">x</div>",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert(27);\">",
    "<BASE HREF=\"javascript:alert(28);//\">",
    "<<SCRIPT>window.__xss=29;//<</SCRIPT>",
    "<scr<script>ipt>window.__xss=30</scr</script>ipt>",
    "&lt;script&gt;window.__xss=31&lt;/script&gt;",
    "<form><button formaction=javascript:window.__xss=32>x</button></form>",
    "javascript:/*--></title></style></textarea></script></xmp>"
    "<svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(33)//'>",
    "<x onclick=window.__xss=34>@Bob</x> <b>bold</b> <!-- comment -->",
]
# Names are at most 32 characters: payloads that fit, and the rest cut to fit.
XSS_NAMES = [name[:32] for name in (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<svg/onload=alert(3)>",
    "\"><script>alert(4)</script>",
    "<iframe src=javascript:alert(5)>",
    "<body onload=alert(6)>",
    "<a href=\"javascript:alert(7)\">x</a>",
    "<math><mi xlink:href=javascript:alert(8)>",
    "${alert(9)}",
    "&lt;b&gt;entity&lt;/b&gt;",
    "<style>*{color:red}</style>",
    "<details open ontoggle=alert(12)>",
    "＜script＞alert(13)＜/script＞",
    "'><img src=x onerror=alert(14)>",
    "<IMG SRC=JaVaScRiPt:alert(15)>",
    "<object data=javascript:alert()>",
    "<embed src=javascript:alert(17)>",
    "<input autofocus onfocus=alert()>",
    "{{constructor.constructor('1')()}}",
    "<scr<script>ipt>alert(20)</script>",
)]


async def test_browser_chat_xss_corpus_renders_literally_and_runs_nothing(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(capacity=3)
    dialogs: list[str] = []
    alice = await chat_tab(browser, server.invite(), dialogs=dialogs)
    bob = await chat_tab(browser, server.invite(), dialogs=dialogs)
    await alice.join("Alice")
    await bob.join("Bob")
    await roster_is(bob, ["Alice", "Bob (you)"])
    for tab in (alice, bob):
        await tab.page.evaluate(WATCH_INJECTIONS, list(INJECTED_TAGS))

    # Messages typed into the page.
    for payload in XSS_MESSAGES:
        await send(alice.page, payload)
    for tab in (alice, bob):
        await message_count(tab.page, len(XSS_MESSAGES))

    # Names, from a participant that renames itself through the corpus and speaks under each name.
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, protocols=subprotocols(TOKEN),
                                      headers={"User-Agent": BROWSER_UA, "Origin": server.url.rstrip("/")})
        await ws.receive_json()
        bob_id = await bob.page.evaluate("window.secretCall.selfId()")
        for number, name in enumerate(XSS_NAMES):
            await ws.send_json({"type": "name", "name": name})
            await ws.send_json({"type": "chat", "text": f"@Bob {XSS_MESSAGES[number]}", "mentions": [bob_id]})
        total = len(XSS_MESSAGES) + len(XSS_NAMES)
        for tab in (alice, bob):
            await message_count(tab.page, total)
        await roster_is(bob, ["Alice", "Bob (you)", XSS_NAMES[-1]])

        # The mention list shows the last name as text too.
        box = chat_input(bob.page)
        await box.focus()
        await box.type("@")
        await expect(bob.page.get_by_role("option", name=XSS_NAMES[-1], exact=True)).to_be_visible()
        await box.press("Escape")
        await box.fill("")
        await ws.close()

    for tab in (alice, bob):
        shown = await messages(tab.page)
        assert [m["text"] for m in shown[:len(XSS_MESSAGES)]] == XSS_MESSAGES
        assert [m["name"] for m in shown[:len(XSS_MESSAGES)]] == ["Alice"] * len(XSS_MESSAGES)
        assert [m["name"] for m in shown[len(XSS_MESSAGES):]] == XSS_NAMES
        assert [m["text"] for m in shown[len(XSS_MESSAGES):]] == [f"@Bob {p}" for p in XSS_MESSAGES[:len(XSS_NAMES)]]
        for message in shown:
            assert set(message["elements"]) <= {"mark"}, message
        found = await tab.page.evaluate(INJECTED, list(INJECTED_TAGS))
        assert found == {"injected": [], "inChat": 0, "rosterNames": 0, "inRoster": 0, "xss": 0}
    assert all(m["mentionsMe"] for m in (await messages(bob.page))[len(XSS_MESSAGES):])
    assert dialogs == []
    await alice.clean()
    await bob.clean()


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


async def test_browser_chat_screenshots(browser: Browser, start_server: Callable[..., RunningServer],
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
