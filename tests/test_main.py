"""The command line as a user runs it: banner, exit codes, signals, and what it prints."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import sys
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from conftest import BROWSER_UA, ROOT, free_port

class App:
    """main.py in a subprocess, with its output collected."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = {**{k: v for k, v in os.environ.items() if k not in ("DISPLAY", "ROOM_TOKEN")}, **(env or {})}
        self.output = b""
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> "App":
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "main.py"), *self.args, cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return self

    async def read_until(self, needle: bytes, timeout: float = 10) -> bytes:
        assert self.proc and self.proc.stdout
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{needle!r} never appeared in: {self.output.decode(errors='replace')}"
            chunk = await asyncio.wait_for(self.proc.stdout.read(4096), remaining)
            assert chunk, f"exited before {needle!r}: {self.output.decode(errors='replace')}"
            self.output += chunk
        return self.output

    async def finish(self, timeout: float = 5) -> int:
        assert self.proc and self.proc.stdout
        rest = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        self.output += rest
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def close(self) -> None:
        """Kill it if still running and reap it, so no pipe outlives the loop."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.communicate()


@pytest.fixture
async def apps():
    started: list[App] = []

    async def run(*args: str, env: dict[str, str] | None = None) -> App:
        app = await App(*args, env=env).start()
        started.append(app)
        return app
    yield run
    for app in started:
        await app.close()


async def connect(port: int, token: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    auth = "auth." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws", protocols=("secret-call.v1", auth),
                                  headers={"User-Agent": BROWSER_UA, "Origin": f"http://127.0.0.1:{port}"})
    return session, ws


async def test_main_headless_banner_has_links_and_token_appears_once(apps) -> None:
    port = free_port()
    token = "Ключ/with space&amp"
    app = await apps("--headless", "--port", str(port), env={"ROOM_TOKEN": token})
    await app.read_until(b"Press Ctrl+C")
    text = app.output.decode()
    assert f"http://127.0.0.1:{port}/" in text
    assert f"http://127.0.0.1:{port}/#token={quote(token, safe='')}" in text
    assert "Warning" not in text
    session, ws = await connect(port, token)
    assert (await ws.receive_json())["type"] == "hello"
    bad_session, bad = await connect(port, "wrong")
    assert (await bad.receive_json())["code"] == "unauthorized"
    await ws.send_json({"type": "name", "name": "Alice"})
    await ws.receive_json()
    await ws.close()
    await session.close()
    await bad_session.close()
    app.proc.send_signal(signal.SIGTERM)
    assert await app.finish() == 0
    text = app.output.decode()
    assert text.count(quote(token, safe="")) == 1
    assert token not in text
    assert base64.urlsafe_b64encode(token.encode()).decode().rstrip("=") not in text
    assert "Traceback" not in text


async def test_main_headless_warns_about_a_short_token(apps) -> None:
    app = await apps("--headless", "--port", str(free_port()), "--token", "1234567")
    await app.read_until(b"Press Ctrl+C")
    assert "Warning:  the room token is shorter than 8 characters" in app.output.decode()


async def test_main_headless_without_token_generates_one(apps) -> None:
    port = free_port()
    app = await apps("--headless", "--port", str(port))
    await app.read_until(b"Press Ctrl+C")
    line = next(l for l in app.output.decode().splitlines() if "#token=" in l)
    token = line.split("#token=", 1)[1].strip()
    assert len(token) >= 22
    session, ws = await connect(port, token)
    assert (await ws.receive_json())["type"] == "hello"
    await session.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_main_signal_closes_sockets_1001_and_exits_0_fast(apps, signum: int) -> None:
    port = free_port()
    app = await apps("--headless", "--port", str(port), "--token", "t")
    await app.read_until(b"Press Ctrl+C")
    session, ws = await connect(port, "t")
    await ws.receive_json()
    started = time.monotonic()
    app.proc.send_signal(signum)
    frame = await asyncio.wait_for(ws.receive(), 3)
    assert frame.type == aiohttp.WSMsgType.CLOSE and frame.data == 1001
    assert await app.finish(timeout=3) == 0
    assert time.monotonic() - started < 2.5
    await session.close()
    assert "Traceback" not in app.output.decode()


async def test_main_busy_port_exits_2_with_one_clear_line(apps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        app = await apps("--headless", "--port", str(port), "--token", "t", "--log-level", "warning")
        assert await app.finish() == 2
    text = app.output.decode().strip()
    assert "Traceback" not in text
    assert text.splitlines()[-1] == (f"secret-call: port {port} on 127.0.0.1 is busy: another program "
                                     f"(or another Secret-Call) uses it; choose another with --port")


@pytest.mark.parametrize("args,env,needle", [
    (("--capacity", "1"), {}, "--capacity"),
    (("--port", "99999"), {}, "--port"),
    ((), {"ICE_SERVERS": "not json"}, "ICE_SERVERS"),
    ((), {"ICE_SERVERS": '[{"urls": 5}]'}, "ICE_SERVERS[0]"),
    ((), {"ALLOWED_ORIGINS": "nope"}, "ALLOWED_ORIGINS"),
    ((), {"ALLOWED_HOSTS": "https://call.example.org"}, "ALLOWED_HOSTS"),
    ((), {"ADMIN_STATUS": "perhaps"}, "ADMIN_STATUS"),
])
async def test_main_bad_configuration_exits_2_naming_the_setting(apps, args, env, needle) -> None:
    app = await apps("--headless", *args, env=env)
    assert await app.finish() == 2
    text = app.output.decode().strip()
    assert len(text.splitlines()) == 1 and needle in text and "Traceback" not in text


async def test_main_bad_flag_type_exits_2(apps) -> None:
    app = await apps("--headless", "--port", "eighty")
    assert await app.finish() == 2
    assert "Traceback" not in app.output.decode()


async def test_main_binds_loopback_by_default(apps) -> None:
    port = free_port()
    app = await apps("--headless", "--port", str(port), "--token", "t")
    await app.read_until(b"Press Ctrl+C")
    assert "LAN:" not in app.output.decode()
    lan = [a for a in socket.gethostbyname_ex(socket.gethostname())[2] if not a.startswith("127.")]
    for address in lan:
        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex((address, port)) != 0, f"reachable on {address}"


async def test_main_cert_without_key_exits_2(apps) -> None:
    app = await apps("--headless", "--cert", "c.pem")
    assert await app.finish() == 2
    assert "--cert and --key go together" in app.output.decode()


async def test_main_missing_certificate_exits_2(apps, tmp_path: Path) -> None:
    app = await apps("--headless", "--port", str(free_port()), "--cert", str(tmp_path / "c.pem"),
                     "--key", str(tmp_path / "k.pem"))
    assert await app.finish() == 2
    text = app.output.decode()
    assert "does not exist" in text and "Traceback" not in text


async def test_main_log_file_rotates_and_holds_no_secrets(apps, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "call.log"
    app = await apps("--headless", "--port", str(port), "--token", "file-secret", "--log-file", str(log))
    await app.read_until(b"Press Ctrl+C")
    session, ws = await connect(port, "file-secret")
    await ws.receive_json()
    await ws.send_json({"type": "name", "name": "A"})
    await ws.send_json({"type": "chat", "text": "CHAT-IN-LOG?"})
    await ws.receive_json()
    await session.close()
    app.proc.send_signal(signal.SIGTERM)
    assert await app.finish() == 0
    text = log.read_text()
    assert "listening on 127.0.0.1" in text and "joined the call" in text
    assert "file-secret" not in text and "CHAT-IN-LOG" not in text


async def test_main_unwritable_log_file_exits_2(apps, tmp_path: Path) -> None:
    app = await apps("--headless", "--log-file", str(tmp_path / "no" / "such" / "dir.log"))
    assert await app.finish() == 2
    assert "--log-file" in app.output.decode() and "Traceback" not in app.output.decode()


async def test_main_headless_tunnel_prints_public_links_and_allows_the_origin(apps, tmp_path: Path) -> None:
    port = free_port()
    fakebin = ROOT / "tests" / "fakebin"
    args_file = tmp_path / "ssh-args"
    env = {"PATH": f"{fakebin}:{os.environ['PATH']}", "FAKE_TUNNEL_ARGS_FILE": str(args_file),
           "FAKE_TUNNEL_OUTPUT": str(ROOT / "tests" / "fixtures" / "tunnel" / "localhost_run.txt")}
    app = await apps("--headless", "--port", str(port), "--token", "tok en", "--tunnel", "localhost.run", env=env)
    await app.read_until(b"Public invite:")
    lines = app.output.decode().splitlines()
    public = next(l.split()[-1] for l in lines if l.strip().startswith("Public:"))
    invite = next(l.split()[-1] for l in lines if l.strip().startswith("Public invite:"))
    assert public.startswith("https://") and public.endswith(".lhr.life/")
    assert invite == public + "#token=tok%20en"
    forward = next(arg for arg in args_file.read_text().splitlines() if arg.startswith("80:127.0.0.1:"))
    tunnel_port = int(forward.rsplit(":", 1)[1])
    assert tunnel_port != port, "the tunnel has a listener of its own"
    session = aiohttp.ClientSession()
    auth = "auth." + base64.urlsafe_b64encode(b"tok en").decode().rstrip("=")
    host = public.removeprefix("https://").rstrip("/")
    ws = await session.ws_connect(f"http://127.0.0.1:{tunnel_port}/ws", protocols=("secret-call.v1", auth),
                                  headers={"User-Agent": BROWSER_UA, "Origin": public.rstrip("/"), "Host": host,
                                           "X-Forwarded-For": "198.51.100.9"})
    assert (await ws.receive_json())["type"] == "hello"
    async with session.get(f"http://127.0.0.1:{port}/", headers={"Host": "evil.example"}) as response:
        assert response.status == 421
    await session.close()
    app.proc.send_signal(signal.SIGTERM)
    assert await app.finish() == 0
