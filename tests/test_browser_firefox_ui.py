"""The page in Debian's Firefox ESR (WebDriver BiDi through Playwright 1.57): chat with Chromium on
the other end, mentions, the emoji picker, the sound check, privacy mode, the settings, the modals,
the keyboard-only path, no console errors or CSP violations, and screenshots beside Chromium's.

The Chromium scenarios that need nothing of Chromium's own run here as they are, with Firefox
passed in as their browser: the same steps, the same assertions, no copy to drift apart.

What Firefox does differently, found while writing these:
- A Playwright screenshot inserts `<style>body {}</style>` (its screenshotter syncs animations
  that way in Firefox only). The page's CSP blocks it, and Firefox logs a console error and fires
  a securitypolicyviolation for it: that is the driver, not the page. shoot() below checks the tab
  is clean *before* each screenshot and then forgets exactly that one report.
- Playwright's fill() in Firefox (BiDi) types its text key by key, so a "\n" in it is an Enter
  keydown and the chat sends there; in Chromium fill() sets the value at once. A person's paste
  fires no keydown, so this is the driver: line breaks here are typed with Shift+Enter.
- Playwright reports no WebSocket frames from Firefox over BiDi (page.on("websocket") stays
  silent), so the Chromium chat scenario that reads the relayed frames cannot run here; the
  exchange is proven by what each page shows instead (the first test).
- For the same reason fill() is slow in Firefox: 2000 emoji take over 30 s, so the chat's
  length-limit scenario is left to Chromium (the counter is plain JS with no browser difference).
- Tab past the page's last control takes focus out to the (headless) browser's own UI; when Tab
  brings it back, document.hasFocus() stays false and Enter or Space on a focused button fires
  keydown/keyup but no click. Chromium's keyboard scenario starts with blur() and walks there
  (in Firefox the walk starts after the blurred field), so its Firefox twin starts in the page.
- Headless Firefox has a fine pointer, so the emoji picker keeps its 8 columns (css/touch.css).
- Looked at the firefox-*.png pictures: the same layout as Chromium's, glass and all; the emoji
  (picker, codes) are drawn in colour.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable

import pytest
from playwright.async_api import Browser, expect

import test_browser_call as call_scenarios
import test_browser_chat as chat_scenarios
import test_browser_chat_mentions as mention_scenarios
import test_browser_soundcheck as soundcheck_scenarios
from conftest import RunningServer, free_port, wait_for
from browser import CONNECT_TIMEOUT, DESKTOP, PHONE, Tab, hearing, joined_call, open_tab, roster_is
from chat_page import chat_input, chat_tab, message_count, messages, send

pytestmark = pytest.mark.browser

TIMEOUT_MS = CONNECT_TIMEOUT * 1000
# The CSP hash Firefox names for Playwright's `<style>body {}</style>`: base64(sha256("body {}")).
DRIVER_STYLE_HASH = "sha256-YjaKGiklmzC6wjXA513HAMmzus8VE61XCOT+SmwNZWA="
FORGET_DRIVER_STYLE = """() => {
  window.__cspViolations = (window.__cspViolations || []).filter((v) => v !== 'style-src-elem inline');
}"""


async def shoot(tab: Tab, path: Path, *, full_page: bool = False) -> None:
    """A screenshot of a page known clean right before it; the driver's own CSP report is then dropped."""
    await tab.clean()
    await tab.page.screenshot(path=path, animations="disabled", full_page=full_page)
    # Only the screenshot ran since clean(): an inline <style> blocked now is the driver's (see above).
    tab.errors[:] = [error for error in tab.errors if DRIVER_STYLE_HASH not in error]
    await tab.page.evaluate(FORGET_DRIVER_STYLE)


# -- chat ----------------------------------------------------------------------------------

async def test_firefox_chat_both_ways_with_chromium_with_mentions_and_emoji(
        browser: Browser, firefox: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    alice = await chat_tab(browser, server.invite())
    fox = await chat_tab(firefox, server.invite())
    await alice.join("Alice")
    await fox.join("Фокс")
    await roster_is(alice, ["Alice (you)", "Фокс"])
    await roster_is(fox, ["Alice", "Фокс (you)"])

    await send(alice.page, "Hello from Chromium — привет 👋")
    # A line break typed as a person does (see the note at the top on fill() and "\n").
    box = chat_input(fox.page)
    await box.type("Hello from Firefox")
    await box.press("Shift+Enter")
    await box.type("second line")
    await box.press("Enter")
    for tab in (alice, fox):
        await message_count(tab.page, 2)
        shown = await messages(tab.page)
        assert [(m["name"], m["text"]) for m in shown] == [
            ("Alice", "Hello from Chromium — привет 👋"), ("Фокс", "Hello from Firefox\nsecond line")]

    # A mention picked from the list in Firefox highlights on Chromium, and the other way round.
    await box.type("@Al")
    await expect(fox.page.get_by_role("listbox", name="People in the call")).to_be_visible()
    await box.press("Enter")
    await box.type("can you see this?")
    await box.press("Enter")
    await message_count(alice.page, 3)
    third = (await messages(alice.page))[2]
    assert third["text"] == "@Alice can you see this?" and third["mentionsMe"]
    assert third["marks"] == [["@Alice", True]]
    chromium_box = chat_input(alice.page)
    await chromium_box.type("@Фо")
    await chromium_box.press("Tab")
    await chromium_box.type("yes")
    await chromium_box.press("Enter")
    await message_count(fox.page, 4)
    fourth = (await messages(fox.page))[3]
    assert fourth["text"] == "@Фокс yes" and fourth["mentionsMe"] and fourth["marks"] == [["@Фокс", True]]

    # The emoji picker in Firefox: its text reaches Chromium as typed.
    await fox.page.get_by_role("button", name="Emoji", exact=True).click()
    picker = fox.page.get_by_role("dialog", name="Emoji")
    await picker.get_by_role("button", name="Rocket").click()
    await fox.page.keyboard.press("Escape")
    await expect(picker).to_be_hidden()
    await expect(box).to_be_focused()
    await box.press("Enter")
    await message_count(alice.page, 5)
    assert (await messages(alice.page))[4]["text"] == "🚀"
    for tab in (alice, fox):
        await tab.clean()


async def test_firefox_chat_emoji_picker_by_keyboard_and_mouse(
        firefox: Browser, start_server: Callable[..., RunningServer]) -> None:
    await chat_scenarios.test_browser_chat_emoji_picker_by_keyboard_and_mouse(firefox, start_server)


async def test_firefox_chat_mentions_by_keyboard_highlight_and_toast(
        firefox: Browser, start_server: Callable[..., RunningServer]) -> None:
    await mention_scenarios.test_browser_chat_mentions_by_keyboard_highlight_and_toast(firefox, start_server)


# -- the sound check against the server's aiortc echo --------------------------------------

async def test_firefox_soundcheck_plays_my_voice_back(firefox: Browser, start_server: Callable[..., RunningServer],
                                                      artifacts: Path) -> None:
    server = start_server()
    tab = await open_tab(firefox, server.invite())
    await tab.page.get_by_role("button", name="Sound check").click()
    stop = tab.page.get_by_role("button", name="Stop sound check")
    await expect(stop).to_have_attribute("aria-pressed", "true")
    await expect(tab.page.locator("#sound-check-hint")).to_contain_text("Only you hear this", timeout=TIMEOUT_MS)

    async def echo_heard() -> bool:
        stats = await tab.page.evaluate(soundcheck_scenarios.ECHO_STATS)
        return stats["bytes"] > 0 and stats["level"] > 0.001
    await wait_for(echo_heard, timeout=CONNECT_TIMEOUT, interval=0.2, message="Firefox hears its own echo")
    room = server.server.state.room
    assert server.call(lambda: len(room.echo.sessions)) == 1
    await shoot(tab, artifacts / "firefox-sound-check-desktop.png")
    await stop.click()
    await expect(tab.page.get_by_role("button", name="Sound check")).to_have_attribute("aria-pressed", "false")
    await wait_for(lambda: server.call(lambda: not room.echo.sessions), timeout=10, message="the server's echo ends")
    await tab.clean()


async def test_firefox_soundcheck_refused_when_busy(firefox: Browser,
                                                   start_server: Callable[..., RunningServer]) -> None:
    await soundcheck_scenarios.test_soundcheck_is_refused_clearly_when_the_server_is_busy(firefox, start_server)


# -- privacy mode, settings, modals, keyboard ---------------------------------------------

async def test_firefox_privacy_mode_fails_closed_on_a_blocked_port_and_relays_otherwise(
        firefox: Browser, start_server: Callable[..., RunningServer]) -> None:
    """Firefox refuses a TURN URL on a port of its blocked list ("turn:127.0.0.1:9" throws
    "uses a port that is blocked" from new RTCPeerConnection), where Chromium takes it: the
    Chromium privacy scenario's relay on port 9 cannot run here. Firefox's page must then refuse
    to connect and say why; with a relay on an ordinary port, the links are relay only."""
    for port, relays in ((9, False), (free_port(socket.SOCK_DGRAM), True)):
        server = start_server(capacity=2, ice_servers=(
            {"urls": f"turn:127.0.0.1:{port}", "username": "u", "credential": "p"},))
        alice = await open_tab(firefox, server.invite())
        await alice.page.get_by_role("button", name="Settings").click()
        await alice.page.get_by_label("Privacy mode: relay only").check()
        await alice.page.get_by_role("button", name="Save").click()
        await alice.page.get_by_label("Name", exact=True).fill("Alice")
        await alice.join_button.click()
        if not relays:
            await expect(alice.page.locator("#form-message")).to_contain_text("the browser refused this server's relay")
            await expect(alice.join_button).to_be_enabled()
            assert server.call(lambda: len(server.server.state.room.participants)) == 0
            await alice.clean()
            continue
        await expect(alice.leave_button).to_be_visible(timeout=TIMEOUT_MS)
        bob = await open_tab(firefox, server.invite())
        await bob.join("Bob")
        b_id = await bob.self_id()
        policy = f"window.secretCall.iceTransportPolicy('{b_id}')"
        assert await wait_for(lambda: alice.page.evaluate(policy), timeout=CONNECT_TIMEOUT,
                              message="Alice's link to Bob") == "relay"
        assert await bob.page.evaluate(f"window.secretCall.iceTransportPolicy('{await alice.self_id()}')") == "all"
        await alice.clean()


async def test_firefox_settings_validate_stun(firefox: Browser, start_server: Callable[..., RunningServer]) -> None:
    await call_scenarios.test_browser_call_settings_validate_stun(firefox, start_server)


async def test_firefox_russian_and_the_language_switch(firefox: Browser,
                                                       start_server: Callable[..., RunningServer]) -> None:
    await call_scenarios.test_browser_call_russian_and_the_language_switch(firefox, start_server)


async def test_firefox_wrong_token_modal_then_fix_the_token(firefox: Browser,
                                                            start_server: Callable[..., RunningServer]) -> None:
    await call_scenarios.test_browser_call_wrong_token_modal_then_fix_the_token(firefox, start_server)


async def test_firefox_keyboard_only(firefox: Browser, start_server: Callable[..., RunningServer]) -> None:
    """The keyboard path in Firefox, started inside the page (see the note at the top on why the
    Chromium scenario's Tab walk from nowhere cannot run here)."""
    server = start_server()
    tab = await open_tab(firefox, server.invite())
    page = tab.page
    active = "() => document.activeElement.id || document.activeElement.textContent.trim()"
    await page.get_by_label("Name", exact=True).focus()
    # Back to the settings button, into its dialog: focus moves in, Tab stays in, Esc brings it back.
    await page.keyboard.press("Shift+Tab")
    assert await page.evaluate(active) == "settings-button"
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Settings")
    await expect(dialog).to_be_visible()
    inside = "() => document.getElementById('settings-modal').contains(document.activeElement)"
    for _ in range(7):
        await page.keyboard.press("Tab")
        assert await page.evaluate(inside)
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert await page.evaluate(active) == "settings-button"
    # Forward: the name, the token, Join; Enter joins and focus lands on Leave.
    await page.keyboard.press("Tab")
    await page.keyboard.type("Keyboard Kate")
    await page.keyboard.press("Tab")
    assert await page.evaluate(active) == "token"
    await page.keyboard.press("Tab")
    assert await page.evaluate(active) == "join-button"
    await page.keyboard.press("Enter")
    await expect(tab.leave_button).to_be_focused(timeout=TIMEOUT_MS)
    await tab.clean()


async def test_firefox_full_room_then_try_again(browser: Browser, firefox: Browser,
                                               start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    """The full-room dialog in Firefox, and its other way out: "Try again" once a seat is free."""
    server = start_server(capacity=2)
    alice, _ = await joined_call(browser, server, ["Alice", "Bob"])
    carol = await open_tab(firefox, server.invite())
    # Enter in the name field submits the join form, as in Chromium.
    await carol.page.get_by_label("Name", exact=True).press_sequentially("Carol")
    await carol.page.keyboard.press("Enter")
    dialog = carol.page.get_by_role("dialog", name="The call is full")
    await expect(dialog.get_by_role("button", name="Try again")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(dialog).to_contain_text("All 2 places")
    await shoot(carol, artifacts / "firefox-full-desktop.png")
    await alice.leave_button.click()
    await dialog.get_by_role("button", name="Try again").click()
    await expect(dialog).to_be_hidden()
    await expect(carol.leave_button).to_be_visible(timeout=TIMEOUT_MS)
    await roster_is(carol, ["Bob", "Carol (you)"])
    await hearing(carol, 1)
    await carol.clean()


# -- looks ---------------------------------------------------------------------------------

async def test_firefox_screenshots_beside_chromium(browser: Browser, firefox: Browser,
                                                   start_server: Callable[..., RunningServer],
                                                   artifacts: Path) -> None:
    """Firefox's pictures of the same states as Chromium's (idle, settings, in the call, chat)."""
    server = start_server(capacity=3)
    fox = await chat_tab(firefox, server.invite())
    await fox.page.get_by_label("Name", exact=True).fill("Alice")
    await shoot(fox, artifacts / "firefox-idle-desktop.png")
    await fox.page.get_by_role("button", name="Settings").click()
    await expect(fox.page.get_by_role("dialog", name="Settings")).to_be_visible()
    await shoot(fox, artifacts / "firefox-settings-desktop.png")
    await fox.page.keyboard.press("Escape")
    await fox.page.set_viewport_size(PHONE)
    await shoot(fox, artifacts / "firefox-idle-phone.png")
    await fox.page.set_viewport_size(DESKTOP)

    await fox.join()
    boris = await chat_tab(browser, server.invite())
    await boris.join("Борис")
    bob = await chat_tab(firefox, server.invite())
    await bob.join("Bob")
    await hearing(fox, 2)
    await send(boris.page, "Hi! Chromium here, can you hear me?")
    await send(bob.page, "Firefox too 🎧")
    await message_count(fox.page, 2)
    await expect(fox.page.locator("#toasts .toast")).to_have_count(0, timeout=TIMEOUT_MS)
    await shoot(fox, artifacts / "firefox-in-call-desktop.png")
    await chat_input(fox.page).fill("Great, see you ")
    await fox.page.get_by_role("button", name="Emoji", exact=True).click()
    await expect(fox.page.get_by_role("dialog", name="Emoji")).to_be_visible()
    await shoot(fox, artifacts / "firefox-chat-desktop.png")
    await fox.page.keyboard.press("Escape")
    await chat_input(fox.page).type("@")
    await expect(fox.page.get_by_role("listbox")).to_be_visible()
    await shoot(fox, artifacts / "firefox-chat-mentions-desktop.png")
    await fox.page.keyboard.press("Escape")
    await fox.page.set_viewport_size(PHONE)
    await shoot(fox, artifacts / "firefox-in-call-phone.png", full_page=True)
    for tab in (fox, boris, bob):
        await tab.clean()
