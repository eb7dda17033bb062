"""The browser client in a real Chromium: joining, the mesh, modals, keyboard use, languages, looks."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Callable

import pytest
from playwright.async_api import Browser, expect

from conftest import CHROMIUM, CHROMIUM_ARGS, RunningServer, require_tool, wait_for

from browser import CONNECT_TIMEOUT, DESKTOP, PHONE, READY, hearing, joined_call, open_tab, receiving, roster_is, silenced

pytestmark = pytest.mark.browser

# -- calls ---------------------------------------------------------------------------------

async def test_browser_call_two_pages_hear_each_other(browser: Browser, start_server: Callable[..., RunningServer],
                                                      artifacts: Path) -> None:
    server = start_server()
    alice = await open_tab(browser, server.invite(), reduced_motion="no-preference")
    bob = await open_tab(browser, server.invite(), reduced_motion="no-preference")
    await expect(alice.join_button).to_be_visible()
    await alice.page.get_by_label("Name", exact=True).fill("Alice")
    await alice.page.screenshot(path=artifacts / "idle-desktop.png", animations="disabled")
    await alice.page.set_viewport_size(PHONE)
    await alice.page.screenshot(path=artifacts / "idle-phone.png", animations="disabled")
    await alice.page.set_viewport_size(DESKTOP)

    await alice.join()
    await bob.join("Bob")
    await hearing(alice, 1)
    await hearing(bob, 1)
    assert await alice.roster() == ["Alice (you)", "Bob"]
    assert await bob.roster() == ["Alice", "Bob (you)"]
    await expect(alice.page.locator("#status-text")).to_have_text("Connected to the room")
    await expect(alice.page.get_by_text("Bob joined")).to_be_visible()
    # The beeping fake microphones light both speaking indicators.
    for tab in (alice, bob):
        for selector in ("#roster .participant:not(.self).speaking", "#roster .participant.self.speaking"):
            await tab.page.wait_for_function(f"() => document.querySelector('{selector}')", polling=100,
                                             timeout=CONNECT_TIMEOUT * 1000)

    await alice.page.screenshot(path=artifacts / "in-call-desktop.png", animations="disabled")
    await bob.page.set_viewport_size(PHONE)
    await bob.page.screenshot(path=artifacts / "in-call-phone.png", animations="disabled")
    await alice.clean()
    await bob.clean()


async def test_browser_call_four_participant_full_mesh(browser: Browser,
                                                       start_server: Callable[..., RunningServer]) -> None:
    server = start_server(capacity=4)
    tabs = await joined_call(browser, server, ["Ann", "Ben", "Cat", "Dan"])
    ids = [await tab.self_id() for tab in tabs]
    for tab, own in zip(tabs, ids):
        heard = await hearing(tab, 3)
        assert heard == set(ids) - {own}
    for tab in tabs:
        await tab.clean()


async def test_browser_call_simultaneous_joins_still_connect(browser: Browser,
                                                             start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    alice = await open_tab(browser, server.invite())
    bob = await open_tab(browser, server.invite())
    await alice.page.get_by_label("Name", exact=True).fill("Alice")
    await bob.page.get_by_label("Name", exact=True).fill("Bob")
    await asyncio.gather(alice.join_button.click(), bob.join_button.click())
    await hearing(alice, 1)
    await hearing(bob, 1)
    await alice.clean()
    await bob.clean()


async def test_browser_call_leave_then_join_again(browser: Browser,
                                                  start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(alice, 1)
    await alice.leave_button.click()
    await expect(alice.join_button).to_be_visible()
    await roster_is(bob, ["Bob (you)"])
    assert await alice.page.evaluate("window.secretCall.peers()") == []
    assert await alice.page.locator("#players audio").count() == 0
    await expect(alice.page.get_by_label("Name", exact=True)).to_be_enabled()

    await alice.join()
    await roster_is(bob, ["Alice", "Bob (you)"])
    await hearing(alice, 1)
    await hearing(bob, 1)
    await alice.clean()
    await bob.clean()


async def test_browser_call_peer_mute_and_volume_are_local(browser: Browser,
                                                           start_server: Callable[..., RunningServer]) -> None:
    server = start_server(capacity=3)
    alice, bob, carol = await joined_call(browser, server, ["Alice", "Bob", "Carol"])
    a_id, b_id, c_id = [await tab.self_id() for tab in (alice, bob, carol)]
    for tab in (alice, bob, carol):
        await hearing(tab, 2)

    mute_bob = alice.page.get_by_role("button", name="Mute Bob", exact=True)
    await mute_bob.click()
    await expect(alice.page.get_by_role("button", name="Unmute Bob", exact=True)).to_have_attribute(
        "aria-pressed", "true")
    await alice.page.get_by_role("slider", name="Volume for Carol").fill("0")

    assert (await alice.player(b_id))["muted"] is True
    assert (await alice.player(c_id))["volume"] == 0
    assert (await alice.player(c_id))["muted"] is False

    # Bob's packets still reach Alice, but her page no longer plays them.
    await silenced(alice, b_id)
    assert await receiving(alice, b_id)
    # Only Alice's side changed: Bob still hears Alice, Carol still hears Bob, and audio flows now.
    assert (await bob.player(a_id)) == {"muted": False, "volume": 1, "paused": False}
    assert (await carol.player(b_id)) == {"muted": False, "volume": 1, "paused": False}
    await hearing(bob, 2, only={a_id})
    await hearing(carol, 2, only={b_id})

    await alice.page.get_by_role("button", name="Unmute Bob", exact=True).click()
    assert (await alice.player(b_id))["muted"] is False
    for tab in (alice, bob, carol):
        await tab.clean()


async def test_browser_call_self_mute_disables_the_track(browser: Browser,
                                                         start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(bob, 1)
    await alice.page.get_by_role("button", name="Mute microphone").click()
    await expect(alice.page.get_by_role("button", name="Unmute microphone")).to_have_attribute("aria-pressed", "true")
    await expect(alice.page.locator(".participant.self .participant-state")).to_have_text("microphone off")
    # Muted means silence on the wire: Bob's level for Alice falls to (digital) zero.
    a_id = await alice.self_id()
    await silenced(bob, a_id)
    await alice.page.get_by_role("button", name="Unmute microphone").click()
    await hearing(bob, 1, only={a_id})
    await alice.clean()
    await bob.clean()


async def test_browser_call_reload_leaves_and_comes_back(browser: Browser,
                                                         start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(bob, 1)
    await alice.page.reload()
    await roster_is(bob, ["Bob (you)"])
    await alice.page.wait_for_function(READY)
    # The fragment is gone from the address bar; the token stayed in this tab, the name in storage.
    assert "#" not in alice.page.url and server.token not in alice.page.url
    await expect(alice.page.get_by_label("Room token", exact=True)).to_have_value(server.token)
    await expect(alice.page.get_by_label("Name", exact=True)).to_have_value("Alice")
    await alice.join()
    await roster_is(bob, ["Alice", "Bob (you)"])
    await hearing(alice, 1)
    await hearing(bob, 1)
    await alice.clean()
    await bob.clean()


async def test_browser_call_rejoins_after_the_server_comes_back(browser: Browser,
                                                                start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(alice, 1)
    await alice.page.get_by_role("button", name="Mute Bob", exact=True).click()
    port = server.server.port
    server.runner.run(server.server.stop(), timeout=10)
    for tab in (alice, bob):
        await expect(tab.page.locator("#reconnect-banner")).to_be_visible(timeout=CONNECT_TIMEOUT * 1000)
        await expect(tab.page.locator("#status-text")).to_have_text("Connection lost — reconnecting…")
    server.server.config = dataclasses.replace(server.server.config, port=port)
    server.runner.run(server.server.start(), timeout=10)
    for tab in (alice, bob):
        await expect(tab.page.locator("#reconnect-banner")).to_be_hidden(timeout=CONNECT_TIMEOUT * 1000)
        await expect(tab.leave_button).to_be_visible()
    await roster_is(alice, ["Alice (you)", "Bob"])
    await hearing(bob, 1)
    # Bob has a new id now, and Alice's choice to mute him still holds (so she receives, unheard).
    b_id = await bob.self_id()
    await wait_for(lambda: receiving(alice, b_id), timeout=CONNECT_TIMEOUT, interval=0.2, message="Bob's audio")
    await expect(alice.page.get_by_role("button", name="Unmute Bob", exact=True)).to_be_visible()
    assert (await alice.player(b_id))["muted"] is True
    # Only the refused connections while the server was down may have logged errors.
    for tab in (alice, bob):
        assert all("WebSocket connection" in error for error in tab.errors), tab.errors


# -- refusals --------------------------------------------------------------------------------

async def test_browser_call_full_room_shows_the_capacity(browser: Browser, start_server: Callable[..., RunningServer],
                                                         artifacts: Path) -> None:
    server = start_server(capacity=2)
    _, bob = await joined_call(browser, server, ["Alice", "Bob"])
    carol = await open_tab(browser, server.invite(), reduced_motion="no-preference")
    await carol.page.get_by_label("Name", exact=True).fill("Carol")
    await carol.join_button.click()
    dialog = carol.page.get_by_role("dialog", name="The call is full")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("All 2 places")
    await expect(carol.join_button).to_be_attached()
    await carol.page.screenshot(path=artifacts / "full-desktop.png", animations="disabled")
    await carol.page.set_viewport_size(PHONE)
    await carol.page.screenshot(path=artifacts / "full-phone.png", animations="disabled")
    await carol.page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(carol.join_button).to_be_enabled()
    # Once someone leaves, the same Join gets in.
    await bob.leave_button.click()
    await carol.join()
    await hearing(carol, 1)
    await carol.clean()


async def test_browser_call_wrong_token_modal_then_fix_the_token(browser: Browser,
                                                                 start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    wrong = server.invite().split("#")[0] + "#token=not-the-token"
    tab = await open_tab(browser, wrong)
    dialog = tab.page.get_by_role("dialog", name="Wrong room token")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Edit the token").click()
    await expect(dialog).to_be_hidden()
    await expect(tab.page.get_by_label("Room token", exact=True)).to_be_focused()
    await tab.page.get_by_label("Room token", exact=True).fill(server.token)
    await tab.join("Alice")
    await tab.clean()


async def test_browser_call_non_browser_agent_sees_browser_only(browser: Browser,
                                                                start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.invite(), user_agent="SecretCallBot/1.0")
    await expect(tab.page.get_by_role("dialog", name="Open this link in a web browser")).to_be_visible()
    await tab.clean()


async def test_browser_call_denied_microphone_explains(browser: Browser,
                                                       start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.invite())
    await tab.page.evaluate("""() => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("denied", "NotAllowedError"));
    }""")
    await tab.page.get_by_label("Name", exact=True).fill("Alice")
    await tab.join_button.click()
    await expect(tab.page.get_by_role("alert")).to_contain_text("blocked the microphone")
    await expect(tab.join_button).to_be_enabled()
    await tab.clean()


async def test_browser_call_insecure_origin_shows_the_https_notice(start_server: Callable[..., RunningServer]) -> None:
    """Plain http on a LAN name is not a secure context: say so instead of failing at getUserMedia."""
    require_tool(CHROMIUM)
    from playwright.async_api import async_playwright

    server = start_server(allowed_hosts=("lan.example",))  # the Host rule answers only to names it knows
    url = server.invite().replace("127.0.0.1", "lan.example")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP lan.example 127.0.0.1"])
        try:
            tab = await open_tab(chromium, url)
            assert await tab.page.evaluate("window.isSecureContext") is False
            notice = tab.page.locator("#insecure-notice")
            await expect(notice).to_be_visible()
            await expect(notice).to_contain_text("https")
            await expect(notice).to_contain_text("http://localhost:")
            await tab.page.get_by_label("Name", exact=True).fill("Alice")
            await tab.join_button.click()
            await expect(tab.page.locator("#form-message")).to_contain_text("secure page")
            await expect(tab.join_button).to_be_enabled()
            # Chromium's own note that COOP is ignored on an untrustworthy origin is expected here.
            tab.errors = [error for error in tab.errors if "Cross-Origin-Opener-Policy" not in error]
            await tab.clean()
        finally:
            await chromium.close()


# -- keyboard, languages, motion ----------------------------------------------------------------

async def test_browser_call_keyboard_only(browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.invite())
    page = tab.page
    await expect(page.get_by_label("Name", exact=True)).to_be_visible()
    await expect(page.get_by_label("Room token", exact=True)).to_be_visible()

    async def focused() -> str:
        return await page.evaluate(
            "document.activeElement.getAttribute('aria-label') || document.activeElement.id || ''")

    await page.evaluate("document.activeElement.blur()")
    for _ in range(6):
        await page.keyboard.press("Tab")
        if await focused() == "name":
            break
    assert await focused() == "name"
    await page.keyboard.type("Keyboard Kate")
    await page.keyboard.press("Tab")
    assert await focused() == "token"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent.trim()") == "Join"
    await page.keyboard.press("Enter")
    await expect(tab.leave_button).to_be_visible(timeout=CONNECT_TIMEOUT * 1000)
    await expect(tab.leave_button).to_be_focused()

    # The settings dialog: focus moves in, Tab stays in, Esc closes, focus comes back.
    await page.keyboard.press("Shift+Tab")
    for _ in range(6):
        if await focused() == "Settings":
            break
        await page.keyboard.press("Shift+Tab")
    assert await focused() == "Settings"
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Settings")
    await expect(dialog).to_be_visible()
    for _ in range(6):
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.getElementById('settings-modal').contains(document.activeElement)")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert await focused() == "Settings"
    await tab.clean()


async def test_browser_call_settings_validate_stun(browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.invite())
    page = tab.page
    await page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    field_ = dialog.get_by_label("STUN server")
    await field_.fill("http://stun.example.org")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_text("starts with stun: or stuns:")).to_be_visible()
    await expect(field_).to_have_attribute("aria-invalid", "true")
    await field_.fill("stun:stun.example.org:3478")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    assert await page.evaluate("localStorage.getItem('secret-call.stun')") == "stun:stun.example.org:3478"
    await tab.clean()


async def test_browser_call_russian_and_the_language_switch(browser: Browser,
                                                            start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.invite(), lang="ru")
    page = tab.page
    await expect(page.get_by_role("button", name="Войти", exact=True)).to_be_visible()
    await expect(page.get_by_label("Имя", exact=True)).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "ru"
    await tab.context.close()

    # Without ?lang the browser's language decides; the switch in Settings wins and is kept.
    tab = await open_tab(browser, server.invite(), lang=None, locale="ru-RU")
    page = tab.page
    await expect(page.get_by_role("button", name="Войти", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Настройки").click()
    await page.get_by_label("Язык").select_option("en")
    await page.get_by_role("button", name="Сохранить").click()
    await expect(tab.join_button).to_be_visible()
    await page.reload()
    await page.wait_for_function(READY)
    await expect(tab.join_button).to_be_visible()
    await tab.clean()


async def test_browser_call_reduced_motion_stops_the_particles(browser: Browser,
                                                               start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    calm = await open_tab(browser, server.url, reduced_motion="reduce")
    assert await calm.page.evaluate("window.secretCall.particlesRunning()") is False
    await expect(calm.page.locator("#particles")).to_be_hidden()
    assert await calm.page.eval_on_selector(".glow-a", "(e) => getComputedStyle(e).animationName") == "none"

    lively = await open_tab(browser, server.url, reduced_motion="no-preference")
    assert await lively.page.evaluate("window.secretCall.particlesRunning()") is True
    await expect(lively.page.locator("#particles")).to_be_visible()
    # Switching the preference while the page is open stops them too.
    await lively.page.emulate_media(reduced_motion="reduce")
    await lively.page.wait_for_function("() => !window.secretCall.particlesRunning()")
    await expect(lively.page.locator("#particles")).to_be_hidden()
    await calm.clean()
    await lively.clean()
