"""The page with STUN and TURN in a real Chromium: Settings list the servers, privacy mode relays for real."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.async_api import Browser, expect

from async_runner import AsyncRunner
from config import Config
from conftest import TOKEN, RunningServer, require_tool
from core import CallServer
from coturn import CoturnServer
from browser import CONNECT_TIMEOUT, READY, Tab, hearing, open_tab
from test_turn_coturn import free_port
from turn import Relay

pytestmark = pytest.mark.browser

HOSTS = """async () => {
  const { iceHosts } = await import("/js/settings.js");
  return iceHosts([
    {urls: "stun:stun.cloudflare.com:3478"},
    {urls: ["turn:Turn.Example.org:3478?transport=udp", "turn:turn.example.org:3478?transport=tcp",
            "turns:turn.example.org:5349?transport=tcp", "turn:turn.example.org"],
     username: "1764248400:3f9a01bc", credential: "c2VjcmV0"},
    {urls: "turn:[2001:db8::1]:3478"}, {urls: "http://nope.example"}, {urls: "stun:stun.cloudflare.com"},
  ]);
}"""

# The selected candidate pair's local and remote types, and the types of every local candidate.
PATH_TYPES = """async (id) => {
  const stats = await window.secretCall.getStats(id);
  const byId = new Map(stats.map((s) => [s.id, s]));
  const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  return {
    local: pair ? byId.get(pair.localCandidateId).candidateType : null,
    remote: pair ? byId.get(pair.remoteCandidateId).candidateType : null,
    gathered: stats.filter((s) => s.type === "local-candidate").map((s) => s.candidateType),
  };
}"""


@pytest.fixture
def relay_server() -> Iterator[Callable[..., RunningServer]]:
    """relay_server(**config): a server with our own coturn that, as a test, may relay between loopback peers."""
    require_tool("turnserver")
    runner = AsyncRunner().start()
    started: list[CallServer] = []

    def start(**changes: Any) -> RunningServer:
        config = Config(token=TOKEN, port=0, turn=True, turn_port=free_port(), **changes)
        factory = functools.partial(CoturnServer, allowed_peers=("127.0.0.1",))
        server = CallServer(config, relay=Relay(config, coturn_factory=factory))
        runner.run(server.start(), timeout=30)
        started.append(server)
        return RunningServer(server, runner)
    yield start
    for server in started:
        runner.run(server.stop(), timeout=30)
    runner.stop()


async def settings_hosts(tab: Tab, title: str = "Settings") -> list[str]:
    await tab.page.get_by_role("button", name=title).click()
    dialog = tab.page.get_by_role("dialog", name=title)
    await expect(dialog).to_be_visible()
    return await dialog.locator("#ice-hosts li").all_text_contents()


async def test_turn_page_ice_hosts_leave_out_credentials(browser: Browser,
                                                         start_server: Callable[..., RunningServer]) -> None:
    tab = await open_tab(browser, start_server().invite())
    hosts = await tab.page.evaluate(HOSTS)
    assert hosts == [{"kind": "stun", "host": "stun.cloudflare.com", "transports": []},
                     {"kind": "turn", "host": "turn.example.org", "transports": ["udp", "tcp", "tls"]},
                     {"kind": "turn", "host": "[2001:db8::1]", "transports": ["udp"]}]
    assert "c2VjcmV0" not in json.dumps(hosts)
    await tab.clean()


async def test_turn_settings_say_none_without_servers(browser: Browser,
                                                      start_server: Callable[..., RunningServer]) -> None:
    tab = await open_tab(browser, start_server().invite())
    assert await settings_hosts(tab) == ["None: the browsers connect directly, which is enough on one network."]
    await expect(tab.page.get_by_label("Privacy mode: relay only")).to_be_disabled()
    await tab.clean()


async def test_turn_settings_list_the_stun_server_in_russian(browser: Browser,
                                                             start_server: Callable[..., RunningServer]) -> None:
    tab = await open_tab(browser, start_server(stun="stun:stun.example.org:3478").invite(), lang="ru")
    assert await settings_hosts(tab, "Настройки") == [
        "STUN stun.example.org: сообщает браузеру его публичный адрес. Видит ваш IP-адрес, но ничего из звонка."]
    await tab.clean()


async def test_turn_privacy_mode_relays_through_our_own_coturn(browser: Browser, artifacts: Path,
                                                               relay_server: Callable[..., RunningServer]) -> None:
    server = relay_server()
    assert server.server.relay.status == "working (udp, tcp)"
    frames: list[str] = []
    private, other = [await open_tab(browser, server.invite()) for _ in range(2)]
    # Load the page once more with its socket watched: what the server sends it, hello included.
    private.page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    await private.page.reload()
    await private.page.wait_for_function(READY)
    hosts = await settings_hosts(private)
    assert hosts == [
        "STUN 127.0.0.1: tells your browser its public address. It sees your IP address, nothing of the call.",
        "TURN relay 127.0.0.1 (udp, tcp): carries the encrypted audio when there is no direct path. "
        "It sees your IP address and cannot hear you."]
    privacy = private.page.get_by_label("Privacy mode: relay only")
    await expect(privacy).to_be_enabled()
    await privacy.check()
    await private.page.screenshot(path=str(artifacts / "settings-relay.png"))
    await private.page.get_by_role("button", name="Save").click()
    await private.join("Private")
    await other.join("Other")
    heard = await hearing(private, 1, timeout=CONNECT_TIMEOUT)
    await hearing(other, 1, timeout=CONNECT_TIMEOUT)
    path = await private.page.evaluate(PATH_TYPES, next(iter(heard)))
    assert path["local"] == "relay", path
    assert set(path["gathered"]) == {"relay"}, "privacy mode gathers nothing but relay candidates"
    assert await private.page.evaluate("(id) => window.secretCall.iceTransportPolicy(id)", next(iter(heard))) == "relay"
    # The page got credentials of its own in hello, and never the shared secret.
    hello = next(json.loads(frame) for frame in frames if frame.startswith('{"type":"hello"'))
    assert hello["iceServers"][1]["username"].endswith(":" + hello["id"]) and hello["iceServers"][1]["credential"]
    secret = server.server.relay.coturn.secret  # type: ignore[union-attr]
    assert not any(secret in frame for frame in frames)
    for tab in (private, other):
        assert secret not in await tab.page.content()
        await tab.clean()
