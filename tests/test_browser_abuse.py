"""A hostile participant against a real Chromium page: bad offers, look-alike names, renames, and
privacy mode that must fail closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from conftest import BROWSER_UA, RunningServer, wait_for
from room import UserError, clean_name
from fakes import SDP
from probe import subprotocols
from browser import CONNECT_TIMEOUT, CSP_PROBE, DESKTOP, READY, Tab

pytestmark = pytest.mark.browser

TIMEOUT_MS = CONNECT_TIMEOUT * 1000
FIXTURES = Path(__file__).parent / "fixtures" / "sdp"

# Counts every RTCPeerConnection the page makes and every setRemoteDescription it tries.
COUNT_RTC = """
window.__rtc = {connections: 0, remote: 0};
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = class extends Native {
  constructor(...args) { super(...args); window.__rtc.connections += 1; }
};
const setRemote = Native.prototype.setRemoteDescription;
Native.prototype.setRemoteDescription = function (...args) { window.__rtc.remote += 1; return setRemote.apply(this, args); };
"""

PRIVACY_ON = 'localStorage.setItem("secret-call.privacy", "1");'


class Raw:
    """A participant without a browser: it sends whatever it likes over the signaling socket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.id: str = hello["id"]

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)

    async def next_of(self, kind: str) -> dict[str, Any]:
        while True:
            message = json.loads((await self.ws.receive(timeout=CONNECT_TIMEOUT)).data)
            if message["type"] in (kind, "error"):
                return message


@pytest.fixture
async def raw(start_server: Callable[..., RunningServer]) -> AsyncIterator[Callable[..., Any]]:
    async with aiohttp.ClientSession() as session:
        async def connect(server: RunningServer, name: str, *, below: str = "~") -> Raw:
            """A participant called `name`, with an id that sorts before `below`."""
            while True:
                ws = await session.ws_connect(server.ws_url, protocols=subprotocols(server.token),
                                              headers={"User-Agent": BROWSER_UA, "Origin": server.url.rstrip("/")})
                peer = Raw(ws, await ws.receive_json())
                if peer.id < below:
                    break
                await ws.close()
            await peer.send({"type": "name", "name": name})
            assert (await peer.next_of("roster"))["type"] == "roster"
            return peer
        yield connect


async def open_tab(browser: Browser, url: str, *, init_scripts: tuple[str, ...] = (),
                   websocket_frames: list[dict[str, Any]] | None = None) -> Tab:
    """Like browser.open_tab (English, reduced motion), with scripts that run before the
    page's own, and optionally recording the frames the page sends on its socket."""
    context = await browser.new_context(viewport=DESKTOP, reduced_motion="reduce", locale="en-US")
    for script in (CSP_PROBE, *init_scripts):
        await context.add_init_script(script)
    page = await context.new_page()
    tab = Tab(page, context)
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
    if websocket_frames is not None:
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: websocket_frames.append(
            json.loads(payload if isinstance(payload, str) else payload.get("payload", "{}")))))
    await page.goto(url.replace("/#", "/?lang=en#", 1) if "/#" in url else f"{url}?lang=en")
    await page.wait_for_function(READY)
    return tab


async def rtc_counts(tab: Any) -> dict[str, int]:
    return await tab.page.evaluate("({...window.__rtc})")


# -- bad offers -----------------------------------------------------------------------------------

async def test_browser_abuse_bad_offers_do_not_loop_and_the_row_says_broken(
        browser: Browser, start_server: Callable[..., RunningServer], raw: Callable[..., Any], artifacts: Path) -> None:
    server = start_server()
    victim = await open_tab(browser, server.invite(), init_scripts=(COUNT_RTC,))
    await victim.join("Victim")
    victim_id = await victim.self_id()
    # The victim is then the polite side (js/mesh.js): it never ignores an offer for its own.
    mallory = await raw(server, "Mallory", below=victim_id)
    row = victim.page.locator(f'#roster .participant[data-peer-id="{mallory.id}"]')
    await expect(row).to_be_visible()
    # A real offer first, so that the link has state and a bad one after it looks like a rebuild
    # on the other side; then offers that pass the server's check but no browser takes.
    good = (FIXTURES / "chromium-offer.sdp").read_bytes().decode()
    for index in range(12):
        sdp = good if index % 2 == 0 else SDP + f"a=x:{index}\r\n"
        await mallory.send({"type": "offer", "to": victim_id, "sdp": sdp})
    await expect(row).to_have_attribute("data-note", "peerBroken", timeout=TIMEOUT_MS)
    await expect(row.locator(".participant-state")).to_have_text("their connection is broken")
    counts = await rtc_counts(victim)
    assert counts["connections"] <= 4, f"one link and at most 3 rebuilds, not a loop: {counts}"
    await victim.page.screenshot(path=artifacts / "abuse-broken-row.png", animations="disabled")

    # Broken is final until a link connects: one more bad offer rebuilds nothing. Each offer is
    # tried once, plus once more on the fresh connection of a rebuild: no loop.
    await mallory.send({"type": "offer", "to": victim_id, "sdp": SDP})
    await mallory.send({"type": "chat", "text": "after the last offer"})
    await expect(victim.page.locator("#chat-log .chat-text").last).to_have_text("after the last offer")
    after = await rtc_counts(victim)
    assert after["connections"] == counts["connections"], (counts, after)
    assert after["remote"] <= 13 + after["connections"] - 1, after
    await expect(row).to_have_attribute("data-note", "peerBroken")


# -- names ----------------------------------------------------------------------------------------

NAME_CORPUS = [
    "  Bob  ", "   ", "x" * 32, "x" * 33, "😀" * 32, "😀" * 33, "a\u0007b", "Борис", "李小龙", "Zoë", "\u200bAlice",
    "Al\u200bice", "Alice\u2060", "\u3164", "\u2800", "\u115f", "\u1160x", "\uffa0", "evil\u202ename", "A\u2066b",
    "\u200fBob", "A\ue000", "A\U000f0000", "A\u0378", "A\U000e0041", "A\u034fB", "\U0001d159", "\u0301\u0301",
    "a\u2028b", "👩\u200d💻 Anna", "🏳\ufe0f\u200d🌈", "👍🏽", "👍🏽\u200d", "a\u200d💻", "\u00adx", "\ufeffAlice",
    "\x1cAlice\x1f", "\u3000Ira\u3000", "Ali\u00a0ce", "...", "٣٤", "\x85x\xa0",
]


def server_name(raw_name: str) -> str:
    try:
        return clean_name(raw_name)
    except UserError:
        return ""


async def test_browser_abuse_page_name_rule_mirrors_the_server(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.url)
    page_names = await tab.page.evaluate("""async (names) => {
      const { cleanName } = await import("/js/names.js");
      return names.map(cleanName);
    }""", NAME_CORPUS)
    expected = [server_name(name) for name in NAME_CORPUS]
    differ = [(name, mine, theirs) for name, mine, theirs in zip(NAME_CORPUS, page_names, expected) if mine != theirs]
    assert not differ, f"page and server disagree on: {differ}"
    assert "" in expected and "Борис" in expected


async def test_browser_abuse_taken_name_is_explained_under_the_form(
        browser: Browser, start_server: Callable[..., RunningServer], raw: Callable[..., Any]) -> None:
    server = start_server(capacity=3)
    alice = await raw(server, "Alice")
    tab = await open_tab(browser, server.invite())
    await tab.page.get_by_label("Name", exact=True).fill("ALICE")
    await tab.join_button.click()
    await expect(tab.page.locator("#form-message")).to_contain_text("already uses this name", timeout=TIMEOUT_MS)
    await expect(tab.join_button).to_be_visible()
    assert [m.name for m in server.call(lambda: server.server.state.room.participants)] == ["Alice"]
    await tab.page.get_by_label("Name", exact=True).fill("Al\u200bice")
    await tab.join_button.click()
    await expect(tab.page.locator("#name-error")).to_contain_text("no invisible or control characters")
    await tab.clean()
    await alice.ws.close()


async def test_browser_abuse_tags_tell_people_apart_and_a_rename_is_announced(
        browser: Browser, start_server: Callable[..., RunningServer], raw: Callable[..., Any], artifacts: Path) -> None:
    server = start_server(capacity=3)
    bob = await open_tab(browser, server.invite())
    await bob.join("Bob")
    alice = await raw(server, "Alice")
    tag = f"#{alice.id[:4]}"
    row = bob.page.locator(f'#roster .participant[data-peer-id="{alice.id}"]')
    await expect(row.locator(".id-tag")).to_have_text(tag)
    bob_id = await bob.self_id()
    await expect(bob.page.locator(f'#roster .participant[data-peer-id="{bob_id}"] .id-tag')).to_have_text(
        f"#{bob_id[:4]}")
    await alice.send({"type": "chat", "text": "hello"})
    message = bob.page.locator("#chat-log .chat-message").last
    await expect(message.locator(".chat-tag")).to_have_text(tag)
    await expect(message.locator(".chat-name")).to_have_text("Alice")

    await alice.send({"type": "name", "name": "Eve"})
    announcement = f"Alice {tag} is now called Eve"
    await expect(bob.page.locator("#toasts")).to_contain_text(announcement)
    await expect(bob.page.locator("#chat-log .chat-notice").last).to_have_text(announcement)
    await expect(row.locator(".name-text")).to_have_text("Eve")
    await expect(row.locator(".id-tag")).to_have_text(tag)
    await bob.page.screenshot(path=artifacts / "abuse-rename.png", animations="disabled")
    assert await bob.roster() == ["Bob (you)", "Eve"]


# -- privacy mode fails closed --------------------------------------------------------------------

async def test_browser_abuse_privacy_mode_without_turn_refuses_to_join_and_says_why(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    server = start_server()
    tab = await open_tab(browser, server.invite(), init_scripts=(PRIVACY_ON,))
    button = tab.page.get_by_role("button", name="Sound check")
    await expect(button).to_be_disabled()
    await expect(tab.page.locator("#sound-check-hint")).to_contain_text("the sound check is off")
    await tab.page.get_by_label("Name", exact=True).fill("Alice")
    await tab.join_button.click()
    await expect(tab.page.locator("#form-message")).to_contain_text("this server has no relay (TURN) server",
                                                                    timeout=TIMEOUT_MS)
    await expect(tab.join_button).to_be_visible()
    await tab.page.screenshot(path=artifacts / "abuse-privacy-no-turn.png", animations="disabled")
    assert server.call(lambda: server.server.state.room.participants) == []
    await tab.clean()


async def test_browser_abuse_privacy_mode_with_a_relay_the_browser_refuses_does_not_connect(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    # A turn: URL without username and credential: Chromium refuses the whole configuration.
    server = start_server(ice_servers=({"urls": "turn:127.0.0.1:9"},))
    tab = await open_tab(browser, server.invite(), init_scripts=(PRIVACY_ON,))
    await tab.page.get_by_label("Name", exact=True).fill("Alice")
    await tab.join_button.click()
    await expect(tab.page.locator("#form-message")).to_contain_text("the browser refused this server's relay",
                                                                    timeout=TIMEOUT_MS)
    assert server.call(lambda: server.server.state.room.participants) == []


async def test_browser_abuse_privacy_mode_sound_check_is_relay_only(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(ice_servers=({"urls": "turn:127.0.0.1:9", "username": "u", "credential": "p"},))
    sent: list[dict[str, Any]] = []
    tab = await open_tab(browser, server.invite(), init_scripts=(PRIVACY_ON,), websocket_frames=sent)
    await tab.page.get_by_role("button", name="Sound check").click()
    await wait_for(lambda: [m for m in sent if m.get("type") == "echo"], timeout=CONNECT_TIMEOUT,
                   message="the sound check's offer")
    offer = next(m for m in sent if m.get("type") == "echo")["sdp"]
    kinds = {line.split()[7] for line in offer.splitlines() if line.startswith("a=candidate:")}
    assert kinds <= {"relay"}, f"privacy mode, yet the sound check offers {kinds} candidates"


async def test_browser_abuse_turning_privacy_on_ends_a_direct_sound_check(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(ice_servers=({"urls": "turn:127.0.0.1:9", "username": "u", "credential": "p"},))
    tab = await open_tab(browser, server.invite())
    await tab.page.get_by_role("button", name="Sound check").click()
    stop = tab.page.get_by_role("button", name="Stop sound check")
    await expect(stop).to_have_attribute("aria-pressed", "true")
    await tab.page.get_by_role("button", name="Settings").click()
    await tab.page.get_by_label("Privacy mode: relay only").check()
    await tab.page.get_by_role("button", name="Save").click()
    await expect(tab.page.get_by_role("button", name="Sound check")).to_have_attribute("aria-pressed", "false")
    await wait_for(lambda: server.call(lambda: not server.server.state.room.echo.sessions), timeout=CONNECT_TIMEOUT,
                   message="the server's echo ends too")
