"""Browser-like WebSocket clients for the load generator, and messages that carry their send time.

Every relayed message carries `time.monotonic()` of its sending inside a field the server keeps
(the SDP text or the candidate string), so the receiver (the same process, the same
CLOCK_MONOTONIC) computes the relay latency exactly the same way for both servers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import BROWSER_UA
from bench.servers import Target

logger = logging.getLogger(__name__)

PER_ADDRESS = 30  # the server allows 32 sockets per client address; stay under it
STAMP = " ts "
SDP_SIZE = 3000


def subprotocols(token: str) -> list[str]:
    return ["secret-call.v1", "auth." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")]


class AddressPool:
    """ClientSessions bound to 127.0.0.1, 127.0.0.2, … so that no address exceeds the per-address cap.

    The whole 127.0.0.0/8 is loopback on Linux: the load never leaves the machine.
    """

    def __init__(self, per_address: int = PER_ADDRESS) -> None:
        self.per_address = per_address
        self._sessions: list[aiohttp.ClientSession] = []
        self._handed = 0

    def next_session(self) -> aiohttp.ClientSession:
        index = self._handed // self.per_address
        self._handed += 1
        while len(self._sessions) <= index:
            connector = aiohttp.TCPConnector(limit=0, local_addr=(f"127.0.0.{len(self._sessions) + 1}", 0))
            self._sessions.append(aiohttp.ClientSession(connector=connector))
        return self._sessions[index]

    async def close(self) -> None:
        for session in self._sessions:
            await session.close()
        self._sessions.clear()
        self._handed = 0

    async def __aenter__(self) -> "AddressPool":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def open_socket(pool: AddressPool, target: Target) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """Connect as a browser would (subprotocols, User-Agent, Origin) and read the `hello`."""
    ws = await pool.next_session().ws_connect(
        target.ws_url, protocols=subprotocols(target.token), max_msg_size=0, autoping=True,
        headers={"User-Agent": BROWSER_UA, "Origin": target.origin})
    frame = await asyncio.wait_for(ws.receive(), 10)
    hello = json.loads(frame.data) if frame.type == aiohttp.WSMsgType.TEXT else {}
    if hello.get("type") != "hello":
        await ws.close()
        raise RuntimeError(f"{target.kind} refused a socket: {frame.type} {str(frame.data)[:200]}")
    return ws, hello


@dataclass
class IdleSocket:
    """A socket that only reads what it is sent (rosters), so that the server never sees a slow reader."""

    ws: aiohttp.ClientWebSocketResponse
    task: asyncio.Task[None] | None = None

    def start(self) -> "IdleSocket":
        self.task = asyncio.create_task(self._drain())
        return self

    async def _drain(self) -> None:
        async for _ in self.ws:
            pass

    async def close(self) -> None:
        await self.ws.close()
        if self.task is not None:
            await self.task


async def open_idle(pool: AddressPool, target: Target, count: int) -> list[IdleSocket]:
    """Open `count` idle sockets, a few at a time."""
    sockets: list[IdleSocket] = []
    for start in range(0, count, 16):
        batch = await asyncio.gather(*(open_socket(pool, target) for _ in range(min(16, count - start))))
        sockets.extend(IdleSocket(ws).start() for ws, _ in batch)
    return sockets


async def close_all(sockets: list[IdleSocket]) -> None:
    await asyncio.gather(*(s.close() for s in sockets))


@dataclass
class Participant:
    """A participant socket whose frames the benchmark reads itself."""

    ws: aiohttp.ClientWebSocketResponse
    id: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)


async def open_participant(pool: AddressPool, target: Target) -> Participant:
    ws, hello = await open_socket(pool, target)
    return Participant(ws, hello["id"])


async def join_all(participants: list[Participant], target: Target, timeout: float = 10.0) -> float:
    """Everyone sends `name` at once; return the seconds until each has seen the full roster.

    The bare relay has no room: there is nothing to join, and this returns 0.
    """
    if not target.has_room:
        return 0.0
    everyone = {p.id for p in participants}

    async def until_full_roster(participant: Participant) -> None:
        while True:
            frame = await participant.ws.receive()
            if frame.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"socket closed while joining: {frame.type} {frame.data!r}")
            message = json.loads(frame.data)
            if message["type"] == "error":
                participant.errors.append(message)
            elif message["type"] == "full":
                raise RuntimeError("the call is full: sockets of an earlier round are still in it")
            elif message["type"] == "roster" and {m["id"] for m in message["roster"]} >= everyone:
                return

    start = time.monotonic()
    await asyncio.gather(*(p.send(json.dumps({"type": "name", "name": f"P{i:02d}"}))
                           for i, p in enumerate(participants)))
    await asyncio.wait_for(asyncio.gather(*(until_full_roster(p) for p in participants)), timeout)
    return time.monotonic() - start


# -- stamped messages ---------------------------------------------------------------------------

def _sdp_body(size: int) -> str:
    """A realistic-looking audio SDP, padded with a=ssrc lines to about `size` characters."""
    head = ("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
            "a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
            "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xq3b\r\na=ice-pwd:4ZcD8e9Jv1sTpLh7Qw2Rk0Yn\r\n"
            "a=ice-options:trickle\r\na=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
            "a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
            "a=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n")
    lines = [head]
    length, index = len(head), 0
    while length < size - 40:
        lines.append(f"a=ssrc:{1000000 + index} cname:bench{index:04d}abcdefghij\r\n")
        length, index = length + len(lines[-1]), index + 1
    return "".join(lines)


@dataclass
class Stamper:
    """Builds offers, answers and ICE candidates of realistic size that carry their send time.

    The JSON around the stamp is built once per destination: the load generator must stay cheap.
    """

    sdp_size: int = SDP_SIZE
    _sdp: str = ""
    _candidates: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._sdp = _sdp_body(self.sdp_size)

    def description(self, kind: str, to: str) -> str:
        sdp = f"{self._sdp}a=x-bench{STAMP}{time.monotonic():.6f}\r\n"
        return json.dumps({"type": kind, "to": to, "sdp": sdp})

    def candidate(self, to: str) -> str:
        template = self._candidates.get(to)
        if template is None:
            text = "candidate:842163049 1 udp 2122260223 127.0.0.1 50000 typ host generation 0 ufrag Xq3b " \
                   f"network-id 1{STAMP}@"
            head, tail = json.dumps({"type": "ice", "to": to, "candidate": {
                "candidate": text, "sdpMid": "0", "sdpMLineIndex": 0}}).split("@")
            template = self._candidates[to] = (head, tail)
        return f"{template[0]}{time.monotonic():.6f}{template[1]}"


def latency(text: str, now: float) -> float:
    """Seconds since the stamp in a relayed frame was taken (the frame's raw text, not parsed)."""
    start = text.rindex(STAMP) + len(STAMP)
    end = start
    while end < len(text) and (text[end].isdigit() or text[end] == "."):
        end += 1
    return now - float(text[start:end])
