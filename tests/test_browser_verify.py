"""Verification codes in a real Chromium: equal on an honest link, different through a man in the middle."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aioice.ice
import pytest
from playwright.async_api import Browser, Locator, expect

from conftest import ROOT, RunningServer, wait_for
from mitm import ManInTheMiddle
from probe import loopback_only
from browser import CONNECT_TIMEOUT, PHONE, Tab, hearing, joined_call, open_tab, roster_is

pytestmark = pytest.mark.browser

TIMEOUT_MS = CONNECT_TIMEOUT * 1000

# The pure functions and the Verifier's bookkeeping, driven by a fake mesh.
PURE_CHECKS = """async () => {
  const { verificationCode, fingerprintsOf, fingerprintOfDer, certificateFingerprints, EMOJI, CODE_LENGTH, Verifier,
          sha256Hex } = { ...(await import("/js/verify-code.js")), ...(await import("/js/verify.js")) };
  const { Events } = await import("/js/events.js");
  const a = "sha-256:" + "ab:".repeat(31) + "cd", b = "sha-256:" + "12:".repeat(31) + "34";
  const others = [];
  for (let i = 0; i < 32; i += 1) others.push((await verificationCode(a, `sha-256:${i}`)).join(""));
  const stats = (local, remote) => [
    { id: "T", type: "transport", localCertificateId: "L", remoteCertificateId: "R" },
    { id: "L", type: "certificate", fingerprintAlgorithm: "sha-256", fingerprint: local },
    { id: "R", type: "certificate", fingerprintAlgorithm: "sha-256", fingerprint: remote },
  ];

  // A connection whose remote certificate stat went missing (read during the handshake), but
  // whose DTLS transport still tells which certificate the other side presented.
  const der = new TextEncoder().encode("not really a certificate").buffer;
  const fakePc = (reports, presented) => ({
    getStats: async () => new Map(reports.map((report) => [report.id, report])),
    getTransceivers: () => presented ? [{ sender: { transport: {
      state: "connected", getRemoteCertificates: () => [presented] } }, receiver: {} }] : [],
  });
  const statless = stats("AB:CD", "EF:01").filter((report) => report.id !== "R");
  statless[0] = { ...statless[0], remoteCertificateId: undefined };

  class FakeMesh extends EventTarget {
    constructor() { super(); this.pcs = new Map(); }
    connection(id) { return this.pcs.get(id) || null; }
    connectionState(id) { return this.pcs.has(id) ? "connected" : "closed"; }
  }
  // An honest peer on the other end of the commit-then-reveal exchange.
  const peerNonce = "00112233445566778899aabbccddeeff";
  const sent = [];
  const send = async (to, step, value) => {
    sent.push(step);
    if (step === "commit") verifier.receive(to, "commit", await sha256Hex(peerNonce));
    else if (step === "reveal") verifier.receive(to, "reveal", peerNonce);
  };
  const mesh = new FakeMesh(), verifier = new Verifier(mesh, send), events = [];
  verifier.addEventListener(Events.PEER_CODE, (event) => events.push(event.detail));
  // A new connection for `id` (as the mesh builds or rebuilds it) that reaches "connected".
  const connect = async (id, local, remote) => {
    const count = events.length;
    mesh.pcs.set(id, fakePc(stats(local, remote)));
    mesh.dispatchEvent(new CustomEvent(Events.PEER_STATE, { detail: { id, state: "connected" } }));
    const coded = () => events.slice(count).find((event) => event.code);
    for (let i = 0; i < 100 && !coded(); i += 1) await new Promise((r) => setTimeout(r, 10));
    // Events before the new code, as status plus "!" when it came with the warning.
    const before = events.slice(count).filter((event) => !event.code);
    return { ...coded(), before: before.map((event) => event.status + (event.changed ? "!" : "")) };
  };
  const close = (id) => {
    mesh.pcs.delete(id);
    mesh.dispatchEvent(new CustomEvent(Events.PEER_CLOSED, { detail: { id } }));
  };
  verifier.setParticipants([{ id: "me", name: "Me", self: true }, { id: "p1", name: "Bob", self: false }]);
  const first = await connect("p1", "AA:01", "BB:01");
  verifier.mark("p1", true);
  const marked = events[events.length - 1];
  const rebuilt = await connect("p1", "AA:02", "BB:02");          // same id, a new certificate
  const unchanged = events.length;
  mesh.dispatchEvent(new CustomEvent(Events.PEER_STATE, { detail: { id: "p1", state: "connected" } }));
  verifier.refresh("p1");
  await new Promise((r) => setTimeout(r, 100));
  const quiet = events.length === unchanged;                       // the same connection again: no news
  const rounds = sent.filter((step) => step === "commit").length;  // …and no new exchange for it
  const badReveal = await (async () => {                           // a reveal that breaks its commitment
    const lonely = new Verifier(new FakeMesh(), () => {});
    const count = [];
    lonely.addEventListener(Events.PEER_CODE, (event) => count.push(event.detail));
    lonely.mesh.pcs.set("x", fakePc(stats("AA:09", "BB:09")));
    lonely.mesh.dispatchEvent(new CustomEvent(Events.PEER_STATE, { detail: { id: "x", state: "connected" } }));
    await new Promise((r) => setTimeout(r, 100));
    await lonely.receive("x", "commit", await sha256Hex("the real nonce"));
    await new Promise((r) => setTimeout(r, 50));
    await lonely.receive("x", "reveal", "a different nonce");
    return count.filter((event) => event.code).length;
  })();
  verifier.mark("p1", true);
  close("p1");                                                     // Bob leaves…
  verifier.setParticipants([{ id: "p2", name: "Bob", self: false }]);
  const rejoined = await connect("p2", "AA:03", "BB:03");          // …and comes back with a new id
  verifier.mark("p2", false);
  const differs = events[events.length - 1];
  const fresh = await connect("p2", "AA:04", "BB:04");             // a mismatch is not "verified"
  verifier.reset();
  return {
    ab: await verificationCode(a, b), ba: await verificationCode(b, a), aa: await verificationCode(a, a),
    emoji: [...EMOJI], length: CODE_LENGTH, distinct: new Set(others).size,
    prints: fingerprintsOf(stats("AB:CD", "EF:01")), none: fingerprintsOf([{ id: "T", type: "transport" }]),
    derPrint: await fingerprintOfDer(der),
    presented: await certificateFingerprints(fakePc(statless, der)),
    unknown: await certificateFingerprints(fakePc(statless, null)),
    preferred: await certificateFingerprints(fakePc(stats("AB:CD", "EF:01"), der)),
    first, marked, rebuilt, quiet, rounds, badReveal, rejoined, differs, fresh, afterReset: verifier.view("p2"),
    withNonces: await verificationCode(a, b, "n1", "n2"), swapped: await verificationCode(b, a, "n2", "n1"),
  };
}"""


def python_code(emoji: list[str], a: str, b: str, nonce_a: str = "", nonce_b: str = "") -> list[str]:
    """The same derivation as js/verify.js, written again from its description."""
    first, second = sorted([a, b])
    nonces = "\n".join(sorted([nonce_a, nonce_b]))
    digest = hashlib.sha256(f"secret-call verification v2\n{first}\n{second}\n{nonces}".encode()).digest()
    bits = int.from_bytes(digest[:3], "big")
    return [emoji[(bits >> shift) & 63] for shift in (18, 12, 6, 0)]


# This page's own DTLS certificate on its link to one peer, from getStats (read once connected).
LOCAL_FINGERPRINT = """async (id) => {
  const stats = await window.secretCall.getStats(id);
  const transport = stats.find((s) => s.type === "transport");
  const certificate = stats.find((s) => s.id === transport.localCertificateId);
  return `${certificate.fingerprintAlgorithm}:${certificate.fingerprint}`.toLowerCase();
}"""


async def expected_code(tab: Tab, own: str, other: str, nonces: tuple[str, str]) -> str:
    """The code for two fingerprints and the two revealed nonces, computed here in Python."""
    emoji = await tab.page.evaluate("async () => [...(await import('/js/verify-code.js')).EMOJI]")
    return " ".join(python_code(emoji, own, other, *nonces))


def record_verify_steps(server: RunningServer) -> list[tuple[str, str, str, str]]:
    """Log every verify step the server relays: (from, to, step, value)."""
    room = server.server.state.room
    relay = room._handlers["verify"]
    log: list[tuple[str, str, str, str]] = []

    def recording(member: Any, message: dict[str, Any]) -> None:
        log.append((member.id, str(message.get("to")), str(message.get("step")), str(message.get("value"))))
        relay(member, message)
    server.call(lambda: room._handlers.__setitem__("verify", recording))
    return log


def revealed(log: list[tuple[str, str, str, str]], a: str, b: str) -> tuple[str, str]:
    """The last nonces a revealed to b and b to a."""
    last = {(sender, to): value for sender, to, step, value in log if step == "reveal"}
    return last[(a, b)], last[(b, a)]


def sdp_fingerprint(sdp: str) -> str:
    match = re.search(r"^a=fingerprint:sha-256 (\S+)", sdp, re.MULTILINE)
    assert match, "no sha-256 fingerprint in the SDP"
    return f"sha-256:{match.group(1)}".lower()


def entry(tab: Tab, peer_id: str) -> Locator:
    return tab.page.locator(f'#roster .participant[data-peer-id="{peer_id}"]')


async def shown_code(tab: Tab, peer_id: str, lang: str = "en") -> str:
    """The code in one peer's roster entry ("🐶 🚀 🔑 ⚓"), found the way a screen reader user would
    find it: its accessible name is the symbols' spoken names, the same names shown under them."""
    code = entry(tab, peer_id).get_by_label(locale(lang)["verifyCodeLabel"].split(":")[0])
    await expect(code).to_be_visible(timeout=TIMEOUT_MS)
    shown = " ".join(await code.locator(".code-emoji").all_text_contents())
    assert await code.locator(".code-name").all_text_contents() == await spoken_names(tab, shown, lang)
    assert await code.get_attribute("aria-label") == await code_label(tab, shown, lang)
    return shown


def locale(lang: str) -> dict[str, str]:
    return json.loads((ROOT / "locales" / f"{lang}.json").read_text(encoding="utf-8"))


async def spoken_names(tab: Tab, code: str, lang: str = "en") -> list[str]:
    """Each symbol's name in the locale, in order ("🐶 🚀" → ["dog", "rocket"])."""
    keys = await tab.page.evaluate(
        "async (code) => { const { symbolKey } = await import('/js/verify-code.js');"
        " return code.split(' ').map(symbolKey); }", code)
    assert all(keys), f"not code symbols: {code}"
    strings = locale(lang)
    return [strings[key] for key in keys]


async def code_label(tab: Tab, code: str, lang: str = "en") -> str:
    """The accessible name a code must have: "Verification code: dog, rocket, key, anchor"."""
    return locale(lang)["verifyCodeLabel"].replace("{code}", ", ".join(await spoken_names(tab, code, lang)))


def install_mitm(server: RunningServer, **options: bool) -> ManInTheMiddle:
    mitm = ManInTheMiddle(server.server.state.room, **options)

    async def install() -> None:
        mitm.install()  # on the server's loop: it replaces the room's handlers and starts a worker

    server.runner.run(install(), timeout=5)
    return mitm


@contextlib.asynccontextmanager
async def mitm_in(server: RunningServer, **options: bool) -> AsyncIterator[ManInTheMiddle]:
    """A man in the middle installed for the block's duration, then closed."""
    mitm = install_mitm(server, **options)
    try:
        yield mitm
    finally:
        server.runner.run(mitm.close(), timeout=10)


def legs_connected(server: RunningServer, mitm: ManInTheMiddle) -> bool:
    states = server.call(lambda: [leg.pc.connectionState for leg in mitm.legs.values()])
    return bool(states) and all(state == "connected" for state in states)


@pytest.fixture
def loopback_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of its candidates; on this loopback-only machine it must not."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_only)


# -- the code itself -------------------------------------------------------------------------

async def test_verify_code_is_symmetric_and_drawn_from_the_emoji_list(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.url)
    result: dict[str, Any] = await tab.page.evaluate(PURE_CHECKS)
    emoji = result["emoji"]
    assert len(emoji) == 64 and len(set(emoji)) == 64
    assert result["length"] == 4
    assert result["ab"] == result["ba"], "both ends of a link must get the same code"
    assert len(result["ab"]) == 4 and all(e in emoji for e in result["ab"])
    assert result["ab"] != result["aa"]
    a, b = "sha-256:" + "ab:" * 31 + "cd", "sha-256:" + "12:" * 31 + "34"
    assert result["ab"] == python_code(emoji, a, b)
    assert result["distinct"] == 32, "different fingerprints give different codes"
    assert result["prints"] == {"local": "sha-256:ab:cd", "remote": "sha-256:ef:01"}
    assert result["none"] == {"local": None, "remote": None}
    der_print = "sha-256:" + ":".join(f"{b:02x}" for b in hashlib.sha256(b"not really a certificate").digest())
    assert result["derPrint"] == der_print
    # The certificate presented in the handshake wins over the stat, and stands in when it is missing.
    assert result["presented"] == {"local": "sha-256:ab:cd", "remote": der_print}
    assert result["preferred"] == {"local": "sha-256:ab:cd", "remote": der_print}
    assert result["unknown"] is None

    # The bookkeeping: a verified code that changes (same link or a rebuilt one) warns once and
    # clears the mark; a mismatch is not carried as "verified"; reset forgets everything.
    first, marked, rebuilt = result["first"], result["marked"], result["rebuilt"]
    assert (first["status"], first["changed"], first["name"]) == ("unverified", False, "Bob")
    assert marked["status"] == "verified" and marked["code"] == first["code"]
    assert rebuilt["status"] == "changed" and rebuilt["code"] != first["code"]
    # A rebuilt connection to a verified peer warns at once, with the old code withdrawn, before
    # any new code exists; the new code then comes without a second warning.
    assert rebuilt["before"] == ["changed!"]
    assert rebuilt["changed"] is False
    assert result["quiet"] is True
    assert (result["rejoined"]["id"], result["rejoined"]["status"], result["rejoined"]["changed"]) == (
        "p2", "changed", True)
    assert result["differs"]["status"] == "mismatch"
    assert (result["fresh"]["status"], result["fresh"]["changed"]) == ("unverified", False)
    assert result["afterReset"] == {"id": "p2", "name": "", "code": None, "status": "pending", "stalled": False}
    # The nonces of the commit-then-reveal exchange are part of the code, in either order, and a
    # reveal that does not match its commitment gives no code at all.
    assert result["withNonces"] == result["swapped"] == python_code(emoji, a, b, "n1", "n2")
    assert result["withNonces"] != result["ab"]
    assert result["rounds"] == 2, "one exchange per connection, none again for the same one"
    assert result["badReveal"] == 0
    await tab.clean()


# -- honest calls ----------------------------------------------------------------------------

async def test_verify_codes_match_and_can_be_marked_verified(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    server = start_server()
    steps = record_verify_steps(server)
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(alice, 1)
    await hearing(bob, 1)
    a_id, b_id = await alice.self_id(), await bob.self_id()

    alice_sees, bob_sees = await shown_code(alice, b_id), await shown_code(bob, a_id)
    assert alice_sees == bob_sees
    assert len(alice_sees.split(" ")) == 4
    # …and it is the hash of the two certificates these browsers really use.
    alice_print = await alice.page.evaluate(LOCAL_FINGERPRINT, b_id)
    bob_print = await bob.page.evaluate(LOCAL_FINGERPRINT, a_id)
    assert alice_print != bob_print
    assert alice_sees == await expected_code(alice, alice_print, bob_print, revealed(steps, a_id, b_id))
    # No code for oneself.
    await expect(entry(alice, a_id).get_by_label("Verification code")).to_be_hidden()
    await expect(alice.page.get_by_role("img", name=await code_label(alice, alice_sees))).to_be_visible()
    await alice.page.screenshot(path=artifacts / "verify-roster-desktop.png", animations="disabled")

    # Keyboard: the Verify button opens the dialog, Tab stays inside, Esc closes, focus returns.
    page = alice.page
    verify = entry(alice, b_id).get_by_role("button", name="Verify")
    await expect(verify).to_have_accessible_name("Verify the code with Bob")
    await verify.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Verify the call with Bob")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("img", name=await code_label(alice, alice_sees))).to_be_visible()
    await expect(dialog.locator(".code-name")).to_have_text(await spoken_names(alice, alice_sees))
    await expect(dialog).to_contain_text("Read the names of these four pictures aloud to each other")
    await expect(dialog).to_contain_text("If they differ, someone is in the middle.")
    await expect(dialog).to_contain_text("What it protects")
    await expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    await page.screenshot(path=artifacts / "verify-dialog-desktop.png", animations="disabled")
    for _ in range(5):
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.getElementById('verify-modal').contains(document.activeElement)")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(verify).to_be_focused()

    # Phone: the roster entry and the dialog still fit.
    await page.set_viewport_size(PHONE)
    await entry(alice, b_id).scroll_into_view_if_needed()
    row = await entry(alice, b_id).bounding_box()
    code = await entry(alice, b_id).locator(".verify-code").bounding_box()
    assert row and code and row["x"] <= code["x"] and code["x"] + code["width"] <= row["x"] + row["width"], (
        f"the code {code} sticks out of its row {row}")
    await page.screenshot(path=artifacts / "verify-roster-phone.png", animations="disabled")
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await page.screenshot(path=artifacts / "verify-dialog-phone.png", animations="disabled")

    # "They match": the dialog closes and Bob's entry shows the badge, on Alice's side only.
    await dialog.get_by_role("button", name="They match — mark verified").click()
    await expect(dialog).to_be_hidden()
    await expect(entry(alice, b_id).locator(".verify-badge")).to_have_text("verified")
    await expect(entry(alice, b_id)).to_have_attribute("data-verify", "verified")
    await expect(entry(bob, a_id).locator(".verify-badge")).to_be_hidden()
    await verify.click()
    await expect(dialog).to_contain_text("Verified for this call")
    await expect(dialog.get_by_role("button", name="They match — mark verified")).to_be_hidden()
    await page.keyboard.press("Escape")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=artifacts / "verify-verified-desktop.png", animations="disabled")

    # "They differ" on Bob's side shows what to do about it.
    await entry(bob, a_id).get_by_role("button", name="Verify").click()
    bob_dialog = bob.page.get_by_role("dialog", name="Verify the call with Alice")
    await bob_dialog.get_by_role("button", name="They differ").click()
    await expect(bob_dialog).to_contain_text("Someone may be in the middle")
    await expect(bob_dialog).to_contain_text("leave the call")
    await expect(entry(bob, a_id).locator(".verify-badge")).to_have_text("codes differ")
    await alice.clean()
    await bob.clean()


async def test_verify_code_reads_aloud_in_russian(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    """Under each emoji its name, in the page's language: the code can be read out and compared by
    ear ("собака, ракета, ключ, якорь"), and read at all without a colour emoji font."""
    server = start_server()
    alice, bob = [await open_tab(browser, server.invite(), lang="ru") for _ in range(2)]
    for tab, name in ((alice, "Алиса"), (bob, "Боб")):
        await tab.page.get_by_label("Имя", exact=True).fill(name)
        await tab.page.get_by_role("button", name="Войти", exact=True).click()
    await hearing(alice, 1)
    a_id, b_id = await alice.self_id(), await bob.self_id()
    alice_sees = await shown_code(alice, b_id, "ru")
    assert alice_sees == await shown_code(bob, a_id, "ru")
    names = await spoken_names(alice, alice_sees, "ru")
    assert names != await spoken_names(alice, alice_sees, "en")
    await entry(alice, b_id).get_by_role("button", name="Сверить").click()
    dialog = alice.page.get_by_role("dialog")
    await expect(dialog.get_by_role("img", name=await code_label(alice, alice_sees, "ru"))).to_be_visible()
    await expect(dialog.locator(".code-name")).to_have_text(names)
    await alice.page.screenshot(path=artifacts / "verify-dialog-ru-desktop.png", animations="disabled")
    await alice.clean()
    await bob.clean()


# -- a man in the middle -------------------------------------------------------------------------

async def test_verify_codes_differ_through_a_man_in_the_middle(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path,
        loopback_aiortc: None) -> None:
    server = start_server()
    steps = record_verify_steps(server)
    mitm = install_mitm(server)
    try:
        alice = await open_tab(browser, server.invite())
        bob = await open_tab(browser, server.invite(), lang="ru", locale="ru-RU")
        await alice.join("Alice")
        await bob.page.get_by_label("Имя", exact=True).fill("Bob")
        await bob.page.get_by_role("button", name="Войти", exact=True).click()
        await expect(bob.page.get_by_role("button", name="Выйти", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        # Audio still flows both ways, but each browser's DTLS ends at one of our aiortc peers.
        await hearing(alice, 1)
        await hearing(bob, 1)
        await wait_for(lambda: legs_connected(server, mitm), timeout=CONNECT_TIMEOUT, interval=0.1,
                       message="both legs of the man in the middle connected")
        a_id, b_id = await alice.self_id(), await bob.self_id()

        alice_sees, bob_sees = await shown_code(alice, b_id), await shown_code(bob, a_id, "ru")
        assert len(alice_sees.split(" ")) == len(bob_sees.split(" ")) == 4
        assert alice_sees != bob_sees, "a man in the middle must show up as different codes"
        # Each side's code is the hash of its own certificate and the one of the leg facing it.
        leg_prints = server.call(lambda: {leg.faces: sdp_fingerprint(leg.pc.localDescription.sdp)
                                          for leg in mitm.legs.values()})
        nonces = revealed(steps, a_id, b_id)
        assert alice_sees == await expected_code(alice, await alice.page.evaluate(LOCAL_FINGERPRINT, b_id),
                                                 leg_prints[a_id], nonces)
        assert bob_sees == await expected_code(bob, await bob.page.evaluate(LOCAL_FINGERPRINT, a_id),
                                               leg_prints[b_id], nonces)

        # Alice and Bob read them aloud; Alice says they differ.
        await entry(alice, b_id).get_by_role("button", name="Verify").click()
        dialog = alice.page.get_by_role("dialog", name="Verify the call with Bob")
        await dialog.get_by_role("button", name="They differ").click()
        await expect(dialog).to_contain_text("Different codes mean your audio does not go straight")
        await alice.page.screenshot(path=artifacts / "verify-mitm-dialog-desktop.png", animations="disabled")
        await alice.page.keyboard.press("Escape")
        await expect(entry(alice, b_id).locator(".verify-badge")).to_have_text("codes differ")
        await alice.page.screenshot(path=artifacts / "verify-mitm-roster-desktop.png", animations="disabled")

        await entry(bob, a_id).get_by_role("button", name="Сверить").click()
        bob_dialog = bob.page.get_by_role("dialog", name="Сверка кода: Alice")
        await bob_dialog.get_by_role("button", name="Отличаются").click()
        await expect(bob_dialog).to_contain_text("Возможно, кто-то посередине")
        await bob.page.set_viewport_size(PHONE)
        await bob.page.screenshot(path=artifacts / "verify-mitm-dialog-phone-ru.png", animations="disabled")
        await alice.clean()
        await bob.clean()
    finally:
        server.runner.run(mitm.close(), timeout=10)


async def test_verify_code_change_warns_and_clears_the_mark(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path,
        loopback_aiortc: None) -> None:
    server = start_server()
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(alice, 1)
    await hearing(bob, 1)
    a_id, b_id = await alice.self_id(), await bob.self_id()
    honest = await shown_code(alice, b_id)
    assert honest == await shown_code(bob, a_id)
    bob_row = alice.page.locator("#roster .participant", has_text="Bob")
    await bob_row.get_by_role("button", name="Verify").click()
    dialog = alice.page.get_by_role("dialog", name="Verify the call with Bob")
    await dialog.get_by_role("button", name="They match — mark verified").click()
    await expect(bob_row.locator(".verify-badge")).to_have_text("verified")

    # A man in the middle steps in while Bob's link is rebuilt (he leaves and joins again).
    await bob.leave_button.click()
    await roster_is(alice, ["Alice (you)"])
    mitm = install_mitm(server)
    try:
        await bob.join()
        await hearing(alice, 1)
        await hearing(bob, 1)
        await wait_for(lambda: legs_connected(server, mitm), timeout=CONNECT_TIMEOUT, interval=0.1,
                       message="both legs of the man in the middle connected")

        await expect(bob_row.locator(".verify-badge")).to_have_text("code changed", timeout=TIMEOUT_MS)
        await expect(bob_row).to_have_attribute("data-verify", "changed")
        toast = alice.page.locator("#toasts").get_by_text("The verification code for Bob changed")
        await expect(toast).to_be_visible()
        await expect(toast.locator("..")).to_have_attribute("role", "alert")
        new_code = await shown_code(alice, b_id)
        assert new_code != honest
        assert new_code != await shown_code(bob, a_id)
        await alice.page.screenshot(path=artifacts / "verify-changed-roster-desktop.png", animations="disabled")

        # The mark is gone: the dialog explains and offers to compare again.
        await bob_row.get_by_role("button", name="Verify").click()
        await expect(dialog).to_contain_text("The code changed")
        await expect(dialog).to_contain_text("This is not the code you verified with Bob")
        await expect(dialog.get_by_role("button", name="They match — mark verified")).to_be_visible()
        await expect(dialog.get_by_role("img", name=re.compile("Verification code"))).to_have_attribute(
            "aria-label", await code_label(alice, new_code))
        await alice.page.screenshot(path=artifacts / "verify-changed-dialog-desktop.png", animations="disabled")
        await alice.page.set_viewport_size(PHONE)
        await alice.page.screenshot(path=artifacts / "verify-changed-dialog-phone.png", animations="disabled")
        await alice.page.keyboard.press("Escape")
        await expect(bob_row.locator(".verify-badge")).not_to_have_text("verified")
        await alice.page.screenshot(path=artifacts / "verify-changed-roster-phone.png", animations="disabled")
        await alice.clean()
        await bob.clean()
    finally:
        server.runner.run(mitm.close(), timeout=10)
