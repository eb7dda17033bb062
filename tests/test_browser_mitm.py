"""A relay that steps into a verified call, or blocks verification, in a real Chromium: the page must warn."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.async_api import Browser, Locator, expect

from conftest import RunningServer, wait_for
from browser import CONNECT_TIMEOUT, Tab, hearing, joined_call
from test_browser_verify import (TIMEOUT_MS, entry, loopback_aiortc, mitm_in,  # noqa: F401 (a fixture)
                                 sdp_fingerprint, shown_code)

pytestmark = pytest.mark.browser

# This page's own certificate on one link: a fresh RTCPeerConnection (a rebuild) makes a new one.
LOCAL_CERTIFICATE = """async (id) => {
  const stats = await window.secretCall.getStats(id);
  const transport = stats.find((s) => s.type === "transport" && s.localCertificateId);
  const certificate = transport && stats.find((s) => s.id === transport.localCertificateId);
  return certificate ? certificate.fingerprint : null;
}"""

# The certificate the other end of one link presents, from this page's getStats (null until known).
REMOTE_CERTIFICATE = """async (id) => {
  const stats = await window.secretCall.getStats(id);
  const transport = stats.find((s) => s.type === "transport" && s.remoteCertificateId);
  const certificate = transport && stats.find((s) => s.id === transport.remoteCertificateId);
  return certificate ? `${certificate.fingerprintAlgorithm}:${certificate.fingerprint}`.toLowerCase() : null;
}"""


async def in_call(browser: Browser, server: RunningServer) -> tuple[Tab, Tab, str, str]:
    """Alice and Bob in a call, hearing each other: (alice, bob, their ids)."""
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(alice, 1)
    await hearing(bob, 1)
    return alice, bob, await alice.self_id(), await bob.self_id()


async def honest_call(browser: Browser, server: RunningServer) -> tuple[Tab, Tab, str, str]:
    """In a call through a relay that is honest so far: the codes on both ends are equal."""
    alice, bob, a_id, b_id = await in_call(browser, server)
    assert await shown_code(alice, b_id) == await shown_code(bob, a_id), "an honest relay so far: the codes match"
    return alice, bob, a_id, b_id


async def open_verify(alice: Tab, b_id: str) -> Locator:
    await entry(alice, b_id).get_by_role("button", name="Verify").click()
    return alice.page.get_by_role("dialog", name="Verify the call with Bob")


async def mark_verified(dialog: Locator, row: Locator) -> None:
    await dialog.get_by_role("button", name="They match — mark verified").click()
    await expect(row.locator(".verify-badge")).to_have_text("verified")


async def strike_and_wait(server: RunningServer, mitm: Any, alice: Tab, a_id: str, b_id: str, **options: Any) -> None:
    """The relay strikes Alice's link to Bob; returns once her DTLS really ends at the relay."""
    server.runner.run(mitm.strike(a_id, b_id, **options), timeout=10)
    leg = mitm.legs[(a_id, b_id)]
    await wait_for(lambda: server.call(lambda: leg.pc.connectionState) == "connected", timeout=CONNECT_TIMEOUT,
                   interval=0.1, message="Alice's browser keyed to the man in the middle")
    relay_print = server.call(lambda: sdp_fingerprint(leg.pc.localDescription.sdp))
    await wait_for(lambda: alice.page.evaluate(REMOTE_CERTIFICATE, b_id), timeout=CONNECT_TIMEOUT)
    assert await alice.page.evaluate(REMOTE_CERTIFICATE, b_id) == relay_print, "DTLS now ends at the relay"


async def test_browser_mitm_forged_reoffer_after_verification_warns_at_once(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path,
        loopback_aiortc: None) -> None:
    server = start_server()
    async with mitm_in(server, passive=True) as mitm:
        alice, bob, a_id, b_id = await honest_call(browser, server)
        bob_row = entry(alice, b_id)
        dialog = await open_verify(alice, b_id)
        # What the codes cannot catch: whoever serves the page to a guest (issue 11 §8).
        await expect(dialog).to_contain_text("they cannot catch whoever serves the page")
        await expect(dialog).to_contain_text("--cert/--key")
        await expect(dialog).to_contain_text("--tls")
        await mark_verified(dialog, bob_row)

        # The relay forges a re-offer "from Bob" with its own certificate and drops every verify.
        await strike_and_wait(server, mitm, alice, a_id, b_id)

        await expect(bob_row.locator(".verify-badge")).to_have_text("code changed", timeout=TIMEOUT_MS)
        await expect(bob_row).to_have_attribute("data-verify", "changed")
        await expect(bob_row.locator(".verify-badge")).not_to_have_text("verified")
        await expect(bob_row.get_by_label("Verification code")).to_be_hidden()
        await expect(bob_row.locator(".verify-code")).to_have_text(
            "The code changed. Say nothing private to Bob until a new code shows and you have compared it aloud.")
        toast = alice.page.locator("#toasts").get_by_text("The verification code for Bob changed")
        await expect(toast).to_be_visible()
        assert mitm.dropped_verify > 0, "the relay blocked the new exchange"
        # Nothing on the row could be read aloud and matched against Bob's old code.
        await expect(bob_row.get_by_role("button", name="Verify")).to_be_hidden()
        await alice.page.screenshot(path=artifacts / "verify-mitm-rekey-desktop.png", animations="disabled")
        await alice.clean()
        await bob.clean()


async def test_browser_mitm_blocked_verification_says_so(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    server = start_server()
    async with mitm_in(server, passive=True, drop_verify=True) as mitm:
        alice, bob, a_id, b_id = await in_call(browser, server)
        bob_row = entry(alice, b_id)
        # Connected, but no code can ever be completed: after 10 s the row says why.
        await expect(bob_row.locator(".verify-badge")).to_have_text("could not verify", timeout=TIMEOUT_MS)
        await expect(bob_row).to_have_attribute("data-verify", "blocked")
        await expect(bob_row).to_contain_text("someone may be blocking verification")
        await expect(bob_row.get_by_label("Verification code")).to_be_hidden()
        await expect(bob_row.get_by_role("button", name="Verify")).to_be_hidden()
        await expect(entry(bob, a_id).locator(".verify-badge")).to_have_text("could not verify")
        assert mitm.dropped_verify > 0
        await alice.page.screenshot(path=artifacts / "verify-blocked-desktop.png", animations="disabled")
        await alice.clean()
        await bob.clean()


async def test_browser_mitm_forced_rebuild_of_a_verified_link_warns_at_once(
        browser: Browser, start_server: Callable[..., RunningServer], loopback_aiortc: None) -> None:
    """The relay sends an offer the link cannot take, so the page rebuilds it for that offer: the
    fresh connection's DTLS ends at the relay, and the verified mark must not survive the rebuild."""
    server = start_server()
    async with mitm_in(server, passive=True) as mitm:
        alice, bob, a_id, b_id = await honest_call(browser, server)
        bob_row = entry(alice, b_id)
        await mark_verified(await open_verify(alice, b_id), bob_row)
        before = await alice.page.evaluate(LOCAL_CERTIFICATE, b_id)
        assert before

        await strike_and_wait(server, mitm, alice, a_id, b_id, rebuild=True)
        assert await alice.page.evaluate(LOCAL_CERTIFICATE, b_id) not in (None, before), "a rebuilt connection"

        await expect(bob_row).to_have_attribute("data-verify", "changed", timeout=TIMEOUT_MS)
        await expect(bob_row.locator(".verify-badge")).to_have_text("code changed")
        await expect(bob_row.get_by_role("button", name="Verify")).to_be_hidden()
        await expect(alice.page.locator("#toasts").get_by_text("The verification code for Bob changed")).to_be_visible()
        await alice.clean()
        await bob.clean()
