"""The sound check in a real browser: the server's aiortc peer plays my microphone back to me."""

from __future__ import annotations

from typing import Any, Callable

from playwright.async_api import Browser, expect

from conftest import RunningServer, wait_for
from browser import CONNECT_TIMEOUT, joined_call, open_tab

ECHO_STATS = """async () => {
  const stats = await window.secretCall.soundCheckStats();
  const inbound = stats.find((s) => s.type === "inbound-rtp" && s.kind === "audio");
  return inbound ? {bytes: inbound.bytesReceived || 0, level: inbound.audioLevel || 0} : {bytes: 0, level: 0};
}"""


async def test_soundcheck_plays_my_voice_back_without_joining(browser: Browser,
                                                              start_server: Callable[..., RunningServer],
                                                              artifacts: Any) -> None:
    # No loopback patch here: the server's echo peer offers 127.0.0.1 by itself, as it must for
    # a host testing on their own machine.
    server = start_server(capacity=2)
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    carol = await open_tab(browser, server.invite())
    button = carol.page.get_by_role("button", name="Sound check")
    await button.click()
    stop = carol.page.get_by_role("button", name="Stop sound check")
    await expect(stop).to_have_attribute("aria-pressed", "true")
    await expect(carol.page.locator("#sound-check-hint")).to_contain_text("Only you hear this",
                                                                          timeout=CONNECT_TIMEOUT * 1000)
    heard: list[float] = []

    async def echo_heard() -> bool:
        stats = await carol.page.evaluate(ECHO_STATS)
        if stats["bytes"] > 0 and stats["level"] > 0.001:
            heard.append(stats["level"])
        return bool(heard)
    await wait_for(echo_heard, timeout=CONNECT_TIMEOUT, interval=0.2, message="Carol hears her own echo")
    await carol.page.screenshot(path=str(artifacts / "sound-check-desktop.png"), animations="disabled")
    room = server.server.state.room
    assert len(room.participants) == 2, "the sound check takes no seat in the call"
    assert server.call(lambda: len(room.echo.sessions)) == 1
    assert await carol.page.get_by_role("button", name="Join").is_visible()

    await stop.click()
    await expect(button).to_have_attribute("aria-pressed", "false")
    await wait_for(lambda: server.call(lambda: not room.echo.sessions), timeout=10,
                   message="the server's echo ends")
    for tab in (alice, bob, carol):
        await tab.clean()


async def test_soundcheck_is_refused_clearly_when_the_server_is_busy(browser: Browser,
                                                                     start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    server.call(lambda: setattr(server.server.state.room.echo, "max_sessions", 0))
    tab = await open_tab(browser, server.invite())
    await tab.page.get_by_role("button", name="Sound check").click()
    await expect(tab.page.locator("#sound-check-hint")).to_contain_text("busy or off",
                                                                        timeout=CONNECT_TIMEOUT * 1000)
    await expect(tab.page.get_by_role("button", name="Sound check")).to_have_attribute("aria-pressed", "false")


async def test_soundcheck_is_hidden_in_the_call(browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    (alice,) = await joined_call(browser, server, ["Alice"])
    await expect(alice.page.get_by_role("button", name="Sound check")).to_be_hidden()
    await alice.leave_button.click()
    await expect(alice.page.get_by_role("button", name="Sound check")).to_be_visible()
