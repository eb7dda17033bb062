"""Verification codes with Firefox on one or both ends: shown on both, equal, equal to the code
computed here from the certificates really in use and the nonces the server relayed; and a verified
link that a relay re-keys or rebuilds shows "code changed" on the Firefox end.

Firefox has no certificate stats (see crossbrowser.py): its own certificate is read here from the
a=fingerprint line of its current local description, and the other end's from
RTCDtlsTransport.getRemoteCertificates(), hashed here; Chromium's both from its certificate stats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.async_api import expect

from conftest import RunningServer, wait_for
from browser import CONNECT_TIMEOUT, Tab, hearing
from crossbrowser import (CONNECTED, PAIRS, OpenIn, code_in, code_of, der_fingerprint, engines, firefox_link,  # noqa: F401
                          joined, kind_of, open_in)
from test_browser_mitm import REMOTE_CERTIFICATE, mark_verified, open_verify
from test_browser_verify import (LOCAL_FINGERPRINT, TIMEOUT_MS, entry, expected_code, loopback_aiortc,  # noqa: F401
                                 mitm_in, record_verify_steps, revealed, sdp_fingerprint, shown_code)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def code_shown(tab: Tab, peer_id: str) -> list[str]:
    """The code in one peer's roster entry (once there): its pictures, their names and its
    accessible name checked as in the Chromium tests."""
    return (await shown_code(tab, peer_id)).split(" ")


async def local_fingerprint(tab: Tab, peer_id: str) -> str:
    """This page's own certificate on its link to one peer."""
    if kind_of(tab) == "firefox":
        return sdp_fingerprint((await firefox_link(tab))["local"])
    return str(await tab.page.evaluate(LOCAL_FINGERPRINT, peer_id))


async def remote_fingerprint(tab: Tab, peer_id: str) -> str | None:
    """The certificate the other end of one link presented in the handshake, None until known."""
    if kind_of(tab) == "firefox":
        der = (await firefox_link(tab))["remote"]
        return der_fingerprint(der) if der else None
    return await tab.page.evaluate(REMOTE_CERTIFICATE, peer_id)


async def in_call(open_in: OpenIn, server: RunningServer, pair: tuple[str, str],
                  alice_first: bool = True) -> tuple[Tab, Tab, str, str]:
    """Alice (Firefox) and Bob hearing each other. The newcomer offers: with alice_first, Bob's
    browser offers and Firefox answers (and picks the DTLS role); otherwise the other way round."""
    people = [(pair[0], "Alice"), (pair[1], "Bob")]
    if alice_first:
        alice, bob = await joined(open_in, server, people)
    else:
        bob, alice = await joined(open_in, server, people[::-1])
    await hearing(alice, 1)
    await hearing(bob, 1)
    return alice, bob, await alice.self_id(), await bob.self_id()


@pytest.mark.parametrize("alice_first", [pytest.param(True, id="firefox-answers"),
                                         pytest.param(False, id="firefox-offers")])
@pytest.mark.parametrize("pair", PAIRS)
async def test_firefox_codes_equal_on_both_ends_and_to_the_computed_code(
        open_in: OpenIn, start_server: Callable[..., RunningServer], artifacts: Path, pair: tuple[str, str],
        alice_first: bool) -> None:
    server = start_server()
    steps = record_verify_steps(server)
    alice, bob, a_id, b_id = await in_call(open_in, server, pair, alice_first)

    alice_sees, bob_sees = await code_shown(alice, b_id), await code_shown(bob, a_id)
    assert len(alice_sees) == 4
    assert alice_sees == bob_sees, "both ends of an honest link show the same code"
    alice_print, bob_print = await local_fingerprint(alice, b_id), await local_fingerprint(bob, a_id)
    assert alice_print != bob_print
    # The certificates the descriptions announce are the ones each handshake presented.
    assert await remote_fingerprint(alice, b_id) == bob_print
    assert await remote_fingerprint(bob, a_id) == alice_print
    expected = await expected_code(alice, alice_print, bob_print, revealed(steps, a_id, b_id))
    assert " ".join(alice_sees) == expected

    dialog = await open_verify(alice, b_id)
    await expect(dialog).to_be_visible()
    assert await code_in(dialog.locator("#verify-code")) == alice_sees
    await mark_verified(dialog, entry(alice, b_id))
    await expect(entry(alice, b_id)).to_have_attribute("data-verify", "verified")
    await alice.clean()
    await bob.clean()
    suffix = f"with-{pair[1]}" + ("" if alice_first else "-firefox-offers")
    await alice.page.screenshot(path=artifacts / f"firefox-verify-roster-desktop-{suffix}.png", animations="disabled")
    await open_verify(alice, b_id)
    await expect(dialog).to_contain_text("Verified for this call")
    await alice.page.screenshot(path=artifacts / f"firefox-verify-dialog-desktop-{suffix}.png", animations="disabled")


async def test_firefox_codes_from_the_descriptions_alone(
        open_in: OpenIn, start_server: Callable[..., RunningServer]) -> None:
    """A browser that tells neither the presented certificate (no getRemoteCertificates) nor
    certificate stats: the codes come from the fingerprints of the descriptions applied, which
    DTLS enforces, and still match on both ends and the computation here."""
    server = start_server()
    steps = record_verify_steps(server)
    alice, bob = [await open_in("firefox", server.invite()) for _ in range(2)]
    for tab in (alice, bob):
        await tab.page.evaluate("() => { delete RTCDtlsTransport.prototype.getRemoteCertificates; }")
    await alice.join("Alice")
    await bob.join("Bob")
    await hearing(alice, 1)
    await hearing(bob, 1)
    a_id, b_id = await alice.self_id(), await bob.self_id()
    assert (await firefox_link(alice))["remote"] is None, "no presented certificate to read"
    alice_sees = await code_shown(alice, b_id)
    assert alice_sees == await code_shown(bob, a_id)
    prints = [await local_fingerprint(alice, b_id), await local_fingerprint(bob, a_id)]
    assert " ".join(alice_sees) == await expected_code(alice, *prints, revealed(steps, a_id, b_id))
    await alice.clean()
    await bob.clean()


async def firefox_keyed_to(tab: Tab, fingerprint: str) -> bool:
    """The Firefox page's one connected link now presents `fingerprint` in its handshake."""
    links = await tab.page.evaluate(CONNECTED)
    return len(links) == 1 and bool(links[0]["remote"]) and der_fingerprint(links[0]["remote"]) == fingerprint


@pytest.mark.parametrize("rebuild", [pytest.param(False, id="rekeyed"), pytest.param(True, id="rebuilt")])
@pytest.mark.parametrize("pair", PAIRS)
async def test_firefox_codes_verified_link_taken_over_warns(
        open_in: OpenIn, start_server: Callable[..., RunningServer], artifacts: Path, loopback_aiortc: None,
        pair: tuple[str, str], rebuild: bool) -> None:
    """A relay, honest so far, forges a re-offer "from Bob" to Alice (Firefox) with its own
    certificate (rebuilt: one her connection cannot take, so her page builds a fresh one for it),
    and drops every verify step from then on: her verified code must turn into a warning."""
    server = start_server()
    async with mitm_in(server, passive=True) as mitm:
        alice, bob, a_id, b_id = await in_call(open_in, server, pair)
        assert await code_shown(alice, b_id) == await code_shown(bob, a_id)
        bob_row = entry(alice, b_id)
        await mark_verified(await open_verify(alice, b_id), bob_row)

        server.runner.run(mitm.strike(a_id, b_id, rebuild=rebuild), timeout=10)
        leg = mitm.legs[(a_id, b_id)]
        await wait_for(lambda: server.call(lambda: leg.pc.connectionState) == "connected", timeout=CONNECT_TIMEOUT,
                       interval=0.1, message="Alice's Firefox keyed to the man in the middle")
        relay_print: Any = server.call(lambda: sdp_fingerprint(leg.pc.localDescription.sdp))
        await wait_for(lambda: firefox_keyed_to(alice, relay_print), timeout=CONNECT_TIMEOUT, interval=0.1,
                       message="DTLS ending at the relay")

        await expect(bob_row).to_have_attribute("data-verify", "changed", timeout=TIMEOUT_MS)
        await expect(bob_row.locator(".verify-badge")).to_have_text("code changed")
        # Nothing on the row could be read aloud and matched against Bob's old code.
        await expect(bob_row.locator('.verify-code[role="img"]')).to_have_count(0)
        assert code_of(await bob_row.locator(".verify-code").text_content()) == []
        await expect(bob_row.get_by_role("button", name="Verify")).to_be_hidden()
        await expect(alice.page.locator("#toasts").get_by_text("The verification code for Bob changed")).to_be_visible()
        assert mitm.dropped_verify > 0, "the relay blocked the new exchange"
        await alice.clean()
        await bob.clean()
        how = "rebuild" if rebuild else "rekey"
        await alice.page.screenshot(path=artifacts / f"firefox-verify-mitm-{how}-desktop-with-{pair[1]}.png",
                                    animations="disabled")
