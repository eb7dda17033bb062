"""The window's "Relay (TURN)" part in a real Tk under Xvfb: off, TURN_URLS, or the app's own coturn."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

import gui
from conftest import require_tool
from gui_relay import OFF, OWN, URLS, status_text
from test_gui import Host, local_config, make_host, runner, screenshot  # noqa: F401 (fixtures)
from test_turn_coturn import alive, free_port, turnserver_pids

pytestmark = pytest.mark.gui


def start_and_wait(host: Host) -> None:
    host.window.start_button.invoke()
    host.pump_until(lambda: host.window.phase in (gui.HOSTING, gui.IDLE), message="the start to finish")


def test_window_relay_choices_follow_the_configuration(make_host: Callable[..., Host]) -> None:
    window = make_host(local_config()).window
    assert list(window.relay_panel.labels) == [OFF, OWN]
    assert window.relay_panel.mode == OFF and window.relay_panel.port_entry.instate(["disabled"])
    window.relay_panel.select(OWN)
    assert window.relay_panel.port_entry.instate(["!disabled"])
    assert window.read_settings().turn is True
    window.relay_panel.select(OFF)
    assert window.read_settings().turn is False

    urls = ("turn:turn.example.org:3478",)
    with_urls = make_host(local_config(turn_urls=urls, turn_secret="s")).window
    assert list(with_urls.relay_panel.labels) == [OFF, URLS, OWN] and with_urls.relay_panel.mode == URLS
    assert (with_urls.read_settings().turn_urls, with_urls.read_settings().turn_secret) == (urls, "s")
    with_urls.relay_panel.select(OFF)
    assert with_urls.read_settings().turn_urls == () and with_urls.read_settings().turn_secret is None
    assert make_host(local_config(turn=True, turn_port=3479)).window.relay_panel.mode == OWN


def test_window_relay_bad_port_shows_an_error(make_host: Callable[..., Host]) -> None:
    host = make_host(local_config(), lang="ru")
    host.window.relay_panel.select(OWN)
    host.window.relay_panel.port_var.set("70000")
    host.window.start_button.invoke()
    assert host.window.phase == gui.IDLE
    assert host.window.status_var.get() == "Порт ретранслятора должен быть целым числом от 1 до 65535."


def test_window_relay_without_coturn_says_which_package(make_host: Callable[..., Host], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    host = make_host(local_config())
    assert host.window.relay_panel.labels[OWN] == "My own (no coturn)"
    host.window.relay_panel.select(OWN)
    host.window.relay_panel.port_var.set(str(free_port()))
    start_and_wait(host)
    assert host.window.phase == gui.IDLE
    assert host.window.status_var.get() == ("“My own” relay needs coturn: install the coturn package "
                                            "(apt install coturn).")


def test_window_relay_busy_port_shows_the_error(make_host: Callable[..., Host]) -> None:
    require_tool("turnserver")
    import socket

    host = make_host(local_config(), lang="ru")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        host.window.relay_panel.select(OWN)
        host.window.relay_panel.port_var.set(str(port))
        start_and_wait(host)
    assert host.window.phase == gui.IDLE
    assert host.window.status_var.get().startswith(f"Порт ретранслятора {port} занят")


def test_window_runs_its_own_relay_and_stops_it(make_host: Callable[..., Host], display: str,
                                                artifacts: Path) -> None:
    require_tool("turnserver")
    host = make_host(local_config())
    window = host.window
    window.relay_panel.select(OWN)
    window.relay_panel.port_var.set(str(free_port()))
    host.start()
    assert window.relay_panel.status is not None and window.relay_panel.status.winfo_ismapped()
    assert window.relay_panel.status_var.get() == "TURN relay: working (udp, tcp)"
    assert window.relay_panel.choice.instate(["disabled"]) and window.relay_panel.port_entry.instate(["disabled"])
    screenshot(window, display, artifacts / "gui-relay.png")
    pids = turnserver_pids()
    assert pids
    host.stop()
    assert window.relay_panel.status_var.get() == ""
    assert not any(alive(pid) for pid in pids), "Stop ends the relay"
    host.start()
    pids = turnserver_pids()
    window.shutdown()
    assert not any(alive(pid) for pid in pids), "closing the window ends the relay"


def test_window_relay_status_in_russian() -> None:
    assert status_text("working (udp); tcp: unreachable", "ru") == "работает (udp); tcp: недоступен"
    assert status_text("wrong secret (udp, tcp)", "ru") == "неверный секрет (udp, tcp)"
    assert status_text("wrong secret (udp, tcp)", "en") == "wrong secret (udp, tcp)"
