"""Real networks in a real browser: dropped sockets resume, ICE recovers, privacy mode relays."""

from __future__ import annotations

from typing import Any, Callable

from playwright.async_api import Browser, expect

from conftest import RunningServer, wait_for
from core import count_socket
from browser import CONNECT_TIMEOUT, hearing, joined_call, open_tab


async def inbound_bytes(tab: Any, peer_id: str) -> int:
    return int((await tab.audio())[peer_id]["bytes"])


async def test_resilience_dropped_socket_resumes_its_id_seat_and_peer_connection(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(capacity=2)
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(alice, 1)
    await hearing(bob, 1)
    a_id = await alice.self_id()
    before = await inbound_bytes(bob, a_id)
    state = server.server.state

    def drop_alice_and_hold_her_back() -> None:
        # Refuse reconnects from 127.0.0.1 for now (429: its per-address cap looks full), so the
        # grace period can be seen.
        count_socket(state.per_address, "127.0.0.1", state.config.max_per_address)
        for peer in state.sockets:
            if peer.member_id == a_id:
                peer.ws._req.transport.abort()  # gone without a close frame, as on a lost network

    server.call(drop_alice_and_hold_her_back)
    bob_sees_alice = bob.page.locator("#roster .participant", has_text="Alice")
    await expect(bob_sees_alice.locator(".participant-state")).to_have_text("reconnecting…",
                                                                            timeout=CONNECT_TIMEOUT * 1000)
    await expect(alice.page.locator("#reconnect-banner")).to_be_visible()
    # The audio goes browser to browser: it never stopped while signaling was down.
    await wait_for(lambda: _grew(bob, a_id, before), timeout=CONNECT_TIMEOUT, interval=0.2,
                   message="audio from Alice while she reconnects")

    server.call(lambda: count_socket(state.per_address, "127.0.0.1", -state.config.max_per_address))
    await expect(alice.page.locator("#reconnect-banner")).to_be_hidden(timeout=CONNECT_TIMEOUT * 1000)
    await expect(bob_sees_alice.locator(".participant-state")).to_have_text("connected",
                                                                            timeout=CONNECT_TIMEOUT * 1000)
    assert await alice.self_id() == a_id, "Alice took back her id"
    assert await alice.page.evaluate("window.secretCall.peers()") == [await bob.self_id()]
    # Same RTCPeerConnection: its byte counter kept counting instead of starting again at zero.
    assert await inbound_bytes(bob, a_id) > before
    await expect(alice.page.locator("#full-modal")).to_be_hidden()
    await hearing(alice, 1)


async def test_resilience_resumed_hello_gives_open_links_the_fresh_turn_credentials(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    # Nothing listens on port 9: the relay self-test fails, the credentials are minted all the same.
    server = start_server(capacity=2, turn_urls=("turn:127.0.0.1:9",), turn_secret="resume-test-secret")
    alice, bob = await joined_call(browser, server, ["Alice", "Bob"])
    await hearing(alice, 1)
    a_id, b_id = await alice.self_id(), await bob.self_id()
    usernames = f"window.secretCall.iceServers('{b_id}').map((s) => s.username).filter(Boolean)"
    first = await alice.page.evaluate(usernames)
    assert len(first) == 1 and first[0].endswith(f":{a_id}"), first
    state = server.server.state
    relay = server.server.relay
    later = relay.clock() + 1000

    def drop_alice_an_hour_later() -> None:
        relay.clock = lambda: later  # the resumed hello's credentials get a later expiry
        for peer in state.sockets:
            if peer.member_id == a_id:
                peer.ws._req.transport.abort()

    server.call(drop_alice_an_hour_later)
    fresh = f"{int(later) + server.server.config.turn_ttl}:{a_id}"

    async def fresh_on_the_open_link() -> bool:
        return await alice.page.evaluate(usernames) == [fresh]
    await wait_for(fresh_on_the_open_link, timeout=CONNECT_TIMEOUT, interval=0.2,
                   message="the resumed hello's credentials on Alice's open connection")
    assert await alice.self_id() == a_id, "a resume, not a new id"
    assert await alice.page.evaluate("window.secretCall.peers()") == [b_id]
    await hearing(alice, 1)
    await alice.clean()


async def _grew(tab: Any, peer_id: str, before: int) -> bool:
    return await inbound_bytes(tab, peer_id) > before + 4000


ICE_POLICY = """async () => {
  const { PeerMesh } = await import("/js/mesh.js");
  const made = [];
  class FakeConnection extends EventTarget {
    constructor() { super(); this.connectionState = "new"; this.signalingState = "stable";
                    this.restarts = 0; this.closed = false; this.remoteDescription = null; made.push(this); }
    restartIce() { this.restarts += 1; }
    addTrack() {}
    close() { this.closed = true; }
    setLocalDescription() { return Promise.resolve(); }
    get localDescription() { return null; }
  }
  // A short grace period instead of the real 4 s, so the waits below stay short.
  const grace = 200;
  const mesh = new PeerMesh(() => {}, { connect: () => new FakeConnection(), timing: { disconnectedGraceMs: grace } });
  mesh.start({ selfId: "b", iceServers: [], stream: new MediaStream() });
  mesh.sync(["a", "b"]);
  const fire = (pc, state) => { pc.connectionState = state; pc.onconnectionstatechange(); };
  const first = made[0];
  fire(first, "failed"); fire(first, "failed"); fire(first, "failed");
  const afterThree = { restarts: first.restarts, connections: made.length };
  fire(first, "failed");
  const rebuilt = { oldClosed: first.closed, connections: made.length, peers: mesh.peerIds() };
  const second = made[1];
  fire(second, "disconnected");
  fire(second, "connected");
  // Healed within the grace period: still no restart well after it would have fired.
  await new Promise((resolve) => setTimeout(resolve, 3 * grace));
  const healed = second.restarts;
  fire(second, "disconnected");
  const deadline = performance.now() + 5000;
  while (second.restarts === 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const stuck = second.restarts;
  mesh.close();
  return { afterThree, rebuilt, healed, stuck };
}"""


async def test_resilience_ice_restarts_then_rebuilds(browser: Browser,
                                                    start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    tab = await open_tab(browser, server.url)
    result = await tab.page.evaluate(ICE_POLICY)
    assert result["afterThree"] == {"restarts": 3, "connections": 1}, "failed: restartIce three times"
    assert result["rebuilt"] == {"oldClosed": True, "connections": 2, "peers": ["a"]}, "then a new connection"
    assert result["healed"] == 0, "a disconnection that heals within the grace period restarts nothing"
    assert result["stuck"] == 1, "one that lasts gets an ICE restart"


async def test_resilience_privacy_mode_needs_turn_and_makes_links_relay_only(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    plain = start_server()
    tab = await open_tab(browser, plain.invite())
    await tab.page.get_by_role("button", name="Settings").click()
    privacy = tab.page.get_by_label("Privacy mode: relay only")
    await expect(privacy).to_be_disabled()
    await expect(tab.page.locator("#privacy-hint")).to_contain_text("Needs a TURN server")
    await tab.page.keyboard.press("Escape")

    turn = start_server(capacity=2, ice_servers=({"urls": "turn:127.0.0.1:9", "username": "u", "credential": "p"},))
    alice, bob = [await open_tab(browser, turn.invite()) for _ in range(2)]
    await alice.page.get_by_role("button", name="Settings").click()
    privacy = alice.page.get_by_label("Privacy mode: relay only")
    await expect(privacy).to_be_enabled()
    await privacy.check()
    await alice.page.get_by_role("button", name="Save").click()
    await alice.page.reload()
    await alice.page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")
    await alice.page.get_by_role("button", name="Settings").click()
    await expect(alice.page.get_by_label("Privacy mode: relay only")).to_be_checked()
    await alice.page.keyboard.press("Escape")
    await alice.page.get_by_label("Name", exact=True).fill("Alice")
    await alice.join_button.click()
    await bob.join("Bob")
    b_id = await bob.self_id()
    await wait_for(lambda: alice.page.evaluate(f"window.secretCall.iceTransportPolicy('{b_id}')"),
                   timeout=CONNECT_TIMEOUT, message="Alice's link to Bob")
    assert await alice.page.evaluate(f"window.secretCall.iceTransportPolicy('{b_id}')") == "relay"
    a_id = await alice.self_id()
    assert await bob.page.evaluate(f"window.secretCall.iceTransportPolicy('{a_id}')") == "all"
