"""The sound check: a private aiortc echo that plays a user's audio back about 1.5 s later."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import numpy as np
import pytest

from conftest import BROWSER_UA, wait_for
from media import AudioMeter, ToneTrack
from probe import subprotocols


@pytest.fixture(autouse=True)
def loopback_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice.ice
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"])


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
