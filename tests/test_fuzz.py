"""Hypothesis fuzzes /ws with generated frames while two participants keep talking."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import BROWSER_UA, RunningServer, auth, wait_for

BATCH = 50
BATCHES = 210  # 10,500 frames


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
tricky_text = st.sampled_from([
    "", " ", "\u0000", "\u202e", "\ufeff", "\U0001f600", "Борис", "<img src=x onerror=alert(1)>",
    "\\ud800", "x" * 2001, "\r\n", "a\u0301", "\U000e0041",
])
field_values = st.one_of(json_values, tricky_text, st.integers(min_value=-2**70, max_value=2**70))
message_types = st.sampled_from(["name", "leave", "offer", "answer", "ice", "chat", "verify", "echo", "echo-stop",
                                 "hello", "roster", "", "x" * 100])


@st.composite
def protocol_like(draw: Any, ids: list[str]) -> str:
    """A message that looks like protocol v1 but with any field of any type."""
    message: dict[str, Any] = {"type": draw(message_types | st.integers())}
    for key in draw(st.lists(st.sampled_from(["to", "sdp", "candidate", "text", "mentions", "name", "from",
                                                              "step", "value", "id"]),
                             max_size=4, unique=True)):
        message[key] = draw(st.sampled_from(ids) | field_values)
    return json.dumps(message)


def frames(ids: list[str]) -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        protocol_like(ids),
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.integers(min_value=1, max_value=20_000).map(lambda n: "[" * n + "]" * n),
        st.integers(min_value=1, max_value=3_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
        st.sampled_from(['{"type":"chat","text":"\\ud800"}', '{"type":"name","name":"\\udfff"}',
                         '{"type":"chat","text":"' + "y" * 70_000 + '"}', "NaN", "1e999999", "\"\\u0000\"",
                         '{"type":"name","name":"fuzz"}']),
        st.binary(max_size=64),
    )


class Participant:
    """A well-behaved participant that records the chat it receives."""

    def __init__(self, session: aiohttp.ClientSession, server: RunningServer) -> None:
        self.session, self.server = session, server
        self.chats: list[str] = []
        self.id = ""

    async def join(self, name: str) -> None:
        self.ws = await self.session.ws_connect(
            self.server.ws_url, protocols=("secret-call.v1", auth(self.server.token)),
            headers={"User-Agent": BROWSER_UA, "Origin": self.server.url.rstrip("/")})
        self.id = (await self.ws.receive_json())["id"]
        await self.ws.send_json({"type": "name", "name": name})
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame.data)
            if message["type"] == "chat":
                self.chats.append(message["text"])


class Fuzzer:
    """Sends generated frames, reconnecting whenever the server closes it (as it should for some)."""

    def __init__(self, session: aiohttp.ClientSession, server: RunningServer) -> None:
        self.session, self.server = session, server
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sent = 0
        self.reconnects = 0

    async def send(self, batch: list[str | bytes]) -> None:
        for frame in batch:
            if self.ws is None or self.ws.closed:
                self.ws = await self.session.ws_connect(
                    self.server.ws_url, protocols=("secret-call.v1", auth(self.server.token)),
                    headers={"User-Agent": BROWSER_UA, "Origin": self.server.url.rstrip("/")})
                self.reconnects += 1
                asyncio.ensure_future(self._drain(self.ws))
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                pass
            self.sent += 1

    async def _drain(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            pass


def test_fuzz_ws_survives_10000_generated_frames(start_server: Any) -> None:
    server = start_server(capacity=3, rate_limit=0)
    run = server.runner.run
    session = run(_session())
    alice, bob = Participant(session, server), Participant(session, server)
    run(alice.join("Alice"))
    run(bob.join("Bob"))
    fuzzer = Fuzzer(session, server)
    ids = [alice.id, bob.id]
    rounds = [0]

    tracemalloc.start()
    baseline: list[tracemalloc.Snapshot] = []

    @settings(max_examples=BATCHES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(frames(ids), min_size=BATCH, max_size=BATCH))
    def fuzz(batch: list[str | bytes]) -> None:
        nonlocal baseline
        run(fuzzer.send(batch), timeout=60)
        rounds[0] += 1
        text = f"round {rounds[0]}"
        run(alice.ws.send_json({"type": "chat", "text": text}))
        run(wait_for(lambda: text in bob.chats, timeout=10, interval=0.005, message=text), timeout=15)
        if rounds[0] == 20:
            baseline.append(tracemalloc.take_snapshot())

    try:
        fuzz()
        final = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        run(session.close())

    assert fuzzer.sent >= 10_000
    assert len(bob.chats) >= BATCHES and len(alice.chats) >= BATCHES
    state = server.server.state
    participants = server.call(lambda: {m.id for m in state.room.participants})
    assert {alice.id, bob.id} <= participants
    # Memory stays flat: what the server's own code holds did not grow with the frames it handled.
    server_code = [tracemalloc.Filter(True, "*/core.py"), tracemalloc.Filter(True, "*/aiohttp/web_*")]
    grown = sum(stat.size_diff for stat in final.filter_traces(server_code).compare_to(
        baseline[0].filter_traces(server_code), "filename"))
    assert grown < 1_000_000, f"the server's memory grew by {grown} bytes during the fuzzing"
    members, failures = server.call(lambda: (len(state.room.members), len(state.auth_failures._failures)))
    assert members <= 3 and failures == 0


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

