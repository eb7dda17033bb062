"""Calls across real NATs: Chromium pages in home namespaces, the server and coturn on a lab internet."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Playwright, async_playwright, expect

import netlab
from config import DEFAULT_TURN_PORT
from conftest import CHROMIUM, CHROMIUM_ARGS, require_tool, wait_for
from browser import Tab, hearing, open_tab

pytestmark = [pytest.mark.netlab, pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

# Two homes, one Chromium in each; every test first gives their routers the kinds of NAT it needs
# (launching a Chromium costs far more than swapping a router's iptables rules).
HOMES: dict[str, netlab.Kind] = {"a": "cone", "b": "cone"}
TOKEN = "netlab-Ключ"
CONNECT_TIMEOUT = 30.0
# The promise: the page explains a blocked connection within 20 s.
NOTICE_TIMEOUT = 20.0
TURN_TTL = 600
STATUS_SECRET = "netlab-status-secret"

# Every same-origin document, script, style sheet and string file the page loaded, as text.
PAGE_SOURCES = """async () => {
  const urls = [location.href.split("#")[0], ...performance.getEntriesByType("resource").map((e) => e.name)];
  const own = [...new Set(urls)].filter((url) => url.startsWith(location.origin + "/"));
  return Promise.all(own.map(async (url) => (await fetch(url)).text()));
}"""

# The selected candidate pair of every link, read from getStats() only (nothing the page shows),
# and every candidate each side gathered and received. Read only once connected: Chromium 156 can
# lose a link's certificate stats when getStats() runs during the DTLS handshake.
PATHS = """async () => {
  const handle = window.secretCall, out = {};
  for (const id of handle.peers()) {
    const state = handle.connectionState(id);
    if (state !== "connected") { out[id] = {state}; continue; }
    const stats = await handle.getStats(id);
    const byId = new Map(stats.map((s) => [s.id, s]));
    const transport = stats.find((s) => s.type === "transport");
    const pair = transport && byId.get(transport.selectedCandidatePairId);
    const view = (c) => c && {type: c.candidateType, protocol: c.protocol, relayProtocol: c.relayProtocol || "",
                              address: c.address};
    out[id] = {state, local: view(pair && byId.get(pair.localCandidateId)),
               remote: view(pair && byId.get(pair.remoteCandidateId)),
               gathered: stats.filter((s) => s.type === "local-candidate").map(view),
               received: stats.filter((s) => s.type === "remote-candidate").map(view)};
  }
  return out;
}"""


StartServer = Callable[..., netlab.CallServerProcess]
OpenCall = Callable[[netlab.CallServerProcess, netlab.Kind, netlab.Kind], Awaitable[tuple[Tab, Tab]]]

# Not --allow-loopback-in-peer-connection: every home has its own 127.0.0.1, and candidates for it
# would only send each page's checks into its own namespace.
LAB_ARGS = [arg for arg in CHROMIUM_ARGS if arg != "--allow-loopback-in-peer-connection"]


@pytest.fixture(scope="module")
def lab() -> Iterator[netlab.Lab]:
    for tool in ("ip", "iptables", "turnserver", "tcpdump"):
        require_tool(tool)
    netlab.clean_stale()
    built = netlab.Lab(dict(HOMES)).up()
    try:
        yield built
    finally:
        built.down()


@pytest.fixture(scope="module")
def coturn(lab: netlab.Lab) -> Iterator[netlab.Coturn]:
    relay = netlab.Coturn(lab).start()
    try:
        yield relay
    finally:
        relay.stop()


class Browsers:
    """One Chromium per home namespace, launched on first use and shared by the module's tests."""

    def __init__(self, playwright: Playwright, lab: netlab.Lab) -> None:
        self.playwright = playwright
        self.lab = lab
        self.running: dict[str, Browser] = {}

    async def get(self, home: str) -> Browser:
        if home not in self.running:
            self.running[home] = await self.playwright.chromium.launch(
                executable_path=str(self.lab.chromium_wrapper(home)),
                args=[*LAB_ARGS, f"--unsafely-treat-insecure-origin-as-secure={netlab.SERVER_ORIGIN}"])
        return self.running[home]

    async def close(self) -> None:
        for browser in self.running.values():
            await browser.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browsers(lab: netlab.Lab) -> AsyncIterator[Browsers]:
    require_tool(CHROMIUM)
    async with async_playwright() as playwright:
        pool = Browsers(playwright, lab)
        try:
            yield pool
        finally:
            await pool.close()


@pytest.fixture
def start_call_server(lab: netlab.Lab) -> Iterator[StartServer]:
    """start(env, *flags): the Secret-Call server in the lab with this environment; stopped after the test."""
    started: list[netlab.CallServerProcess] = []

    def start(env: dict[str, str], *flags: str) -> netlab.CallServerProcess:
        server = netlab.CallServerProcess(lab, TOKEN, env, flags).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def open_call(lab: netlab.Lab, browsers: Browsers) -> AsyncIterator[OpenCall]:
    """open_call(server, kind_a, kind_b): set the two homes' NAT, open Alice's page in home a and
    Bob's in home b. The pages' contexts are closed after the test (else they would rejoin the next)."""
    tabs: list[Tab] = []

    async def open_pages(server: netlab.CallServerProcess, kind_a: netlab.Kind, kind_b: netlab.Kind) -> tuple[Tab, Tab]:
        lab.set_kind("a", kind_a)
        lab.set_kind("b", kind_b)

        async def page_in(home: str) -> Tab:
            tab = await open_tab(await browsers.get(home), server.invite())
            tabs.append(tab)
            return tab

        alice, bob = await asyncio.gather(page_in("a"), page_in("b"))
        return alice, bob

    yield open_pages
    for tab in tabs:
        await tab.context.close()


def relay_env(coturn: netlab.Coturn, *transports: str | None, **extra: str) -> dict[str, str]:
    """STUN_URL, TURN_URLS and TURN_SECRET for the lab's coturn: the server mints each page's credentials."""
    return {"STUN_URL": coturn.stun_url, **coturn.turn_env(*transports), **extra}


async def links(tab: Tab) -> dict[str, dict[str, Any]]:
    return await tab.page.evaluate(PATHS)


async def selected_pair(tab: Tab) -> dict[str, Any]:
    """The one link's getStats() view once it is connected with a selected pair."""
    async def connected() -> dict[str, Any] | None:
        return next((link for link in (await links(tab)).values() if link.get("local")), None)
    return await wait_for(connected, timeout=CONNECT_TIMEOUT, interval=0.2, message="a connected link")


def peer_row(tab: Tab) -> Locator:
    return tab.page.locator("#roster .participant:not(.self)")


async def row_shows(tab: Tab, path: str, text: str) -> None:
    """The other person's row: connected, and how (its data-path and the words shown)."""
    row = peer_row(tab)
    await expect(row.locator(".participant-state")).to_have_text("connected")
    await expect(row).to_have_attribute("data-path", path)
    await expect(row.locator(".participant-path")).to_have_text(text)


async def test_netlab_cone_to_cone_connects_through_stun(
        lab: netlab.Lab, coturn: netlab.Coturn, start_call_server: StartServer, open_call: OpenCall) -> None:
    server = start_call_server({"STUN_URL": coturn.stun_url})
    captures = netlab.capture_between(lab, "a", "b")
    alice, bob = await open_call(server, "cone", "cone")
    await alice.join("Alice")
    await bob.join("Bob")
    await hearing(alice, 1, timeout=CONNECT_TIMEOUT)
    await hearing(bob, 1, timeout=CONNECT_TIMEOUT)
    for tab, other in ((alice, "b"), (bob, "a")):
        pair = await selected_pair(tab)
        types = {pair["local"]["type"], pair["remote"]["type"]}
        assert "relay" not in types and types & {"srflx", "prflx"}, pair
        assert pair["remote"]["address"] == lab.homes[other].public_ip, "straight to the other router"
        await row_shows(tab, "stun", "through STUN")
    # The control for the privacy case: a direct call is seen by the same captures.
    counts = [capture.stop() for capture in captures]
    assert all(counts), counts
    await alice.clean()
    await bob.clean()


async def test_netlab_symmetric_to_cone_without_turn_says_a_relay_is_needed(
        lab: netlab.Lab, coturn: netlab.Coturn, start_call_server: StartServer, open_call: OpenCall,
        artifacts: Path) -> None:
    server = start_call_server({"STUN_URL": coturn.stun_url})
    alice, bob = await open_call(server, "symmetric", "cone")
    await alice.join("Alice")
    await bob.join("Bob")
    joined = time.monotonic()
    notice = alice.page.locator("#connect-notice")
    await expect(notice).to_be_visible(timeout=NOTICE_TIMEOUT * 1000)
    assert time.monotonic() - joined < NOTICE_TIMEOUT
    await expect(notice.locator("h3")).to_have_text("Can't connect to Bob")
    await expect(notice).to_contain_text("A relay (TURN) server is needed")
    await expect(notice.locator("code").first).to_have_text("--turn")
    await expect(bob.page.locator("#connect-notice")).to_contain_text("Can't connect to Alice")
    await expect(peer_row(alice).locator(".participant-state")).to_have_text("can't connect")
    await expect(peer_row(alice).locator(".participant-path")).to_be_hidden()
    for tab in (alice, bob):
        assert all(link["state"] != "connected" for link in (await links(tab)).values())
    await alice.page.screenshot(path=artifacts / "netlab-cant-connect.png", animations="disabled")
    await alice.clean()


async def test_netlab_udp_blocked_with_a_udp_relay_says_to_try_its_tcp_port(
        lab: netlab.Lab, coturn: netlab.Coturn, start_call_server: StartServer, open_call: OpenCall) -> None:
    server = start_call_server(relay_env(coturn, None))
    alice, bob = await open_call(server, "udp-blocked", "cone")
    await alice.join("Alice")
    await bob.join("Bob")
    notice = alice.page.locator("#connect-notice")
    await expect(notice).to_be_visible(timeout=NOTICE_TIMEOUT * 1000)
    await expect(notice).to_contain_text("Not even the relay (TURN) server could be reached")
    await expect(notice.locator("code")).to_have_text(["TURN_URLS", "turn:…:3478?transport=tcp", "turns:…:5349"])
    await expect(peer_row(alice).locator(".participant-state")).to_have_text("can't connect")
    await alice.clean()


async def test_netlab_symmetric_to_symmetric_connects_through_the_relay(
        lab: netlab.Lab, coturn: netlab.Coturn, start_call_server: StartServer, open_call: OpenCall) -> None:
    server = start_call_server(relay_env(coturn, None, TURN_TTL=str(TURN_TTL)))
    assert server.banner_relay() == "working (udp)"
    for tab, _ in await symmetric_call_through_a_relay(open_call, server):
        await has_own_credentials_and_no_secret(tab, coturn.secret)


async def symmetric_call_through_a_relay(open_call: OpenCall, server: netlab.CallServerProcess,
                                         ) -> list[tuple[Tab, dict[str, Any]]]:
    """Symmetric NAT on both sides: Alice and Bob hear each other through a relay and their rows say so.
    Each page with its selected candidate pair."""
    alice, bob = await open_call(server, "symmetric", "symmetric")
    await alice.join("Alice")
    await bob.join("Bob")
    await hearing(alice, 1, timeout=CONNECT_TIMEOUT)
    await hearing(bob, 1, timeout=CONNECT_TIMEOUT)
    pairs = []
    for tab in (alice, bob):
        pair = await selected_pair(tab)
        assert "relay" in {pair["local"]["type"], pair["remote"]["type"]}, pair
        await row_shows(tab, "relay", "relayed")
        pairs.append((tab, pair))
    await alice.clean()
    return pairs


async def has_own_credentials_and_no_secret(tab: Tab, secret: str) -> None:
    """The TURN credentials the page's connection uses (from hello) are minted for it, TURN REST style,
    expire within TURN_TTL, and neither they nor the page's HTML and scripts hold the shared secret."""
    peer = (await tab.page.evaluate("window.secretCall.peers()"))[0]
    servers = await tab.page.evaluate("(id) => window.secretCall.iceServers(id)", peer)
    turn = [server for server in servers if server.get("username")]
    assert len(turn) == 1, servers
    username, credential = turn[0]["username"], turn[0]["credential"]
    expiry, participant = username.split(":")
    assert participant == await tab.self_id()
    assert time.time() < int(expiry) <= time.time() + TURN_TTL + 1
    assert credential == netlab.rest_credential(secret, username)
    assert secret not in json.dumps(servers)
    sources = await tab.page.evaluate(PAGE_SOURCES)
    assert len(sources) > 3 and not any(secret in text for text in sources), len(sources)


async def test_netlab_symmetric_to_symmetric_connects_through_the_apps_own_relay(
        lab: netlab.Lab, start_call_server: StartServer, open_call: OpenCall) -> None:
    """--turn: the app runs coturn itself, on its own lab internet address, and pages relay through it."""
    server = start_call_server({}, "--turn")
    assert server.banner_relay() == "working (udp, tcp)"
    assert lab.listeners(netlab.SERVER_IP, DEFAULT_TURN_PORT) == {"udp", "tcp"}, "the app's coturn"
    for _, pair in await symmetric_call_through_a_relay(open_call, server):
        relays = [c for c in (pair["local"], pair["remote"]) if c["type"] == "relay"]
        assert all(c["address"] == netlab.SERVER_IP for c in relays), f"not the app's coturn: {pair}"
    server.stop()
    assert lab.listeners(netlab.SERVER_IP, DEFAULT_TURN_PORT) == set(), "the app's coturn stops with it"


async def test_netlab_relay_self_test_says_working_wrong_secret_and_unreachable(
        lab: netlab.Lab, coturn: netlab.Coturn, start_call_server: StartServer) -> None:
    """The server's self-test against the lab's coturn, read from /status in a home (through its NAT)
    and from the headless banner."""
    def self_test(secret: str | None = None) -> str:
        env = {**coturn.turn_env(None, "tcp", secret=secret), "ADMIN_STATUS": "1", "STATUS_SECRET": STATUS_SECRET}
        server = start_call_server(env)
        try:
            status = server.status(lab.homes["a"])
            assert coturn.secret not in json.dumps(status)
            assert status["turn"] == server.banner_relay()
            return str(status["turn"])
        finally:
            server.stop()

    assert self_test() == "working (udp, tcp)"
    assert self_test("not-the-lab-secret") == "wrong secret (udp, tcp)"
    coturn.stop()
    try:
        assert self_test() == "unreachable (udp, tcp)"
    finally:
        coturn.start()


async def test_netlab_udp_blocked_to_cone_relays_over_tcp(
        lab: netlab.Lab, coturn: netlab.Coturn, start_call_server: StartServer, open_call: OpenCall,
        artifacts: Path) -> None:
    server = start_call_server(relay_env(coturn, None, "tcp"))
    alice, bob = await open_call(server, "udp-blocked", "cone")
    await alice.join("Alice")
    await bob.join("Bob")
    await hearing(alice, 1, timeout=CONNECT_TIMEOUT)
    await hearing(bob, 1, timeout=CONNECT_TIMEOUT)
    pair = await selected_pair(alice)
    assert pair["local"]["type"] == "relay" and pair["local"]["relayProtocol"] == "tcp", pair
    await row_shows(alice, "relay-tcp", "relayed over TCP")
    assert "relay" in {(p := await selected_pair(bob))["local"]["type"], p["remote"]["type"]}, p
    await alice.page.screenshot(path=artifacts / "netlab-relayed-over-tcp.png", animations="disabled")
    await alice.clean()


async def test_netlab_privacy_mode_sends_only_relay_candidates(
        lab: netlab.Lab, coturn: netlab.Coturn, start_call_server: StartServer, open_call: OpenCall) -> None:
    server = start_call_server(relay_env(coturn, None))
    captures = netlab.capture_between(lab, "a", "b")
    alice, bob = await open_call(server, "cone", "cone")
    await alice.page.get_by_role("button", name="Settings").click()
    privacy = alice.page.get_by_label("Privacy mode: relay only")
    await expect(privacy).to_be_enabled()
    await privacy.check()
    await alice.page.get_by_role("button", name="Save").click()
    await alice.join("Alice")
    await bob.join("Bob")
    await hearing(alice, 1, timeout=CONNECT_TIMEOUT)
    await hearing(bob, 1, timeout=CONNECT_TIMEOUT)
    mine, theirs = await selected_pair(alice), await selected_pair(bob)
    assert mine["local"]["type"] == "relay" and theirs["remote"]["type"] == "relay"
    assert {c["type"] for c in mine["gathered"]} == {"relay"}, mine["gathered"]
    assert {c["type"] for c in theirs["received"]} == {"relay"}, theirs["received"]
    assert [capture.stop() for capture in captures] == [0, 0], "no packet between the two homes"
    await row_shows(alice, "relay", "relayed")
    await alice.clean()
