"""Integration tests of /ws and HTTP through aiohttp's test client and real sockets."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from config import Config
from conftest import BROWSER_UA, TOKEN, auth, wait_for
from core import MAX_FRAME, STATE, create_app
from fakes import SDP

class Api:
    """A test client plus helpers to open browser-like sockets."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def origin(self) -> str:
        return f"http://{self.client.host}:{self.client.port}"

    @property
    def state(self) -> Any:
        return self.client.server.app[STATE]

    async def ws(self, token: str | None = TOKEN, origin: str | None = "self", ua: str = BROWSER_UA,
                 protocols: tuple[str, ...] | None = None) -> aiohttp.ClientWebSocketResponse:
        headers = {"User-Agent": ua}
        if origin is not None:
            headers["Origin"] = self.origin if origin == "self" else origin
        if protocols is None:
            protocols = ("secret-call.v1",) + ((auth(token),) if token is not None else ())
        return await self.client.ws_connect("/ws", protocols=protocols, headers=headers)

    async def joined(self, name: str) -> tuple[aiohttp.ClientWebSocketResponse, str]:
        ws = await self.ws()
        hello = await ws.receive_json()
        await ws.send_json({"type": "name", "name": name})
        await until_type(ws, "roster")
        return ws, hello["id"]


async def until_type(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5) -> dict[str, Any]:
    """Read frames until one of the given type arrives."""
    async def read() -> dict[str, Any]:
        while True:
            frame = await ws.receive()
            assert frame.type == WSMsgType.TEXT, f"expected {kind}, socket got {frame.type} {frame.data!r}"
            message = json.loads(frame.data)
            if message["type"] == kind:
                return message
    return await asyncio.wait_for(read(), timeout)


async def closed_with(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> int | None:
    """Drain until the socket closes; return the code of the server's close frame."""
    async def drain() -> int | None:
        while True:
            frame = await ws.receive()
            if frame.type == WSMsgType.CLOSE:
                return int(frame.data)
            if frame.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                return ws.close_code
    return await asyncio.wait_for(drain(), timeout)


@pytest.fixture
async def make_api(aiohttp_client: Any) -> Any:
    async def make(**changes: Any) -> Api:
        config = Config(token=changes.pop("token", TOKEN), **changes)
        return Api(await aiohttp_client(create_app(config)))
    return make


@pytest.fixture
async def api(make_api: Any) -> Api:
    return await make_api()


# -- connecting ------------------------------------------------------------------------

async def test_ws_hello_selects_the_protocol_and_never_echoes_auth(api: Api) -> None:
    ws = await api.ws()
    assert ws.protocol == "secret-call.v1"
    hello = await ws.receive_json()
    assert hello["type"] == "hello" and hello["version"] == 1 and hello["capacity"] == 2
    assert hello["roster"] == [] and hello["iceServers"] == []
    assert len(hello["id"]) == 8


async def test_ws_cyrillic_token_is_accepted(make_api: Any) -> None:
    api = await make_api(token="Секретный ключ №1")
    ws = await api.ws(token="Секретный ключ №1")
    assert (await ws.receive_json())["type"] == "hello"


@pytest.mark.parametrize("token", ["wrong", None, "test-token-Клю", ""])
async def test_ws_wrong_or_missing_token_is_refused_with_4401(api: Api, token: str | None) -> None:
    ws = await api.ws(token=token)
    message = await ws.receive_json()
    assert message["type"] == "error" and message["code"] == "unauthorized"
    assert await closed_with(ws) == 4401
    assert len(api.state.room.members) == 0


async def test_ws_malformed_auth_entry_is_refused(api: Api) -> None:
    ws = await api.ws(protocols=("secret-call.v1", "auth.!!!"))
    assert (await ws.receive_json())["code"] == "unauthorized"
    assert await closed_with(ws) == 4401


async def test_ws_foreign_origin_gets_403_before_upgrade(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await api.ws(origin="https://evil.example")
    assert error.value.status == 403


async def test_ws_allowed_origins_and_wildcard(make_api: Any) -> None:
    api = await make_api(allowed_origins=("https://friend.example",))
    assert (await (await api.ws(origin="https://friend.example")).receive_json())["type"] == "hello"
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await api.ws(origin="https://friend.example.evil")
    anyone = await make_api(allowed_origins=("*",))
    assert (await (await anyone.ws(origin="https://anywhere.example")).receive_json())["type"] == "hello"


async def test_ws_tunnel_origin_is_allowed_while_it_is_the_tunnel(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await api.ws(origin="https://abc.lhr.life")
    api.state.hosts.set_tunnel("https://abc.lhr.life")
    assert (await (await api.ws(origin="https://abc.lhr.life")).receive_json())["type"] == "hello"
    api.state.hosts.set_tunnel("https://def.lhr.life")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await api.ws(origin="https://abc.lhr.life")
    api.state.hosts.set_tunnel(None)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await api.ws(origin="https://def.lhr.life")


async def test_ws_another_local_port_is_a_foreign_origin(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await api.ws(origin=f"http://127.0.0.1:{api.client.port + 1}")
    assert error.value.status == 403
    assert (await (await api.ws(origin=f"http://localhost:{api.client.port}")).receive_json())["type"] == "hello"


async def test_ws_without_the_protocol_gets_400(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await api.ws(protocols=(auth(TOKEN),))
    assert error.value.status == 400


async def test_ws_non_browser_agent_is_told_browser_only(api: Api) -> None:
    ws = await api.ws(ua="curl/8.0")
    assert (await ws.receive_json())["type"] == "browser-only"
    assert await closed_with(ws) == 4400


async def test_ws_no_origin_still_needs_token_and_browser(api: Api) -> None:
    ws = await api.ws(origin=None, ua="python-requests/2")
    assert (await ws.receive_json())["type"] == "browser-only"
    ws = await api.ws(origin=None, token="nope")
    assert (await ws.receive_json())["code"] == "unauthorized"


# -- the call ------------------------------------------------------------------------------

async def test_ws_full_call_flow(make_api: Any) -> None:
    api = await make_api(capacity=2)
    lobby = await api.ws()
    await lobby.receive_json()
    a, a_id = await api.joined("Alice")
    b, b_id = await api.joined("Борис")
    roster = await until_type(lobby, "roster")
    assert roster["roster"] == [{"id": a_id, "name": "Alice", "reconnecting": False}]
    roster = await until_type(lobby, "roster")
    assert roster["roster"] == [{"id": a_id, "name": "Alice", "reconnecting": False}, {"id": b_id, "name": "Борис", "reconnecting": False}]

    c, _ = await api.ws(), None
    await c.receive_json()
    await c.send_json({"type": "name", "name": "Carol"})
    assert await until_type(c, "full") == {"type": "full", "capacity": 2}

    await b.send_json({"type": "offer", "to": a_id, "sdp": SDP, "from": "forged"})
    assert await until_type(a, "offer") == {"type": "offer", "from": b_id, "to": a_id, "sdp": SDP}
    await a.send_json({"type": "answer", "to": b_id, "sdp": SDP + "a=x:answer\r\n"})
    assert (await until_type(b, "answer"))["sdp"] == SDP + "a=x:answer\r\n"
    candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", "sdpMid": "0",
                 "sdpMLineIndex": 0}
    await a.send_json({"type": "ice", "to": b_id, "candidate": candidate})
    assert (await until_type(b, "ice"))["candidate"] == candidate
    await a.send_json({"type": "chat", "text": "привет @Борис", "mentions": [b_id]})
    for ws in (a, b):
        chat = await until_type(ws, "chat")
        assert chat["text"] == "привет @Борис" and chat["mentions"] == [b_id] and chat["name"] == "Alice"

    await a.send_json({"type": "leave"})
    assert (await until_type(b, "roster"))["roster"] == [{"id": b_id, "name": "Борис", "reconnecting": False}]
    await c.send_json({"type": "name", "name": "Carol"})
    while len((await until_type(c, "roster"))["roster"]) != 2:
        pass

    await b.close()
    roster = await until_type(c, "roster")
    assert [p["name"] for p in roster["roster"]] == ["Carol"]


@pytest.mark.parametrize("frame,code", [
    ("{oops", "bad-json"), ('{"type": 1}', "bad-message"), ('{"type": "x"}', "unknown-type"),
    ('{"type": "name", "name": ""}', "bad-name"), ('{"type": "offer", "to": "x", "sdp": "s"}', "not-joined"),
    ('{"type": "chat", "text": "' + "y" * 2001 + '"}', "not-joined"),
])
async def test_ws_every_error_code_keeps_the_socket_open(api: Api, frame: str, code: str) -> None:
    ws = await api.ws()
    await ws.receive_json()
    await ws.send_str(frame)
    error = await until_type(ws, "error")
    assert error["code"] == code
    await ws.send_json({"type": "name", "name": "Still here"})
    assert (await until_type(ws, "roster"))["roster"][0]["name"] == "Still here"


async def test_ws_joined_errors_unknown_peer_and_too_long(api: Api) -> None:
    a, _ = await api.joined("A")
    await a.send_json({"type": "offer", "to": "deadbeef", "sdp": SDP})
    assert (await until_type(a, "error"))["code"] == "unknown-peer"
    await a.send_json({"type": "chat", "text": "y" * 2001})
    assert (await until_type(a, "error"))["code"] == "too-long"


async def test_ws_oversized_frame_closes_1009_and_others_stay(api: Api) -> None:
    a, _ = await api.joined("A")
    b, b_id = await api.joined("B")
    await a.send_str('{"type":"chat","text":"' + "x" * MAX_FRAME + '"}')
    assert await closed_with(a) == 1009
    assert [p["id"] for p in (await until_type(b, "roster"))["roster"]] == [b_id]


async def test_ws_binary_frame_closes_1003(api: Api) -> None:
    a, _ = await api.joined("A")
    await a.send_bytes(b"\x00\x01")
    assert await closed_with(a) == 1003
    await wait_for(lambda: len(api.state.room.members) == 0, message="the room forgets the socket")


async def test_ws_flooder_is_limited_then_closed_1008_others_untouched(make_api: Any) -> None:
    api = await make_api(rate_limit=20)
    a, _ = await api.joined("A")
    b, b_id = await api.joined("B")
    for n in range(600):
        await a.send_str(json.dumps({"type": "chat", "text": f"m{n}"}))
    codes = []
    while True:
        frame = await asyncio.wait_for(a.receive(), 5)
        if frame.type != WSMsgType.TEXT:
            break
        message = json.loads(frame.data)
        if message["type"] == "error":
            codes.append(message["code"])
    assert frame.type == WSMsgType.CLOSE and frame.data == 1008
    assert codes and set(codes) == {"rate-limited"}
    c, _ = await api.joined("C")
    await c.send_json({"type": "chat", "text": "hello B"})
    while (message := await until_type(b, "chat"))["text"] != "hello B":
        pass
    assert message["from"] != b_id


async def test_ws_ten_simultaneous_joins_give_exactly_capacity(make_api: Any) -> None:
    api = await make_api(capacity=2)
    sockets = await asyncio.gather(*(api.ws() for _ in range(10)))
    ids = [(await ws.receive_json())["id"] for ws in sockets]
    await asyncio.gather(*(ws.send_json({"type": "name", "name": f"P{i}"}) for i, ws in enumerate(sockets)))
    outcomes = await asyncio.gather(*(join_outcome(ws, member_id) for ws, member_id in zip(sockets, ids)))
    assert sorted(outcomes) == ["full"] * 8 + ["joined"] * 2
    assert len(api.state.room.participants) == 2


async def join_outcome(ws: aiohttp.ClientWebSocketResponse, member_id: str) -> str:
    """'full', or 'joined' once a roster lists this socket."""
    while True:
        message = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        if message["type"] == "full":
            return "full"
        if message["type"] == "roster" and member_id in [p["id"] for p in message["roster"]]:
            return "joined"


# -- HTTP ------------------------------------------------------------------------------------

EXPECTED_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@pytest.mark.parametrize("path", ["/", "/app.js", "/nope", "/healthz", "/status"])
async def test_http_security_headers_on_every_response(api: Api, path: str) -> None:
    response = await api.client.get(path)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "Strict-Transport-Security" not in response.headers


async def test_http_security_headers_on_the_websocket_upgrade(api: Api) -> None:
    ws = await api.ws()
    assert ws._response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("page", ["/", "/open.html"])
async def test_http_pages_have_no_inline_script_or_style(api: Api, page: str) -> None:
    response = await api.client.get(page)
    assert response.status == 200
    html = await response.text()
    assert response.headers["Content-Type"].startswith("text/html")
    import re
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html and " style=" not in html and "javascript:" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


@pytest.mark.parametrize("path,kind", [("/app.js", "text/javascript"), ("/style.css", "text/css"),
                                       ("/icon.svg", "image/svg+xml"), ("/index.html", "text/html")])
async def test_http_frontend_files_are_served(api: Api, path: str, kind: str) -> None:
    response = await api.client.get(path)
    assert response.status == 200 and response.headers["Content-Type"].startswith(kind)


@pytest.mark.parametrize("path", [
    "/core.py", "/main.py", "/requirements.txt", "/.git/config", "/.env", "/README.md", "/Makefile",
    "/js/", "/js", "/locales/", "/docs/PROTOCOL.md", "/tests/conftest.py", "/../core.py",
    "/%2e%2e/core.py", "/js/../core.py", "/js/%2e%2e/core.py", "/static/../../etc/passwd",
    "//etc/passwd", "/index.html/", "/app.js%00.png",
])
async def test_http_everything_else_is_404(api: Api, path: str) -> None:
    status, body = await raw_get(api, path)
    assert status == 404, f"{path} answered {status}"
    assert b"import" not in body and b"[core]" not in body


async def raw_get(api: Api, path: str) -> tuple[int, bytes]:
    """A GET with the path sent byte for byte, as an attacker would, unnormalised."""
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {api.client.host}\r\nConnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return int(data.split(b" ", 2)[1]), data.partition(b"\r\n\r\n")[2]


async def test_http_allow_list_covers_js_and_locales_only(tmp_path: Path, aiohttp_client: Any) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "mesh.js").write_text("export {}")
    (tmp_path / "js" / "notes.txt").write_text("secret")
    (tmp_path / "locales").mkdir()
    (tmp_path / "locales" / "en.json").write_text("{}")
    (tmp_path / "secret.py").write_text("x = 1")
    client = await aiohttp_client(create_app(Config(token=TOKEN), frontend_root=tmp_path))
    assert (await client.get("/js/mesh.js")).status == 200
    assert (await client.get("/locales/en.json")).status == 200
    assert (await client.get("/js/notes.txt")).status == 404
    assert (await client.get("/secret.py")).status == 404
    assert (await client.get("/app.js")).status == 404


async def test_http_healthz(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status == 200 and await response.text() == "ok"


async def test_http_status_is_off_by_default(api: Api) -> None:
    assert (await api.client.get("/status")).status == 404


async def test_http_status_needs_the_secret(make_api: Any) -> None:
    api = await make_api(admin_status=True, status_secret="s3cret")
    assert (await api.client.get("/status")).status == 403
    assert (await api.client.get("/status", headers={"X-Status-Secret": "wrong"})).status == 403
    a, _ = await api.joined("A")
    lobby = await api.ws()
    response = await api.client.get("/status", headers={"X-Status-Secret": "s3cret"})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"participants", "connections", "capacity", "uptime_s", "messages_relayed"}
    assert body["participants"] == 1 and body["connections"] == 2 and body["capacity"] == 2


async def test_http_status_without_secret_answers_loopback(make_api: Any) -> None:
    api = await make_api(admin_status=True)
    response = await api.client.get("/status")
    assert response.status == 200 and (await response.json())["participants"] == 0


# -- logs --------------------------------------------------------------------------------------

async def test_logs_never_contain_token_sdp_candidates_or_chat(make_api: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "super-secret-token-Ж"
    api = await make_api(token=secret)
    bad = await api.ws(token="wrong-guess-token")
    await closed_with(bad)
    a = await api.ws(token=secret)
    a_id = (await a.receive_json())["id"]
    await a.send_json({"type": "name", "name": "A"})
    b = await api.ws(token=secret)
    b_id = (await b.receive_json())["id"]
    await b.send_json({"type": "name", "name": "B"})
    await until_type(b, "roster")
    await a.send_json({"type": "offer", "to": b_id, "sdp": SDP + "a=x:SDP-MARKER-123\r\n"})
    await a.send_json({"type": "ice", "to": b_id, "candidate": {"candidate": "CANDIDATE-MARKER 10.1.2.3"}})
    await a.send_json({"type": "chat", "text": "CHAT-MARKER hello"})
    await until_type(b, "chat")
    await a.close()
    await b.close()
    await wait_for(lambda: not api.state.room.members, message="sockets gone")
    text = caplog.text
    assert "connected" in text
    for needle in (secret, auth(secret)[5:], "wrong-guess-token", auth("wrong-guess-token")[5:],
                   "SDP-MARKER", "CANDIDATE-MARKER", "10.1.2.3", "CHAT-MARKER"):
        assert needle not in text, f"{needle!r} leaked into the logs"
