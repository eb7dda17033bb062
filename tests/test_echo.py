"""The sound check: a private aiortc echo that plays a user's audio back about 1.5 s later."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import numpy as np
import pytest

from conftest import BROWSER_UA, wait_for
from media import AudioMeter, ToneTrack
from probe import loopback_only, subprotocols


@pytest.fixture(autouse=True)
def loopback_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice.ice
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_only)


async def connect(session: aiohttp.ClientSession, server: Any) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    ws = await session.ws_connect(server.ws_url, protocols=subprotocols(server.token),
                                  headers={"User-Agent": BROWSER_UA, "Origin": server.url.rstrip("/")})
    return ws, (await ws.receive_json())["id"]


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads((await ws.receive(timeout=15)).data)
        if message["type"] in (kind, "error"):
            return message


async def test_echo_plays_my_audio_back_delayed_without_taking_a_seat(start_server: Any) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    server = start_server(capacity=2)
    async with aiohttp.ClientSession() as session:
        a, _ = await connect(session, server)
        b, _ = await connect(session, server)
        for ws, name in ((a, "A"), (b, "B")):
            await ws.send_json({"type": "name", "name": name})
        lobby, lobby_id = await connect(session, server)

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(ToneTrack(600))
        levels: list[tuple[int, float]] = []
        meters: list[AudioMeter] = []

        @pc.on("track")
        def on_track(track: Any) -> None:
            meter = AudioMeter(track)
            meter.listeners.append(lambda samples, rate: levels.append((len(samples), float(np.abs(samples).max()))))
            meters.append(meter)

        await pc.setLocalDescription(await pc.createOffer())
        await lobby.send_json({"type": "echo", "sdp": pc.localDescription.sdp})
        answer = await next_of(lobby, "echo")
        assert answer["type"] == "echo", answer
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await wait_for(lambda: meters and meters[0].seconds > 3.0, timeout=20, message="3 s of echo")

        silent = 0
        for count, peak in levels:
            if peak > 0.05:
                break
            silent += count
        assert silent / 48_000 >= 1.0, "the echo should start after about 1.5 s of silence"
        assert abs(meters[0].frequency() - 600) < 30
        room = server.server.state.room
        assert len(room.participants) == 2 and lobby_id not in {m.id for m in room.participants}

        await lobby.send_json({"type": "echo-stop"})
        await wait_for(lambda: not room.echo.sessions, message="the echo session ends")
        meters[0].stop()
        await pc.close()


async def test_echo_sessions_are_capped_and_end_with_the_socket(start_server: Any) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection

    # Both sockets come from 127.0.0.1: no pause between starts, to reach the cap.
    server = start_server(capacity=2, sound_check_sessions=1, sound_check_interval=0)
    echo = server.server.state.room.echo
    assert echo.max_sessions == 1
    async with aiohttp.ClientSession() as session:
        pcs = []
        sockets = []
        for _ in range(2):
            ws, _ = await connect(session, server)
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTrack(ToneTrack(300))
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send_json({"type": "echo", "sdp": pc.localDescription.sdp})
            pcs.append(pc)
            sockets.append(ws)
        assert (await next_of(sockets[0], "echo"))["type"] == "echo"
        refused = await next_of(sockets[1], "echo")
        assert refused["type"] == "error" and refused["code"] == "unavailable"
        await sockets[0].close()
        await wait_for(lambda: not echo.sessions, message="closing the socket ends its echo")
        for pc in pcs:
            await pc.close()


async def test_echo_bad_offer_is_an_error_not_a_crash(start_server: Any) -> None:
    server = start_server()
    async with aiohttp.ClientSession() as session:
        ws, _ = await connect(session, server)
        await ws.send_json({"type": "echo", "sdp": "v=0 this is not sdp"})
        error = await next_of(ws, "echo")
        assert error["type"] == "error" and error["code"] == "bad-message"
        await ws.send_json({"type": "echo", "sdp": 5})
        assert (await next_of(ws, "echo"))["code"] == "bad-message"
        await ws.send_json({"type": "name", "name": "still fine"})
        assert (await next_of(ws, "roster"))["roster"][0]["name"] == "still fine"


# -- where the echo may send packets --------------------------------------------------------------

def candidate(address: str, kind: str = "host", port: int = 5000) -> str:
    return f"a=candidate:1 1 udp 2122260223 {address} {port} typ {kind}\r\n"


INTERNAL = ["127.0.0.1", "127.3.4.5", "::1", "10.1.2.3", "172.17.0.1", "192.168.1.20", "169.254.7.7", "fe80::1",
            "fd00::5", "100.64.1.1", "0.0.0.0", "224.0.0.251", "::ffff:10.0.0.1", "4b1c8e2e-aaaa.local"]
PUBLIC = ["1.2.3.4", "2606:4700::1111", "::ffff:8.8.4.4"]


def kept(policy: Any, addresses: list[str], kind: str = "host") -> list[str]:
    from echo import filter_candidates

    sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" + "".join(candidate(a, kind) for a in addresses)
    filtered, dropped = filter_candidates(sdp, policy)
    assert dropped == len(addresses) - filtered.count("a=candidate:")
    return [line.split()[4] for line in filtered.splitlines() if line.startswith("a=candidate:")]


def test_echo_ignores_internal_candidates_of_a_guest_but_not_its_own_address() -> None:
    from echo import CandidatePolicy, parse_address

    guest = CandidatePolicy(parse_address("192.168.1.20"))
    assert kept(guest, INTERNAL + PUBLIC) == ["192.168.1.20"] + PUBLIC
    assert kept(CandidatePolicy(None), INTERNAL + PUBLIC) == PUBLIC


def test_echo_takes_relay_candidates_on_the_turn_servers_address_only() -> None:
    from echo import CandidatePolicy, parse_address

    policy = CandidatePolicy(parse_address("1.2.3.4"), relays=frozenset({parse_address("10.9.9.9")}))
    assert kept(policy, ["10.9.9.9"], "relay") == ["10.9.9.9"]
    assert kept(policy, ["10.9.9.9"], "host") == [] and kept(policy, ["10.9.9.8"], "relay") == []


def test_echo_lets_the_hosts_own_browser_use_this_machines_addresses() -> None:
    from echo import CandidatePolicy, parse_address

    own = frozenset({parse_address("192.168.1.20"), parse_address("172.17.0.1")})
    host = CandidatePolicy(parse_address("127.0.0.1"), own=own)
    assert kept(host, INTERNAL + PUBLIC) == ["127.0.0.1", "127.3.4.5", "::1", "172.17.0.1", "192.168.1.20",
                                             "4b1c8e2e-aaaa.local"] + PUBLIC


def test_echo_malformed_candidate_lines_are_dropped() -> None:
    from echo import CandidatePolicy, filter_candidates

    sdp = "v=0\r\na=candidate:1 1 udp 1 1.2.3.4\r\na=candidate:1 1 udp 1 1.2.3.4 5 xyz host\r\na=end-of-candidates\r\n"
    assert filter_candidates(sdp, CandidatePolicy(None)) == ("v=0\r\na=end-of-candidates\r\n", 2)


def test_echo_gathers_only_on_the_address_that_routes_to_the_client() -> None:
    from echo import DEFAULT_ROUTE_PROBE, answer_addresses, parse_address

    routes = {"203.0.113.9": "192.0.2.10", DEFAULT_ROUTE_PROBE: "192.0.2.10", "10.8.0.1": "10.8.0.6",
              "2001:db8::9": "2001:db8::1"}
    route = routes.get
    assert answer_addresses(parse_address("127.0.0.1"), route) == ["127.0.0.1", "192.0.2.10"]
    assert answer_addresses(parse_address("203.0.113.9"), route) == ["192.0.2.10"]
    assert answer_addresses(parse_address("10.8.0.1"), route) == ["10.8.0.6"]
    assert answer_addresses(parse_address("2001:db8::9"), route) == ["2001:db8::1"]
    assert answer_addresses(parse_address("198.18.0.9"), route) == []
    assert answer_addresses(None, route) == ["192.0.2.10"]
    assert answer_addresses(parse_address("127.0.0.1"), lambda _: None) == ["127.0.0.1"]


def test_echo_uses_stun_only_without_credentials() -> None:
    from echo import relay_hosts, stun_only

    servers = [{"urls": ["stun:stun.example.org:3478", "turn:turn.example.org?transport=tcp"], "username": "u",
                "credential": "secret"}, {"urls": "turns:[2001:db8::7]:5349", "username": "u", "credential": "c"},
               {"urls": "turn:10.9.9.9:3478", "username": "u", "credential": "c"}]
    assert stun_only(servers) == [{"urls": ["stun:stun.example.org:3478"]}]
    assert stun_only(servers[1:]) == []
    assert relay_hosts(servers) == {"turn.example.org", "2001:db8::7", "10.9.9.9"}
