"""Shared fixtures: a real server on a free port, a real Chromium, and polling helpers."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest

# Imported here, at a shallow stack, on purpose: otherwise pytest's hypothesis plugin imports it
# lazily inside the terminal summary, where CPython 3.11.7's AST validator can fail with
# "SystemError: AST constructor recursion depth mismatch" and turn a green run red.
import hypothesis  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from async_runner import AsyncRunner  # noqa: E402
from config import Config  # noqa: E402
from core import CallServer  # noqa: E402

ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--no-sandbox",
    "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
TOKEN = "test-token-Ключ"


def auth(token: str) -> str:
    """The subprotocol entry that carries a room token, as the page sends it."""
    return "auth." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free right now (TCP, or UDP with kind=SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_tool(path: str) -> str:
    """A test's tool: missing means a failure (never a skip), so CI cannot pass without it."""
    found = shutil.which(path)
    if not found:
        pytest.fail(f"{path} is required for this test; run `make setup` (as root on Debian it installs it)")
    return found


async def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02,
                   message: str = "condition") -> Any:
    """Poll `condition` (sync or async) until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        await asyncio.sleep(interval)


async def holds_for(condition: Callable[[], bool], duration: float, what: str = "condition") -> None:
    """Poll `condition` for `duration` seconds; fail as soon as it stops holding."""
    deadline = asyncio.get_running_loop().time() + duration
    while asyncio.get_running_loop().time() < deadline:
        assert condition(), f"{what} stopped holding"
        await asyncio.sleep(0.01)


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """The blocking twin of wait_for, for threads and sync tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


@dataclass
class RunningServer:
    """A CallServer running in its own loop thread, as the GUI runs it."""

    server: CallServer
    runner: AsyncRunner

    @property
    def url(self) -> str:
        return self.server.local_url

    @property
    def ws_url(self) -> str:
        return self.server.local_url.replace("http", "ws", 1) + "ws"

    @property
    def token(self) -> str:
        return self.server.config.token

    def invite(self) -> str:
        return self.server.invite_url()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the server's loop thread and return its result."""
        async def run() -> Any:
            return fn()
        return self.runner.run(run(), timeout=5)


@pytest.fixture
def start_server() -> Iterator[Callable[..., RunningServer]]:
    """Start real servers on free ports: start_server(capacity=4, ...)."""
    started: list[RunningServer] = []
    runner = AsyncRunner().start()

    def start(**changes: Any) -> RunningServer:
        config = Config(token=TOKEN, port=0, **changes)
        server = CallServer(config)
        runner.run(server.start(), timeout=10)
        running = RunningServer(server, runner)
        started.append(running)
        return running

    yield start
    for running in started:
        runner.run(running.server.stop(), timeout=10)
    runner.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A real headless Chromium with fake media devices."""
    require_tool(CHROMIUM)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def firefox() -> AsyncIterator[Any]:
    """Debian's Firefox ESR through WebDriver BiDi (Playwright 1.57), with a fake microphone.

    The prefs (bench/voice_lab.py, explained in ../shared/TOOLCHAIN.md) give a fake microphone
    without prompts, ICE on loopback, a mock audio backend and no phoning home."""
    from bench.voice_lab import FIREFOX, FIREFOX_PREFS
    require_tool(FIREFOX)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.firefox.launch(channel="moz-firefox", executable_path=FIREFOX, headless=True,
                                                  firefox_user_prefs=FIREFOX_PREFS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def ci() -> bool:
    return os.environ.get("CI") == "true"


# -- the display ---------------------------------------------------------------------------------

def _accepts(socket_path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(socket_path)
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """A private X server on the first free display number from :90, one for the whole run.

    One per session on purpose: a Tk interpreter keeps its X connection after its windows are
    destroyed, and Xlib exits the process (status 1, no traceback) when that server goes away."""
    binary = require_tool("Xvfb")
    for number in range(90, 190):
        if os.path.exists(f"/tmp/.X{number}-lock") or os.path.exists(f"/tmp/.X11-unix/X{number}"):
            continue
        proc = subprocess.Popen([binary, f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: proc.poll() is not None or _accepts(f"/tmp/.X11-unix/X{number}"), timeout=10,
                       message=f"Xvfb :{number} to accept connections")
        except AssertionError:
            proc.kill()
            proc.wait()
            raise
        if proc.poll() is not None:
            continue  # lost a race for this number to another X server
        try:
            yield f":{number}"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return
    pytest.fail("no free X display number between :90 and :189")


@pytest.fixture
def display(xvfb: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISPLAY", xvfb)
    return xvfb
