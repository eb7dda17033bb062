"""Faults and abuse over real sockets: drops, resume, heartbeats, caps and proxies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from conftest import wait_for
from fakes import SDP
from test_server import Api, auth, closed_with, until_type  # noqa: F401  (fixtures below reuse them)
from test_server import make_api  # noqa: F401

def vanish(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Drop the TCP connection without a close frame, as a lost network does."""
    ws._conn.transport.abort()  # type: ignore[union-attr]


async def test_drop_keeps_the_seat_and_resume_takes_it_back(make_api: Any) -> None:
    api = await make_api(capacity=2, resume_grace=30)
    a = await api.ws()
    hello = await a.receive_json()
    await a.send_json({"type": "name", "name": "A"})
    b, b_id = await api.joined("B")
    vanish(a)
    roster = await until_type(b, "roster")
    assert roster["roster"][0] == {"id": hello["id"], "name": "A", "reconnecting": True}
    back = await api.ws(protocols=("secret-call.v1", auth("test-token-Ключ"),
                                   f"resume.{hello['id']}.{hello['resume']}"))
    again = await back.receive_json()
    assert again["id"] == hello["id"] and again["resumed"] is True
    assert back.protocol == "secret-call.v1"
    roster = await until_type(b, "roster")
    assert roster["roster"][0]["reconnecting"] is False
    await b.send_json({"type": "offer", "to": hello["id"], "sdp": SDP})
    assert (await until_type(back, "offer"))["from"] == b_id


async def test_drop_without_return_is_removed_after_grace(make_api: Any) -> None:
    api = await make_api(capacity=2, resume_grace=0.3)
    a, a_id = await api.joined("A")
    b, b_id = await api.joined("B")
    vanish(a)
    assert (await until_type(b, "roster"))["roster"][0]["reconnecting"] is True
    roster = await until_type(b, "roster", timeout=5)
    assert [p["id"] for p in roster["roster"]] == [b_id]


async def test_clean_close_frees_the_seat_at_once(make_api: Any) -> None:
    api = await make_api(capacity=2, resume_grace=30)
    a, _ = await api.joined("A")
    b, b_id = await api.joined("B")
    await a.close()
    roster = await until_type(b, "roster")
    assert [p["id"] for p in roster["roster"]] == [b_id]
    c, _ = await api.joined("C")
    assert len(api.state.room.participants) == 2


async def test_heartbeat_finds_a_half_open_socket(make_api: Any) -> None:
    api = await make_api(capacity=2, heartbeat=0.2, resume_grace=0.2)
    headers = {"User-Agent": "Mozilla/5.0 test", "Origin": api.origin}
    silent = await api.client.ws_connect("/ws", protocols=("secret-call.v1", auth("test-token-Ключ")),
                                         headers=headers, autoping=False)
    await silent.receive_json()
    await silent.send_json({"type": "name", "name": "Silent"})
    b, b_id = await api.joined("B")
    # aiohttp's client answers pings inside receive(): B keeps reading, the silent one never does.
    rosters: list[list[str]] = []

    async def read_b() -> None:
        async for frame in b:
            message = json.loads(frame.data)
            if message["type"] == "roster":
                rosters.append([p["id"] for p in message["roster"]])
    reader = asyncio.create_task(read_b())
    await wait_for(lambda: rosters and rosters[-1] == [b_id], timeout=10,
                   message="B sees the half-open participant removed")
    assert [m.id for m in api.state.room.participants] == [b_id]
    reader.cancel()


async def test_per_address_cap_refuses_extra_sockets(make_api: Any) -> None:
    api = await make_api(max_per_address=3)
    sockets = [await api.ws() for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await api.ws()
    assert error.value.status == 429
    await sockets[0].close()
    await wait_for(lambda: sum(api.state.per_address.values()) == 2, message="the slot is freed")
    assert (await (await api.ws()).receive_json())["type"] == "hello"


async def test_lobby_cap_refuses_more_waiting_sockets(make_api: Any) -> None:
    api = await make_api(max_lobby=2, capacity=3)
    first = await api.ws()
    await first.receive_json()
    await api.ws()
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await api.ws()
    assert error.value.status == 503
    await first.send_json({"type": "name", "name": "joins"})
    await until_type(first, "roster")
    assert (await (await api.ws()).receive_json())["type"] == "hello"


async def forwarded_socket(api: Api, forwarded_for: str, **headers: str) -> aiohttp.ClientWebSocketResponse:
    return await api.client.ws_connect("/ws", protocols=("secret-call.v1", auth("test-token-Ключ")),
                                       headers={"User-Agent": "Mozilla/5.0", "Origin": api.origin,
                                                "X-Forwarded-For": forwarded_for, **headers})


async def test_forwarded_headers_ignored_from_untrusted_peers(make_api: Any) -> None:
    api = await make_api(max_per_address=2)
    for n in range(2):
        assert (await (await forwarded_socket(api, f"10.0.0.{n}")).receive_json())["type"] == "hello"
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await forwarded_socket(api, "10.0.0.9")
    assert error.value.status == 429, "every socket counts against the TCP peer, whatever it claims"
    response = await api.client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


async def test_forwarded_headers_honoured_from_trusted_proxies(make_api: Any) -> None:
    api = await make_api(trusted_proxies=("127.0.0.0/8",), max_per_address=2)
    for _ in range(2):
        assert (await (await forwarded_socket(api, "203.0.113.9")).receive_json())["type"] == "hello"
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await forwarded_socket(api, "203.0.113.9")
    assert error.value.status == 429
    ws = await forwarded_socket(api, "203.0.113.10")
    assert (await ws.receive_json())["type"] == "hello"
    assert api.state.per_address == {"203.0.113.9": 2, "203.0.113.10": 1}
    response = await api.client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    https_origin = f"https://{api.client.host}:{api.client.port}"
    ws = await api.client.ws_connect("/ws", protocols=("secret-call.v1", auth("test-token-Ключ")),
                                     headers={"User-Agent": "Mozilla/5.0", "Origin": https_origin,
                                              "X-Forwarded-Proto": "https"})
    assert (await ws.receive_json())["type"] == "hello"


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One client-to-server WebSocket frame (clients must mask)."""
    import os
    import struct
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def raw_participant(api: Api, name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A participant on a bare TCP socket, so the test decides what it reads and how it closes."""
    import base64
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    key = base64.b64encode(b"0123456789abcdef").decode()
    writer.write((f"GET /ws HTTP/1.1\r\nHost: {api.client.host}:{api.client.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: secret-call.v1, {auth('test-token-Ключ')}\r\n"
                  f"Origin: {api.origin}\r\nUser-Agent: Mozilla/5.0 raw\r\n\r\n").encode())
    assert b"101" in await reader.readuntil(b"\r\n\r\n")
    writer.write(masked_frame(json.dumps({"type": "name", "name": name}).encode()))
    await writer.drain()
    await wait_for(lambda: name in [m.name for m in api.state.room.participants], message=f"{name} joins")
    return reader, writer


async def test_close_frame_then_cut_tcp_still_frees_the_seat_at_once(make_api: Any) -> None:
    api = await make_api(capacity=2, resume_grace=30)
    reader, writer = await raw_participant(api, "Hasty")
    writer.write(masked_frame((1000).to_bytes(2, "big"), opcode=0x8))
    await writer.drain()
    writer.transport.abort()
    await wait_for(lambda: not api.state.room.participants, timeout=5,
                   message="the seat is freed without the 30 s grace period")


async def test_a_reader_that_never_reads_is_closed_and_others_go_on(make_api: Any) -> None:
    api = await make_api(capacity=3, rate_limit=0, heartbeat=0)
    reader, writer = await raw_participant(api, "Sloth")
    # From here on it never reads: what the server sends it piles up.
    talker, _ = await api.joined("Talker")
    listener, _ = await api.joined("Listener")
    heard: dict[str, list[str]] = {"Talker": [], "Listener": []}

    async def keep_reading(ws: aiohttp.ClientWebSocketResponse, name: str) -> None:
        async for frame in ws:
            message = json.loads(frame.data)
            if message["type"] == "chat":
                heard[name].append(message["text"])
    readers = [asyncio.create_task(keep_reading(talker, "Talker")),
               asyncio.create_task(keep_reading(listener, "Listener"))]
    text = "x" * 1900
    for _ in range(10_000):
        await talker.send_str(json.dumps({"type": "chat", "text": text}))
    await wait_for(lambda: "Sloth" not in [m.name for m in api.state.room.participants], timeout=60,
                   message="the server cuts off the reader that never reads")
    await talker.send_json({"type": "chat", "text": "still flowing"})
    await wait_for(lambda: "still flowing" in heard["Listener"], timeout=60, message="the others go on")
    assert sorted(m.name for m in api.state.room.participants) == ["Listener", "Talker"]
    assert len(heard["Listener"]) == 10_001
    for task in readers:
        task.cancel()
    writer.close()
