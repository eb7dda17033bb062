"""The call in Firefox, against Chromium and against Firefox: audio both ways (getStats), the roster,
per-peer mute and volume, leave and join again, reload and join again, a mixed 3-way mesh.

The browsers are launched once for the module (crossbrowser.engines); each test has its own contexts.
Measured on loopback: Firefox↔Chromium audio about 1.2 s after the second Join, Firefox↔Firefox 0.4 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from playwright.async_api import expect

from conftest import RunningServer
from browser import PHONE, READY, Tab, hearing, roster_is
from crossbrowser import PAIRS, OpenIn, engines, joined, open_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def in_call(open_in: OpenIn, server: RunningServer, pair: tuple[str, str]) -> tuple[Tab, Tab, str, str]:
    """Alice (Firefox) and Bob in a call, each hearing the other: (alice, bob, their ids)."""
    alice, bob = await joined(open_in, server, [(pair[0], "Alice"), (pair[1], "Bob")])
    await hearing(alice, 1)
    await hearing(bob, 1)
    return alice, bob, await alice.self_id(), await bob.self_id()


async def links_and_players(tab: Tab) -> tuple[list[str], int]:
    """The peers this page has a connection to, and how many <audio> players it has."""
    return await tab.page.evaluate("window.secretCall.peers()"), await tab.page.locator("#players audio").count()


def seen_by(name: str, everyone: list[str]) -> list[str]:
    """The roster as `name` sees it."""
    return [other if other != name else f"{name} (you)" for other in everyone]


async def test_firefox_call_idle_page_is_clean(open_in: OpenIn, start_server: Callable[..., RunningServer],
                                               artifacts: Path) -> None:
    server = start_server()
    tab = await open_in("firefox", server.invite(), reduced_motion="no-preference")
    await expect(tab.join_button).to_be_visible()
    await tab.page.get_by_label("Name", exact=True).fill("Alice")
    await tab.clean()
    await tab.page.screenshot(path=artifacts / "firefox-idle-desktop.png", animations="disabled")
    await tab.page.set_viewport_size(PHONE)
    await tab.page.screenshot(path=artifacts / "firefox-idle-phone.png", animations="disabled")


@pytest.mark.parametrize("pair", PAIRS)
async def test_firefox_call_audio_roster_peer_mute_volume_and_rejoin(
        open_in: OpenIn, start_server: Callable[..., RunningServer], artifacts: Path, pair: tuple[str, str]) -> None:
    server = start_server()
    alice, bob, a_id, b_id = await in_call(open_in, server, pair)
    assert await alice.roster() == ["Alice (you)", "Bob"]
    assert await bob.roster() == ["Alice", "Bob (you)"]
    await expect(alice.page.locator("#status-text")).to_have_text("Connected to the room")
    await expect(alice.page.locator("#roster .participant:not(.self).speaking")).to_be_visible()

    # Alice mutes Bob: his packets still reach her page, whose player for him is muted. Firefox
    # measures inbound-rtp audioLevel as the audio arrives, not as it is played (Chromium does it
    # at playout): muting the <audio> element leaves it unchanged, so here the player's state is
    # what tells, and the level only proves that Bob's audio keeps arriving.
    await alice.page.get_by_role("button", name="Mute Bob", exact=True).click()
    unmute = alice.page.get_by_role("button", name="Unmute Bob", exact=True)
    await expect(unmute).to_have_attribute("aria-pressed", "true")
    assert await alice.player(b_id) == {"muted": True, "volume": 1, "paused": False}
    await hearing(alice, 1, only={b_id})
    # Only Alice's side changed: Bob still plays Alice, and hears her now.
    assert await bob.player(a_id) == {"muted": False, "volume": 1, "paused": False}
    await hearing(bob, 1, only={a_id})
    await unmute.click()
    assert (await alice.player(b_id))["muted"] is False
    await hearing(alice, 1)

    await alice.page.get_by_role("slider", name="Volume for Bob").fill("0")
    assert await alice.player(b_id) == {"muted": False, "volume": 0, "paused": False}
    assert await bob.player(a_id) == {"muted": False, "volume": 1, "paused": False}
    await alice.page.get_by_role("slider", name="Volume for Bob").fill("40")
    assert (await alice.player(b_id))["volume"] == pytest.approx(0.4)
    await hearing(alice, 1)

    # Leave: no link and no player is left. The same Join gets back in and audio flows both ways
    # again; the choices for Bob were forgotten on leave, so his player starts at full volume.
    await alice.leave_button.click()
    await expect(alice.join_button).to_be_visible()
    await roster_is(bob, ["Bob (you)"])
    assert await links_and_players(alice) == ([], 0)
    await alice.join()
    await roster_is(bob, seen_by("Bob", ["Alice", "Bob"]))
    await roster_is(alice, seen_by("Alice", ["Alice", "Bob"]))
    await hearing(alice, 1)
    await hearing(bob, 1)
    assert await links_and_players(alice) == ([b_id], 1)
    assert await alice.player(b_id) == {"muted": False, "volume": 1, "paused": False}
    await alice.clean()
    await bob.clean()
    await alice.page.screenshot(path=artifacts / f"firefox-in-call-desktop-with-{pair[1]}.png", animations="disabled")
    await alice.page.set_viewport_size(PHONE)
    # Headless Firefox draws a classic scrollbar (a dark strip at the right of the phone
    # screenshots) where a phone would overlay one; the page still fits across.
    assert await alice.page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    await alice.page.screenshot(path=artifacts / f"firefox-in-call-phone-with-{pair[1]}.png", animations="disabled")


@pytest.mark.parametrize("pair", PAIRS)
async def test_firefox_call_reload_then_back_in_the_call(
        open_in: OpenIn, start_server: Callable[..., RunningServer], pair: tuple[str, str]) -> None:
    server = start_server()
    alice, bob, _, _ = await in_call(open_in, server, pair)
    # Each end in turn reloads while the other stays in the call, and joins again from what the
    # page kept: the token in this tab (never in the address bar), the name in storage.
    for gone, name, stays, other in ((alice, "Alice", bob, "Bob"), (bob, "Bob", alice, "Alice")):
        await gone.page.reload()
        await roster_is(stays, [f"{other} (you)"])
        await gone.page.wait_for_function(READY)
        assert "#" not in gone.page.url and server.token not in gone.page.url
        await expect(gone.page.get_by_label("Room token", exact=True)).to_have_value(server.token)
        await expect(gone.page.get_by_label("Name", exact=True)).to_have_value(name)
        await gone.join()
        assert await hearing(stays, 1) == {await gone.self_id()}, "the new page is the one heard"
        await hearing(gone, 1)
        await roster_is(gone, seen_by(name, ["Alice", "Bob"]))
    await alice.clean()
    await bob.clean()


async def test_firefox_call_mixed_three_way_mesh(open_in: OpenIn, start_server: Callable[..., RunningServer],
                                                 artifacts: Path) -> None:
    server = start_server(capacity=3)
    tabs = await joined(open_in, server, [("chromium", "Ann"), ("firefox", "Ben"), ("firefox", "Cat")])
    ids = [await tab.self_id() for tab in tabs]
    for tab, own in zip(tabs, ids):
        assert await hearing(tab, 2) == set(ids) - {own}
    for tab, name in zip(tabs, ("Ann", "Ben", "Cat")):
        await roster_is(tab, seen_by(name, ["Ann", "Ben", "Cat"]))
    for tab in tabs:
        await tab.clean()
    await tabs[1].page.screenshot(path=artifacts / "firefox-mesh-desktop.png", animations="disabled")
