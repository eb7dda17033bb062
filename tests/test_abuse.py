"""What a hostile participant or guest can try over real sockets, and what the server does about it."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest

from conftest import BROWSER_UA, RunningServer, wait_for
from echo import DEFAULT_ROUTE_PROBE, route_source
from fakes import SDP
from probe import subprotocols

@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def connect(session: aiohttp.ClientSession, server: RunningServer,
                  forwarded_for: str | None = None) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """A browser-like socket (optionally behind a trusted proxy that forwards for `forwarded_for`)."""
    headers = {"User-Agent": BROWSER_UA, "Origin": server.url.rstrip("/")}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    ws = await session.ws_connect(server.ws_url, protocols=subprotocols(server.token), headers=headers)
    hello = await ws.receive_json()
    assert hello["type"] == "hello", hello
    return ws, hello["id"]


async def next_of(ws: aiohttp.ClientWebSocketResponse, *kinds: str, timeout: float = 15) -> dict[str, Any]:
    """The next message of one of these types (an error always counts)."""
    while True:
        frame = await ws.receive(timeout=timeout)
        assert frame.type == aiohttp.WSMsgType.TEXT, f"expected {kinds}, got {frame.type} {frame.data!r}"
        message = json.loads(frame.data)
        if message["type"] in (*kinds, "error"):
            return message


async def join(ws: aiohttp.ClientWebSocketResponse, name: str) -> dict[str, Any]:
    await ws.send_json({"type": "name", "name": name})
    return await next_of(ws, "roster", "full")


# -- signaling ------------------------------------------------------------------------------------

async def test_abuse_junk_sdp_never_reaches_the_other_participant(
        start_server: Callable[..., RunningServer], session: aiohttp.ClientSession) -> None:
    server = start_server()
    attacker, _ = await connect(session, server)
    victim, victim_id = await connect(session, server)
    await join(attacker, "Mallory")
    await join(victim, "Victim")
    for junk in ("v=0\r\nx", "v=0\r\nm=audio 9 RTP/AVP 0\r\n", "hello", SDP.replace("v=0", "v=1")):
        for kind in ("offer", "answer"):
            await attacker.send_json({"type": kind, "to": victim_id, "sdp": junk})
            refused = await next_of(attacker, "never")
            assert refused["code"] == "bad-message" and "a=fingerprint:" in refused["message"]
    await attacker.send_json({"type": "offer", "to": victim_id, "sdp": SDP})
    assert (await next_of(victim, "offer", "chat"))["sdp"] == SDP, "the first thing the victim gets is the real offer"


async def test_abuse_json_nested_near_the_decoder_limit_is_bad_json_and_the_socket_lives(
        start_server: Callable[..., RunningServer], session: aiohttp.ClientSession) -> None:
    server = start_server()
    ws, _ = await connect(session, server)
    for depth in (900, 9):
        await ws.send_str('{"type":"chat","text":"x","deep":' + "[" * depth + '"\\u00e9"' + "]" * depth + "}")
        assert (await next_of(ws, "never"))["code"] == "bad-json"
    roster = await join(ws, "Still here")
    assert roster["roster"][0]["name"] == "Still here"


async def test_abuse_names_that_look_alike_or_invisible_are_refused_over_sockets(
        start_server: Callable[..., RunningServer], session: aiohttp.ClientSession) -> None:
    server = start_server(capacity=4)
    alice, _ = await connect(session, server)
    await join(alice, "Alice")
    impostor, _ = await connect(session, server)
    for name, code in (("ALICE", "name-taken"), ("Ａｌｉｃｅ", "name-taken"), ("Al\u200bice", "bad-name"),
                       ("\u3164", "bad-name"), ("Alice\u2060", "bad-name")):
        reply = await join(impostor, name)
        assert reply["type"] == "error" and reply["code"] == code, (name, reply)
    boris = await join(impostor, "Борис")
    assert [p["name"] for p in boris["roster"]] == ["Alice", "Борис"]
    renamed = await join(impostor, "alice")
    assert renamed["type"] == "error" and renamed["code"] == "name-taken"
    assert [m.name for m in server.call(lambda: server.server.state.room.participants)] == ["Alice", "Борис"]


# -- the sound check ------------------------------------------------------------------------------

AIORTC_OFFER = (Path(__file__).parent / "fixtures" / "sdp" / "aiortc-offer.sdp").read_bytes().decode()


async def test_abuse_sound_check_starts_are_paced_per_socket_and_per_address(
        start_server: Callable[..., RunningServer], session: aiohttp.ClientSession) -> None:
    server = start_server(trusted_proxies=("127.0.0.1/32",))
    first, _ = await connect(session, server, forwarded_for="198.51.100.7")
    same_address, _ = await connect(session, server, forwarded_for="198.51.100.7")
    elsewhere, _ = await connect(session, server, forwarded_for="198.51.100.8")
    for ws in (first, first, same_address, elsewhere):
        await ws.send_json({"type": "echo", "sdp": AIORTC_OFFER})
    # The refusal comes at once, the answer once the echo has gathered: in either order.
    replies = sorted([await next_of(first, "echo"), await next_of(first, "echo")], key=lambda m: m["type"])
    assert [m["type"] for m in replies] == ["echo", "error"]
    assert replies[1]["code"] == "rate-limited" and "between sound checks" in replies[1]["message"]
    assert (await next_of(same_address, "echo"))["code"] == "rate-limited"
    assert (await next_of(elsewhere, "echo"))["type"] == "echo"


class Trap:
    """A UDP port on loopback that records every datagram sent to it."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]
        self.received: list[bytes] = []

    def poll(self) -> list[bytes]:
        while True:
            try:
                self.received.append(self.socket.recv(2048))
            except BlockingIOError:
                return self.received

    def close(self) -> None:
        self.socket.close()


async def aiortc_offer(candidates: list[str] | None = None) -> str:
    """A real aiortc offer; with `candidates`, those candidate lines in place of its own."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    from media import ToneTrack

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(ToneTrack(440))
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    if candidates is None:
        return sdp
    lines = [line for line in sdp.splitlines(keepends=True) if not line.startswith("a=candidate:")]
    return "".join(lines) + "".join(f"{line}\r\n" for line in candidates)


async def test_abuse_echo_checks_only_allowed_candidates_and_never_asks_the_turn_server(
        start_server: Callable[..., RunningServer], session: aiohttp.ClientSession) -> None:
    if route_source(DEFAULT_ROUTE_PROBE) is None:
        pytest.fail("this test needs a default route: the echo answers a remote guest on its address")
    internal, relay, turn = Trap(), Trap(), Trap()
    try:
        server = start_server(trusted_proxies=("127.0.0.1/32",), ice_servers=(
            {"urls": f"turn:127.0.0.1:{turn.port}", "username": "host-user", "credential": "host-secret"},))
        guest, _ = await connect(session, server, forwarded_for="1.2.3.4")
        offer = await aiortc_offer([
            f"a=candidate:1 1 udp 2130706431 127.0.0.1 {internal.port} typ host",
            f"a=candidate:2 1 udp 2130706175 10.0.0.1 {internal.port} typ host",
            f"a=candidate:3 1 udp 16777215 127.0.0.1 {relay.port} typ relay raddr 0.0.0.0 rport 0",
        ])
        await guest.send_json({"type": "echo", "sdp": offer})
        answer = await next_of(guest, "echo")
        assert answer["type"] == "echo", answer
        assert not turn.poll(), "the echo must not use the host's TURN server"
        assert "typ relay" not in answer["sdp"] and "typ srflx" not in answer["sdp"]
        # The relay candidate is on the TURN server's address, so the echo checks it: once it has,
        # it would have checked the internal one too (a higher priority, so checked first).
        await wait_for(relay.poll, timeout=15, message="a connectivity check to the relay candidate")
        assert not internal.poll(), "the echo sent STUN to an internal address the guest named"
    finally:
        for trap in (internal, relay, turn):
            trap.close()


async def test_abuse_echo_answers_the_hosts_browser_on_loopback_and_the_default_route_only(
        start_server: Callable[..., RunningServer], session: aiohttp.ClientSession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice.ice

    everything = aioice.ice.get_host_addresses
    # As if the machine had more interfaces: ::1 stands for a docker bridge or a VPN (it binds anywhere).
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4=True, use_ipv6=True: [*everything(use_ipv4, use_ipv6), "::1"])
    server = start_server()
    host, _ = await connect(session, server)
    await host.send_json({"type": "echo", "sdp": await aiortc_offer()})
    answer = await next_of(host, "echo")
    assert answer["type"] == "echo", answer
    offered = {line.split()[4] for line in answer["sdp"].splitlines() if line.startswith("a=candidate:")}
    needed = {"127.0.0.1", route_source(DEFAULT_ROUTE_PROBE)} - {None}
    assert offered and offered <= needed, f"offered {offered}, needed only {needed}"
