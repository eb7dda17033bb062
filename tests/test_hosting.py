"""One hosting session (hosting.py) over a real CallServer: the tunnel's address moves the allowed host
with it, changes are pushed to the listeners, Stop stops the tunnel and the server. The tunnel is a
stand-in: localhost.run's and Cloudflare's servers are out of reach here."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest

from config import Config
from conftest import TOKEN, wait_for
from core import CallServer
from hosting import Hosting
from test_access import attempt, connect, locally


class StandInTunnel:
    """What a tunnel does for hosting: starts, stops, and reports its address through on_url."""

    def __init__(self, provider: str, port: int | None, *, on_url: Callable[[str | None], None],
                 on_status: Callable[[str], None]) -> None:
        self.provider, self.port, self.on_url, self.on_status = provider, port, on_url, on_status
        self.running = False

    async def start(self) -> None:
        self.running = True
        self.on_status("connecting")

    async def stop(self) -> None:
        self.running = False


class Recorder:
    def __init__(self) -> None:
        self.public: list[tuple[str | None, str | None]] = []
        self.status: list[str] = []
        self.counts: list[int] = []
        self.tunnels: list[StandInTunnel] = []

    def tunnel(self, *args: Any, **kwargs: Any) -> StandInTunnel:
        self.tunnels.append(StandInTunnel(*args, **kwargs))
        return self.tunnels[-1]

    def hosting(self) -> Hosting:
        return Hosting(CallServer, self.tunnel, on_public=lambda *pair: self.public.append(pair),
                       on_tunnel_status=self.status.append, on_participants=self.counts.append)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_hosting_moves_the_allowed_host_with_the_tunnel(session: aiohttp.ClientSession) -> None:
    recorder = Recorder()
    hosting = recorder.hosting()
    info = await hosting.start(Config(token=TOKEN, port=0, tunnel="localhost.run"), "localhost.run")
    try:
        assert info.tunnel_error is None and recorder.status == ["connecting"]
        server = hosting.server
        assert isinstance(server, CallServer) and server.tunnel_port is not None
        tunnel = recorder.tunnels[0]
        assert tunnel.running and tunnel.port == server.tunnel_port

        async def through(host: str) -> str:
            headers = {"Host": host, "Origin": f"https://{host}", "X-Forwarded-For": "203.0.113.9"}
            return await attempt(session, server.tunnel_port, headers)  # type: ignore[arg-type]

        tunnel.on_url("https://first.lhr.life")
        assert recorder.public[-1] == ("https://first.lhr.life", server.invite_url("https://first.lhr.life"))
        assert await through("first.lhr.life") == "hello"
        # The tunnel comes back on a new host: the old one, which someone else may get next, is refused.
        tunnel.on_url(None)
        tunnel.on_url("https://second.lhr.life")
        assert recorder.public[-2:] == [(None, None),
                                        ("https://second.lhr.life", server.invite_url("https://second.lhr.life"))]
        assert await through("second.lhr.life") == "hello"
        assert await through("first.lhr.life") == "HTTP 421"
    finally:
        await hosting.stop()
    assert not recorder.tunnels[0].running and hosting.server is None


async def test_hosting_pushes_the_participant_count(session: aiohttp.ClientSession) -> None:
    recorder = Recorder()
    hosting = recorder.hosting()
    await hosting.start(Config(token=TOKEN, port=0, capacity=3), "none")
    try:
        server = hosting.server
        assert isinstance(server, CallServer) and recorder.tunnels == []
        where = locally(server)

        ws = await connect(session, where["port"], where["headers"])
        await ws.receive_json()
        await ws.send_json({"type": "name", "name": "Alice"})
        await wait_for(lambda: recorder.counts[-1:] == [1], message="the join pushed")
        assert await hosting.participant_count() == 1
        await ws.close()
        await wait_for(lambda: recorder.counts[-1:] == [0], timeout=40, message="the leave pushed")
    finally:
        await hosting.stop()
    assert await hosting.participant_count() == 0


async def test_hosting_twice_is_refused_and_a_failed_tunnel_keeps_the_server() -> None:
    def broken(*args: Any, **kwargs: Any) -> StandInTunnel:
        raise RuntimeError("no ssh here")

    hosting = Hosting(CallServer, broken)
    info = await hosting.start(Config(token=TOKEN, port=0, tunnel="localhost.run"), "localhost.run")
    try:
        assert info.tunnel_error == "no ssh here" and hosting.server is not None and hosting.server.running
        with pytest.raises(RuntimeError, match="already hosting"):
            await hosting.start(Config(token=TOKEN, port=0), "none")
    finally:
        await hosting.stop()
