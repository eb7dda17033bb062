"""The host window as a person uses it, in a real Tk under Xvfb: hosting, tokens, errors, public link, closing."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tkinter as tk
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp
import pytest
from PIL import Image, ImageGrab

import gui
import gui_strings
import gui_theme
from async_runner import AsyncRunner
from config import GUI_DEFAULT_TOKEN, Config, from_environment
from conftest import BROWSER_UA, ROOT, auth, free_port, wait_until
from core import CallServer
from tunnel import Tunnel

pytestmark = pytest.mark.gui

FAKEBIN = ROOT / "tests" / "fakebin"
LHR_OUTPUT = ROOT / "tests" / "fixtures" / "tunnel" / "localhost_run.txt"
LHR_URL = "https://8c2f41a9e0b7d3.lhr.life"


# -- helpers -------------------------------------------------------------------------------------

def port_is_free(port: int) -> bool:
    """Nothing listens on the port (TIME_WAIT leftovers of closed connections do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        return int(response.status)


def answers(port: int) -> bool:
    try:
        return health(port) == 200
    except (OSError, urllib.error.URLError):
        return False


def process_alive(pid: int) -> bool:
    """Running and not a zombie (a zombie's parent may not reap it in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pump_until(root: tk.Tk, condition: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    """Run Tk's event loop until `condition` holds, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        root.update()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(0.01)


def visible(widget: tk.Misc) -> bool:
    widget.update_idletasks()
    return bool(widget.winfo_ismapped())


@dataclass
class FakeAsk:
    """Stands in for messagebox.askyesno: records each question and gives the next scripted answer."""

    answers: list[bool] = field(default_factory=list)
    questions: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, title: str, message: str, **options: Any) -> bool:
        self.questions.append((title, message))
        assert self.answers, f"an unexpected question: {title}: {message}"
        return self.answers.pop(0)


@dataclass
class Opened:
    """Stands in for webbrowser.open."""

    urls: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bool:
        self.urls.append(url)
        return True


@dataclass
class Host:
    """A HostWindow in its own Tk root, with its fakes."""

    window: gui.HostWindow
    ask: FakeAsk
    opened: Opened
    errors: list[BaseException]

    @property
    def root(self) -> tk.Tk:
        return self.window.root

    def pump_until(self, condition: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
        return pump_until(self.root, condition, timeout, message)

    def start(self) -> int:
        self.window.start_button.invoke()
        self.pump_until(lambda: self.window.phase != gui.STARTING, message="the start to finish")
        assert self.window.phase == gui.HOSTING, self.window.status_var.get()
        assert self.window.info is not None
        return self.window.info.port

    def stop(self) -> None:
        assert self.window.start_button.cget("text") == self.window.text["stop"]
        self.window.start_button.invoke()
        self.pump_until(lambda: self.window.phase == gui.IDLE, message="the stop to finish")


@pytest.fixture
def runner() -> Iterator[AsyncRunner]:
    started = AsyncRunner().start()
    yield started
    started.stop()


@pytest.fixture
def make_host(display: str, runner: AsyncRunner) -> Iterator[Callable[..., Host]]:
    """make_host(config, lang="en", **window options) -> a window with fake dialogs and browser."""
    hosts: list[Host] = []

    def make(config: Config, lang: str = "en", **options: Any) -> Host:
        root = tk.Tk()
        errors: list[BaseException] = []
        root.report_callback_exception = lambda kind, error, trace: errors.append(error)  # type: ignore[assignment]
        if options:
            window = gui.HostWindow(root, config, runner, language=lang, **options)
        else:
            window = gui.create_window(root, config, runner, env={"SECRET_CALL_LANG": lang})
        host = Host(window, FakeAsk(), Opened(), errors)
        window.ask_yes_no = host.ask
        window.open_url = host.opened
        hosts.append(host)
        root.update()
        return host

    yield make
    for host in hosts:
        host.window.shutdown()
    for host in hosts:
        assert not host.errors, f"a Tk callback raised: {host.errors!r}"


def local_config(**changes: Any) -> Config:
    changes.setdefault("token", GUI_DEFAULT_TOKEN)
    changes.setdefault("port", free_port())
    return Config(**changes)


@pytest.fixture
def client() -> Iterator[AsyncRunner]:
    """A separate loop for browser-like sockets, so the window's loop is not the one under test."""
    started = AsyncRunner().start()
    yield started
    started.stop()


async def probe(port: int, token: str, origin: str | None = None) -> tuple[Any, int | None]:
    """What a browser page at `origin` sees when it opens /ws: its first message and the close code."""
    headers = {"User-Agent": BROWSER_UA, "Origin": origin or f"http://127.0.0.1:{port}"}
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(f"ws://127.0.0.1:{port}/ws", protocols=["secret-call.v1", auth(token)],
                                          headers=headers)
        except aiohttp.WSServerHandshakeError as error:
            return f"HTTP {error.status}", None
        async with ws:
            first = await ws.receive_json(timeout=5)
            if first["type"] == "hello":
                return first, None
            await ws.receive(timeout=5)
            return first, ws.close_code


@dataclass
class Browser:
    """A browser-like socket held open on the client loop."""

    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse

    @classmethod
    async def join(cls, port: int, token: str, name: str) -> "Browser":
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(f"ws://127.0.0.1:{port}/ws", protocols=["secret-call.v1", auth(token)],
                                      headers={"User-Agent": BROWSER_UA, "Origin": f"http://127.0.0.1:{port}"})
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await ws.send_json({"type": "name", "name": name})
        roster = await ws.receive_json(timeout=5)
        assert roster["type"] == "roster" and roster["roster"][0]["name"] == name, roster
        return cls(session, ws)

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


def redeem(one_time_link: str) -> str:
    """What the local open page gets for a one-time link: the invite it stands for."""
    base, code = one_time_link.split("open.html#", 1)
    request = urllib.request.Request(base + "open", data=code.encode(), method="POST",
                                     headers={"Origin": base.rstrip("/"), "Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(json.loads(response.read())["url"])


def fake_ssh_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **settings: str) -> Path:
    """Put tests/fakebin first on PATH; returns the file where each fake ssh run writes its pids."""
    pids = tmp_path / "tunnel-pids"
    monkeypatch.setenv("PATH", f"{FAKEBIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TUNNEL_OUTPUT", str(LHR_OUTPUT))
    monkeypatch.setenv("FAKE_TUNNEL_PIDS_FILE", str(pids))
    monkeypatch.setenv("FAKE_TUNNEL_CHILD", "1")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return pids


def tunnel_pids(pids_file: Path) -> list[int]:
    if not pids_file.exists():
        return []
    return [int(pid) for line in pids_file.read_text().splitlines() for pid in line.split()]


def screenshot(window: gui.HostWindow, display: str, path: Path) -> Image.Image:
    root = window.root
    root.update()
    x, y = root.winfo_rootx(), root.winfo_rooty()
    picture = ImageGrab.grab(bbox=(x, y, x + root.winfo_width(), y + root.winfo_height()), xdisplay=display)
    picture.save(path)
    return picture


# -- pure helpers ----------------------------------------------------------------------------------

def test_gui_module_imports_no_aiohttp() -> None:
    code = "import sys, gui; assert 'aiohttp' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=30)


def test_strings_same_keys_in_both_languages() -> None:
    assert set(gui_strings.STRINGS["en"]) == set(gui_strings.STRINGS["ru"])


@pytest.mark.parametrize("env, expected", [
    ({"SECRET_CALL_LANG": "ru"}, "ru"),
    ({"SECRET_CALL_LANG": "en", "LANG": "ru_RU.UTF-8"}, "en"),
    ({"LANG": "ru_RU.UTF-8"}, "ru"),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),
    ({"LANG": "de_DE.UTF-8"}, "en"),
])
def test_choose_language_follows_override_then_locale(env: dict[str, str], expected: str) -> None:
    assert gui_strings.choose_language(env) == expected


def test_icon_is_a_rounded_gradient_square_with_a_white_phone() -> None:
    icon = gui_theme.draw_icon(64)
    assert icon.size == (64, 64) and icon.mode == "RGBA"
    assert icon.getpixel((0, 0))[3] == 0, "the corners are rounded off"
    red, green, blue, alpha = icon.getpixel((8, 8))
    assert alpha == 255 and blue > 200 and red > green, "violet near the top left"
    red, green, blue, alpha = icon.getpixel((56, 56))
    assert green > 150 and blue > 200 and red < 120, "cyan near the bottom right"
    assert icon.getpixel((24, 22))[:3] == (255, 255, 255), "the phone's earpiece is white"


def test_qr_code_renders_the_link() -> None:
    picture = gui_theme.render_qr("http://127.0.0.1:8790/#token=abc", 168)
    assert 120 <= picture.width <= 168 and picture.width == picture.height
    assert picture.getpixel((0, 0)) == 0, "a finder pattern starts at the corner"


# -- hosting -----------------------------------------------------------------------------------------

def test_window_start_stop_start(make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gui, "COPIED_MS", 100)
    config = local_config()
    host = make_host(config)
    window = host.window
    assert window.start_button.cget("text") == "Start hosting"
    assert window.token_entry.instate(["!disabled"]) and window.port_entry.instate(["!disabled"])
    assert window.port_var.get() == str(config.port), "--port pre-fills the window"

    port = host.start()
    assert health(port) == 200
    assert window.token_entry.instate(["disabled"]) and window.generate_button.instate(["disabled"])
    assert window.port_entry.instate(["disabled"])
    assert window.pair_radio.instate(["disabled"]) and window.tunnel_radios["none"].instate(["disabled"])
    assert window.local_link.cget("text") == f"http://127.0.0.1:{port}/"
    invite = f"http://127.0.0.1:{port}/#token=123"
    assert window.invite_link.cget("text") == invite
    assert window.invite_qr.text == invite
    assert window.participants_var.get() == "0 / 2"
    assert f"port {port}" in window.status_var.get()

    window.open_button.invoke()
    host.pump_until(lambda: host.opened.urls, message="the browser to be opened")
    window.local_link.event_generate("<Button-1>")
    host.pump_until(lambda: len(host.opened.urls) == 2, message="the local link to be opened")
    one_time, local = host.opened.urls
    assert local == f"http://127.0.0.1:{port}/"
    assert one_time.startswith(f"http://127.0.0.1:{port}/open.html#") and "token" not in one_time
    assert redeem(one_time) == invite
    hosting_status = window.status_var.get()
    window.copy_invite_button.invoke()
    assert host.root.clipboard_get() == invite
    assert window.status_var.get() == "Copied to the clipboard."
    host.pump_until(lambda: window.status_var.get() == hosting_status, message="the status to come back")

    host.stop()
    assert port_is_free(port)
    assert window.token_entry.instate(["!disabled"])
    assert window.invite_link.cget("text") == "—" and window.invite_qr.text is None

    assert host.start() == port
    assert health(port) == 200
    host.stop()
    assert port_is_free(port)


def test_window_token_from_environment_is_enforced(make_host: Callable[..., Host], client: AsyncRunner) -> None:
    config = from_environment({"ROOM_TOKEN": "env-token"}, default_token=GUI_DEFAULT_TOKEN, port=free_port())
    host = make_host(config)
    assert host.window.token_var.get() == "env-token"
    assert not visible(host.window.token_warning)

    port = host.start()
    hello, _ = client.run(probe(port, "env-token"), timeout=10)
    assert hello["type"] == "hello" and hello["capacity"] == 2
    refused, code = client.run(probe(port, "123"), timeout=10)
    assert refused["code"] == "unauthorized" and code == 4401


def test_window_generated_token_is_enforced(make_host: Callable[..., Host], client: AsyncRunner) -> None:
    host = make_host(local_config())
    window = host.window
    assert window.token_var.get() == GUI_DEFAULT_TOKEN
    assert visible(window.token_warning)

    window.generate_button.invoke()
    token = window.token_var.get()
    assert token != GUI_DEFAULT_TOKEN and len(token) >= 20
    assert not visible(window.token_warning)

    window.group_radio.invoke()
    assert window.capacity_spin.instate(["!disabled"]) and visible(window.mesh_note)
    window.capacity_var.set("5")
    port = host.start()
    hello, _ = client.run(probe(port, token), timeout=10)
    assert hello["type"] == "hello" and hello["capacity"] == 5
    refused, code = client.run(probe(port, GUI_DEFAULT_TOKEN), timeout=10)
    assert refused["code"] == "unauthorized" and code == 4401
    assert window.participants_var.get() == "0 / 5"


def test_window_short_token_is_warned_about_like_123(make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    fake_ssh_on_path(monkeypatch, tmp_path)
    host = make_host(local_config(token="abcd1234"))
    window = host.window
    assert not visible(window.token_warning)
    window.token_var.set("abc1234")
    assert visible(window.token_warning) and window.token_warning.cget("text") == window.text["token_short"]
    window.token_var.set(GUI_DEFAULT_TOKEN)
    assert window.token_warning.cget("text") == window.text["token_warning"]
    window.token_var.set("abc1234")
    window.tunnel_radios["localhost.run"].invoke()
    host.ask.answers = [False]
    host.start()
    assert [title for title, _ in host.ask.questions] == ["Weak room token"]
    assert window.status_var.get() == window.text["public_skipped"]


def test_window_port_0_hosts_on_a_free_port_and_links_name_it(make_host: Callable[..., Host]) -> None:
    host = make_host(local_config())
    host.window.port_var.set("0")
    port = host.start()
    assert port != 0 and health(port) == 200
    assert host.window.local_link.cget("text") == f"http://127.0.0.1:{port}/"
    host.stop()
    assert port_is_free(port)


def test_window_bad_settings_show_an_error(make_host: Callable[..., Host]) -> None:
    host = make_host(local_config())
    window = host.window
    window.port_var.set("http")
    window.start_button.invoke()
    assert window.phase == gui.IDLE and "0 (any free port) to 65535" in window.status_var.get()
    window.port_var.set("65536")
    window.start_button.invoke()
    assert window.phase == gui.IDLE and "0 (any free port) to 65535" in window.status_var.get()
    window.port_var.set(str(free_port()))
    window.group_radio.invoke()
    window.capacity_var.set("40")
    window.start_button.invoke()
    host.root.update()
    assert window.phase == gui.IDLE
    assert "3 to 12" in window.status_var.get()
    assert window.status_label.cget("style") == "Error.Status.TLabel"
    window.capacity_var.set("10")
    assert window.mesh_note.cget("style") == "Heavy.Card.TLabel"


def test_window_busy_port_shows_the_error(make_host: Callable[..., Host], display: str, artifacts: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        host = make_host(local_config(port=port))
        window = host.window
        window.start_button.invoke()
        host.pump_until(lambda: window.phase == gui.IDLE, message="the failed start")
        assert "busy" in window.status_var.get() and str(port) in window.status_var.get()
        assert window.status_label.cget("style") == "Error.Status.TLabel"
        assert visible(window.status_label)
        assert window.start_button.cget("text") == "Start hosting"
        assert window.pill.cget("text") == window.text["pill_idle"]
        assert window.token_entry.instate(["!disabled"])
        assert window.invite_link.cget("text") == "—"
        screenshot(window, display, artifacts / "gui-busy-port.png")
        assert window.port_entry.instate(["!disabled"])
        other = free_port()
        window.port_var.set(str(other))
        assert host.start() == other
        assert health(other) == 200


def test_window_participants_counter_follows_the_room(make_host: Callable[..., Host], client: AsyncRunner) -> None:
    config = local_config(token="counter-token")
    host = make_host(config)
    port = host.start()
    assert host.window.participants_var.get() == "0 / 2"
    browser = client.run(Browser.join(port, "counter-token", "x"), timeout=10)
    host.pump_until(lambda: host.window.participants_var.get() == "1 / 2", message="the counter to show 1")
    client.run(browser.close(), timeout=10)
    host.pump_until(lambda: host.window.participants_var.get() == "0 / 2", message="the counter to show 0")


def test_window_tunnel_choices_follow_path(make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    host = make_host(local_config(tunnel="cloudflared"))
    for provider in ("localhost.run", "cloudflared"):
        radio = host.window.tunnel_radios[provider]
        assert radio.instate(["disabled"]) and radio.cget("text").endswith("not found on PATH")
    assert host.window.tunnel_var.get() == "none"

    monkeypatch.setenv("PATH", str(FAKEBIN))
    host = make_host(local_config(tunnel="cloudflared"))
    assert all(radio.instate(["!disabled"]) for radio in host.window.tunnel_radios.values())
    assert host.window.tunnel_var.get() == "cloudflared", "--tunnel pre-fills the choice"


# -- the public link ---------------------------------------------------------------------------------

def test_window_public_link_with_weak_token_declined_starts_no_tunnel(
        make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pids = fake_ssh_on_path(monkeypatch, tmp_path)
    host = make_host(local_config())
    window = host.window
    assert window.tunnel_radios["localhost.run"].instate(["!disabled"])
    window.tunnel_radios["localhost.run"].invoke()
    host.ask.answers = [False]
    port = host.start()
    assert [title for title, _ in host.ask.questions] == ["Weak room token"]
    assert window.token_var.get() == GUI_DEFAULT_TOKEN
    assert window.status_var.get() == window.text["public_skipped"]
    assert window.status_label.cget("style") == "Error.Status.TLabel"
    assert health(port) == 200
    assert tunnel_pids(pids) == [] and window.public_link.url is None


def test_window_public_link_appears_and_is_allowed(make_host: Callable[..., Host], client: AsyncRunner,
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  display: str, artifacts: Path) -> None:
    pids = fake_ssh_on_path(monkeypatch, tmp_path, FAKE_TUNNEL_ARGS_FILE=str(tmp_path / "ssh-args"))
    host = make_host(local_config())
    window = host.window
    window.tunnel_radios["localhost.run"].invoke()
    host.ask.answers = [True]
    port = host.start()
    assert len(host.ask.questions) == 1
    token = window.token_var.get()
    assert token != GUI_DEFAULT_TOKEN and not visible(window.token_warning)

    public_invite = host.pump_until(lambda: window.public_link.url, message="the public link")
    assert public_invite.startswith(f"{LHR_URL}/#token=")
    assert window.public_link.cget("text") == public_invite and visible(window.public_link)
    assert window.public_qr.text == public_invite
    hello, _ = client.run(probe(port, token, origin=LHR_URL), timeout=10)
    assert hello["type"] == "hello"
    refused, _ = client.run(probe(port, token, origin="https://other.lhr.life"), timeout=10)
    assert refused == "HTTP 403"

    shot = screenshot(window, display, artifacts / "gui.png")
    assert len(shot.getcolors(1 << 16) or []) > 50, "the screenshot shows the window, not a blank screen"
    window.copy_public_button.invoke()
    assert host.root.clipboard_get() == public_invite
    window.public_link.event_generate("<Button-1>")
    host.pump_until(lambda: host.opened.urls, message="the browser to be opened")
    assert "token" not in host.opened.urls[0] and redeem(host.opened.urls[0]) == public_invite
    forwarded = next(arg for arg in (tmp_path / "ssh-args").read_text().splitlines() if arg.startswith("80:"))
    assert forwarded != f"80:127.0.0.1:{port}", "the tunnel goes to a listener of its own"

    running = wait_until(lambda: tunnel_pids(pids), message="the fake ssh's pids")
    assert len(running) == 2 and all(process_alive(pid) for pid in running)
    host.stop()
    assert port_is_free(port)
    wait_until(lambda: not any(process_alive(pid) for pid in running), timeout=5,
               message="the fake ssh and its child to end")
    assert window.public_link.url is None and window.public_qr.text is None


class InstantTunnel:
    """A tunnel whose address is known before its start() returns (as when ssh answers at once)."""

    def __init__(self, provider: str, port: int, *, on_url: Callable[[str | None], None],
                 on_status: Callable[[str], None]) -> None:
        self.on_url = on_url

    async def start(self) -> None:
        self.on_url(LHR_URL)

    async def stop(self) -> None:
        return None


def test_window_shows_a_public_link_that_came_before_the_start_finished(make_host: Callable[..., Host]) -> None:
    host = make_host(local_config(token="instant-tunnel-token"), server_factory=CallServer,
                     tunnel_factory=InstantTunnel)
    window = host.window
    window.tunnel_radios["localhost.run"].invoke()
    host.start()
    host.pump_until(lambda: window.public_link.url, timeout=10, message="the public link")
    assert window.public_link.url.startswith(LHR_URL + "/#token=")
    assert visible(window.copy_public_button)


def test_window_public_origin_is_withdrawn_when_the_tunnel_drops(
        make_host: Callable[..., Host], client: AsyncRunner, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, runner: AsyncRunner) -> None:
    fake_ssh_on_path(monkeypatch, tmp_path, FAKE_TUNNEL_EXIT_AFTER="2")
    host = make_host(local_config(token="drop-token"), server_factory=CallServer,
                     tunnel_factory=functools.partial(Tunnel, backoff=(60,)))
    window = host.window
    window.tunnel_radios["localhost.run"].invoke()
    port = host.start()
    host.pump_until(lambda: window.public_link.url, message="the public link")
    host.pump_until(lambda: window.public_link.url is None, message="the public link to go away")
    refused, _ = client.run(probe(port, "drop-token", origin=LHR_URL), timeout=10)
    assert refused == "HTTP 403"
    assert "restarting in 60 s" in window.tunnel_status_var.get()
    assert not visible(window.copy_public_button)


# -- closing ---------------------------------------------------------------------------------------------

def test_window_close_with_nobody_in_the_call_does_not_ask(make_host: Callable[..., Host]) -> None:
    host = make_host(local_config())
    port = host.start()
    host.window.request_close()
    assert host.ask.questions == []
    assert host.window.closed
    assert port_is_free(port)
    with pytest.raises(tk.TclError):
        host.root.winfo_exists()


def test_window_close_with_a_participant_asks(make_host: Callable[..., Host], client: AsyncRunner) -> None:
    host = make_host(local_config(token="close-token"))
    port = host.start()
    browser = client.run(Browser.join(port, "close-token", "x"), timeout=10)
    try:
        host.pump_until(lambda: host.window.participants_var.get() == "1 / 2", message="the counter to show 1")
        host.ask.answers = [False]
        host.window.request_close()
        assert len(host.ask.questions) == 1 and "1" in host.ask.questions[0][1]
        assert not host.window.closed and health(port) == 200

        host.ask.answers = [True]
        host.window.request_close()
        assert len(host.ask.questions) == 2
        assert host.window.closed and port_is_free(port)
    finally:
        client.run(browser.close(), timeout=10)


def test_main_autostart_then_sigterm_exits_cleanly(display: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DISPLAY": display, "SECRET_CALL_LANG": "en"}
    env.pop("ROOM_TOKEN", None)
    log = tmp_path / "main.log"
    with log.open("wb") as output:
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--autostart", "--port", str(port),
                                 "--token", "auto-token"], cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        wait_until(lambda: proc.poll() is not None or answers(port), timeout=15, message="the server to answer")
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0, log.read_text()
        assert port_is_free(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- screenshots -------------------------------------------------------------------------------------------

def test_window_russian_screenshot(make_host: Callable[..., Host], monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path, display: str, artifacts: Path) -> None:
    """The tallest the window gets: Russian, group mode with its note, both QR codes."""
    fake_ssh_on_path(monkeypatch, tmp_path)
    host = make_host(local_config(capacity=6), lang="ru")
    window = host.window
    assert window.start_button.cget("text") == "Начать звонок"
    assert window.mode_var.get() == "group" and window.capacity_var.get() == "6"
    window.generate_button.invoke()
    window.tunnel_radios["localhost.run"].invoke()
    host.start()
    host.pump_until(lambda: window.public_link.url, message="the public link")
    assert window.start_button.cget("text") == "Остановить"
    shot = screenshot(window, display, artifacts / "gui-ru.png")
    assert len(shot.getcolors(1 << 16) or []) > 50
    assert shot.width <= 1280 and shot.height <= 760, "the window fits a 1280x800 screen"


def test_window_idle_russian_fits_the_screen(make_host: Callable[..., Host], display: str, artifacts: Path) -> None:
    host = make_host(local_config(capacity=10), lang="ru")
    assert visible(host.window.token_warning) and visible(host.window.mesh_note)
    shot = screenshot(host.window, display, artifacts / "gui-idle-ru.png")
    assert shot.width <= 1280 and shot.height <= 760, "the window fits a 1280x800 screen"
