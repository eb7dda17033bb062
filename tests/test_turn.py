"""STUN and TURN settings, minted TURN credentials, what pages get in hello, and the self-test's reasons."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from config import Config, ConfigError, from_environment
from conftest import BROWSER_UA, ROOT, TOKEN, free_port
from core import CallServer, ServerError
from room import Room
from coturn import DENIED_PEERS, CoturnServer, render_config
from fakes import FakeClock, FakePeer
from test_main import apps  # noqa: F401 (a fixture: main.py in a subprocess)
from turn import DEFAULT_STUN, Relay, RelayCheck, TurnTarget, check_target, mint_credentials

SECRET = "s3cret-of-the-TURN-server"
TURN_URLS = ("turn:turn.example.org:3478", "turn:turn.example.org:443?transport=tcp")


def hmac_sha1(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA1 from RFC 2104 by hand, so the test does not lean on the code's own `hmac` call."""
    block = 64
    key = key.ljust(block, b"\0")
    inner = hashlib.sha1(bytes(k ^ 0x36 for k in key) + message).digest()
    return hashlib.sha1(bytes(k ^ 0x5C for k in key) + inner).digest()


# -- credentials --------------------------------------------------------------------------------------

def test_turn_credentials_have_the_rest_form_and_expiry() -> None:
    username, credential = mint_credentials(SECRET, "3f9a01bc", ttl=3600, now=1_764_162_000.7)
    assert username == "1764165600:3f9a01bc"
    assert base64.b64decode(credential, validate=True) == hmac_sha1(SECRET.encode(), username.encode())
    # coturn's own check (use-auth-secret): the same HMAC over the username it receives.
    assert credential == base64.b64encode(hmac_sha1(SECRET.encode(), b"1764165600:3f9a01bc")).decode()


def test_turn_credentials_differ_per_participant_and_time() -> None:
    first = mint_credentials(SECRET, "aaaaaaaa", ttl=60, now=1000)
    assert first != mint_credentials(SECRET, "bbbbbbbb", ttl=60, now=1000)
    assert first != mint_credentials(SECRET, "aaaaaaaa", ttl=60, now=2000)
    assert first != mint_credentials("another secret", "aaaaaaaa", ttl=60, now=1000)


# -- configuration ----------------------------------------------------------------------------------

def test_turn_config_defaults() -> None:
    config = from_environment({})
    assert (config.stun, config.turn_urls, config.turn_secret, config.turn, config.turn_port) == (
        None, (), None, False, 3478)
    assert config.turn_ttl == 24 * 3600


def test_turn_config_from_environment_and_flags() -> None:
    env = {"TURN_URLS": " turn:turn.example.org:3478 , turns:turn.example.org:5349?transport=tcp,",
           "TURN_SECRET": SECRET, "TURN_TTL": "600", "STUN_URL": "stun:stun.example.org:3478"}
    config = from_environment(env)
    assert config.turn_urls == ("turn:turn.example.org:3478", "turns:turn.example.org:5349?transport=tcp")
    assert (config.turn_secret, config.turn_ttl, config.stun) == (SECRET, 600, "stun:stun.example.org:3478")
    assert from_environment(env, stun="NONE").stun == "none", "the flag wins over STUN_URL"
    assert SECRET not in repr(config)
    own = from_environment({}, turn=True, turn_port=3479, turn_external_ip="203.0.113.7")
    assert (own.turn, own.turn_port, own.turn_external_ip) == (True, 3479, "203.0.113.7")
    assert from_environment({"TURN_URLS": "turn:[2001:db8::1]:3478?transport=udp", "TURN_SECRET": "x"}).turn_urls


@pytest.mark.parametrize("env, flags, needle", [
    ({"TURN_URLS": "http://turn.example.org", "TURN_SECRET": SECRET}, {}, "TURN_URLS entry 'http://turn.example.org'"),
    ({"TURN_URLS": "turn:turn.example.org:99999", "TURN_SECRET": SECRET}, {}, "TURN_URLS entry"),
    ({"TURN_URLS": "turn:turn.example.org?transport=sctp", "TURN_SECRET": SECRET}, {}, "TURN_URLS entry"),
    ({"TURN_URLS": "turns:turn.example.org?transport=udp", "TURN_SECRET": SECRET}, {}, "TURN_URLS entry"),
    ({"TURN_URLS": "turn:user@turn.example.org", "TURN_SECRET": SECRET}, {}, "TURN_URLS entry"),
    ({"TURN_URLS": "turn:turn.example.org"}, {}, "TURN_URLS needs TURN_SECRET"),
    ({"TURN_SECRET": SECRET}, {}, "TURN_SECRET needs TURN_URLS"),
    ({"TURN_URLS": "turn:t.example.org", "TURN_SECRET": SECRET, "TURN_TTL": "1h"}, {}, "TURN_TTL"),
    ({"TURN_URLS": "turn:t.example.org", "TURN_SECRET": SECRET, "TURN_TTL": "172801"}, {}, "TURN_TTL"),
    ({"TURN_URLS": "turn:t.example.org", "TURN_SECRET": SECRET, "TURN_TTL": "0"}, {}, "TURN_TTL"),
    ({"STUN_URL": "http://stun.example.org"}, {}, "--stun (STUN_URL)"),
    ({}, {"stun": "turn:stun.example.org"}, "--stun (STUN_URL)"),
    ({}, {"turn": True, "turn_port": 0}, "--turn-port"),
    ({}, {"turn": True, "turn_port": 70000}, "--turn-port"),
    ({}, {"turn": True, "turn_port": 8790, "port": 8790}, "--turn-port 8790 is also the web server's --port"),
    ({}, {"turn_external_ip": "203.0.113.7"}, "--turn-external-ip goes with --turn"),
    ({}, {"turn": True, "turn_external_ip": "my.host"}, "--turn-external-ip must be an IP address"),
    ({"TURN_URLS": "turn:t.example.org", "TURN_SECRET": SECRET}, {"turn": True}, "--turn and TURN_URLS"),
])
def test_turn_config_bad_values_name_the_setting(env: dict[str, str], flags: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as error:
        from_environment(env, **flags)
    assert needle in str(error.value) and "\n" not in str(error.value)
    assert SECRET not in str(error.value)


def test_turn_config_error_exits_2_with_one_line() -> None:
    env = {"TURN_URLS": "turn:turn.example.org", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "--headless"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "secret-call: TURN_URLS needs TURN_SECRET: the TURN server's shared secret (coturn's static-auth-secret)"]


# -- what pages get ---------------------------------------------------------------------------------

def servers_for(config: Config, public: bool = False, member: str = "3f9a01bc") -> list[dict[str, Any]]:
    return Relay(config, public_link=lambda: public, clock=lambda: 1000.0).ice_servers_for(member)


def test_turn_no_ice_servers_on_this_computer_or_the_lan() -> None:
    assert servers_for(Config(token="t")) == []
    assert servers_for(Config(token="t", host="0.0.0.0")) == []


def test_turn_public_link_brings_the_default_stun() -> None:
    assert servers_for(Config(token="t"), public=True) == [{"urls": DEFAULT_STUN}]
    assert servers_for(Config(token="t", stun="none"), public=True) == []
    explicit = Config(token="t", stun="stun:stun.example.org:3478")
    assert servers_for(explicit) == servers_for(explicit, public=True) == [{"urls": "stun:stun.example.org:3478"}]
    configured = Config(token="t", ice_servers=({"urls": "stun:mine.example.org"},))
    assert servers_for(configured, public=True) == [{"urls": "stun:mine.example.org"}], "ICE_SERVERS counts"


def test_turn_urls_give_each_participant_its_own_credentials() -> None:
    config = Config(token="t", turn_urls=TURN_URLS, turn_secret=SECRET, turn_ttl=600)
    servers = servers_for(config, public=True)
    assert servers == [{"urls": list(TURN_URLS), "username": "1600:3f9a01bc",
                        "credential": base64.b64encode(hmac_sha1(SECRET.encode(), b"1600:3f9a01bc")).decode()}]
    assert servers_for(config, member="0badf00d")[0]["username"] == "1600:0badf00d"
    assert SECRET not in json.dumps(servers)


def test_turn_hello_credentials_are_fresh_on_resume() -> None:
    clock = FakeClock()
    config = Config(token="t", turn_urls=TURN_URLS, turn_secret=SECRET, turn_ttl=600)
    relay = Relay(config, clock=clock)
    room = Room(2, grace=30, clock=clock, ice_servers_for=relay.ice_servers_for)
    peer = FakePeer()
    member = room.connect(peer)
    room.receive(member, json.dumps({"type": "name", "name": "Alice"}))
    first = peer.of_type("hello")[0]
    assert first["iceServers"][0]["username"] == f"1600:{member}"
    room.drop(member, peer)
    clock.advance(20)
    back = FakePeer()
    assert room.connect(back, (member, first["resume"])) == member
    again = back.of_type("hello")[0]
    assert again["resumed"] is True
    assert again["iceServers"][0]["username"] == f"1620:{member}"
    assert again["iceServers"][0]["credential"] != first["iceServers"][0]["credential"]
    for hello in (first, again):
        assert SECRET not in json.dumps(hello)


# -- the server: /status, logs, hello over a real socket ---------------------------------------------

@pytest.fixture
async def turn_server(caplog: pytest.LogCaptureFixture) -> AsyncIterator[CallServer]:
    """A server whose TURN_URLS point at closed loopback ports: the self-test finds nobody there."""
    caplog.set_level(logging.DEBUG)
    port = free_port()
    config = Config(token=TOKEN, port=0, admin_status=True, turn_urls=(
        f"turn:127.0.0.1:{port}", f"turn:127.0.0.1:{port}?transport=tcp"), turn_secret=SECRET)
    server = CallServer(config, relay=Relay(config, check_timeout=0.5))
    await server.start()
    yield server
    await server.stop()


async def hello_of(server: CallServer) -> dict[str, Any]:
    auth = "auth." + base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("=")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.local_url.replace("http", "ws") + "ws",
                                      protocols=["secret-call.v1", auth],
                                      headers={"User-Agent": BROWSER_UA, "Origin": server.local_url.rstrip("/")}) as ws:
            return await ws.receive_json(timeout=5)


async def test_turn_status_reports_the_self_test_and_no_secret(turn_server: CallServer,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    hello = await hello_of(turn_server)
    credential = hello["iceServers"][0]["credential"]
    assert hello["iceServers"][0]["username"].endswith(":" + hello["id"])
    async with aiohttp.ClientSession() as session:
        async with session.get(turn_server.local_url + "status") as response:
            body = await response.text()
    assert json.loads(body)["turn"] == "unreachable (udp, tcp)"
    assert SECRET not in body and credential not in body
    assert SECRET not in json.dumps(hello)
    logged = "\n".join(record.getMessage() for when in ("setup", "call") for record in caplog.get_records(when))
    assert "TURN relay: unreachable (udp, tcp)" in logged
    assert SECRET not in logged and credential not in logged


async def test_turn_status_has_no_relay_line_without_turn(start_server: Any) -> None:
    running = start_server(admin_status=True)
    async with aiohttp.ClientSession() as session:
        async with session.get(running.url + "status") as response:
            assert "turn" not in await response.json()


# -- the self-test's reasons ------------------------------------------------------------------------

class RefusingTurnServer(asyncio.DatagramProtocol):
    """Answers every TURN request with 403 Forbidden, as a server that does not allow us."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        from aioice import stun

        request = stun.parse_message(data)
        response = stun.Message(message_method=request.message_method, message_class=stun.Class.ERROR,
                                transaction_id=request.transaction_id)
        response.attributes["ERROR-CODE"] = (403, "Forbidden")
        self.transport.sendto(bytes(response), addr)  # type: ignore[attr-defined]


async def test_turn_self_test_says_refused() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(RefusingTurnServer, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        problem = await check_target(TurnTarget.parse(f"turn:127.0.0.1:{port}"), "1:x", "c", timeout=3)
    finally:
        transport.close()
    assert problem == "refused (403 Forbidden)"


async def test_turn_self_test_says_unreachable() -> None:
    tcp = TurnTarget.parse(f"turn:127.0.0.1:{free_port()}?transport=tcp")
    udp = TurnTarget.parse(f"turn:127.0.0.1:{free_port(socket.SOCK_DGRAM)}")
    assert (tcp.transport, udp.transport) == ("tcp", "udp")
    assert await check_target(tcp, "1:x", "c", timeout=3) == "unreachable"
    assert await check_target(udp, "1:x", "c", timeout=0.5) == "unreachable"
    assert await check_target(TurnTarget.parse("turn:no-such-host.invalid"), "1:x", "c", timeout=3) == "unreachable"


def test_turn_targets_and_check_texts() -> None:
    assert TurnTarget.parse("turns:t.example.org") == TurnTarget("turns:t.example.org", "t.example.org", 5349, "tls")
    assert TurnTarget.parse("turn:[2001:db8::1]:80?transport=tcp").host == "2001:db8::1"
    assert RelayCheck((("udp", None), ("tcp", None))).text == "working (udp, tcp)"
    assert RelayCheck((("udp", None), ("tcp", None))).working
    assert RelayCheck((("udp", "wrong secret"), ("tcp", "wrong secret"))).text == "wrong secret (udp, tcp)"
    mixed = RelayCheck((("udp", None), ("tcp", "unreachable")))
    assert mixed.text == "working (udp); tcp: unreachable" and not mixed.working
    assert RelayCheck((("udp", "unreachable"), ("tcp", "wrong secret"))).text == "udp: unreachable; tcp: wrong secret"


# -- our own coturn's configuration, and the ways --turn can fail to start ---------------------------

def test_turn_coturn_config_keeps_the_lan_out(tmp_path: Path) -> None:
    text = render_config(secret=SECRET, host="0.0.0.0", port=3478, workdir=tmp_path, external_ip="203.0.113.7")
    lines = text.splitlines()
    for wanted in ("use-auth-secret", f"static-auth-secret={SECRET}", "realm=secret-call", "no-cli",
                   "no-multicast-peers", "no-tls", "listening-port=3478", "external-ip=203.0.113.7",
                   "min-port=49152", "max-port=65535", "no-tcp-relay"):
        assert wanted in lines
    assert not any(line.startswith("listening-ip") for line in lines), "0.0.0.0 listens everywhere"
    denied = [line.split("=", 1)[1] for line in lines if line.startswith("denied-peer-ip=")]
    assert denied == list(DENIED_PEERS)
    for start in ("127.0.0.0", "10.0.0.0", "172.16.0.0", "192.168.0.0", "169.254.0.0", "fc00::", "fe80::"):
        assert any(entry.startswith(start + "-") for entry in denied), start
    assert not any(line.startswith("allowed-peer-ip") for line in lines)
    tls = render_config(secret=SECRET, host="127.0.0.1", port=3478, workdir=tmp_path, cert="c.pem", key="k.pem")
    assert {"tls-listening-port=5349", "cert=c.pem", "pkey=k.pem", "listening-ip=127.0.0.1"} <= set(
        tls.splitlines()) and "no-tls" not in tls


def test_turn_denied_ranges_leave_public_ipv4_peers_allowed() -> None:
    """coturn 4.6 reads a range that starts at :: as open below, and ranks every IPv4 address below
    every IPv6 one: such a range denies every IPv4 peer. Ours and docs/coturn.conf's start elsewhere."""
    documented = [line.split("=", 1)[1] for line in (ROOT / "docs" / "coturn.conf").read_text().splitlines()
                  if line.startswith("denied-peer-ip=")]
    assert documented == list(DENIED_PEERS)
    for entry in DENIED_PEERS:
        low, high = (ipaddress.ip_address(part) for part in entry.split("-"))
        assert low.version == high.version and low <= high, entry
        assert str(low) != "::", f"{entry} would deny every IPv4 peer"


async def test_turn_without_turnserver_names_the_package(tmp_path: Path) -> None:
    config = Config(token="t", port=0, turn=True, turn_port=free_port())
    relay = Relay(config, coturn_factory=lambda **options: CoturnServer(env={"PATH": str(tmp_path)}, **options))
    with pytest.raises(ServerError) as error:
        await CallServer(config, relay=relay).start()
    assert error.value.code == "turn-missing"
    assert "turnserver" in str(error.value) and "coturn" in str(error.value)


async def test_turn_busy_port_is_one_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        server = CallServer(Config(token="t", port=0, turn=True, turn_port=port))
        with pytest.raises(ServerError) as error:
            await server.start()
    assert error.value.code == "turn-port-busy"
    assert str(error.value).startswith(f"--turn-port {port} (UDP on 127.0.0.1) is busy")
    assert not server.running


def test_turn_busy_port_exits_2_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "--headless", "--port", "0", "--turn",
                               "--turn-port", str(port)], cwd=ROOT, capture_output=True, text=True, timeout=30,
                              env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("secret-call:")]
    assert lines == [f"secret-call: --turn-port {port} (TCP on 127.0.0.1) is busy: another program, perhaps "
                     "another TURN server, uses it; choose another with --turn-port"]


# -- a public link brings the default STUN, headless -------------------------------------------------

@pytest.mark.parametrize("stun_args, expected", [((), [{"urls": DEFAULT_STUN}]), (("--stun", "none"), [])])
async def test_turn_public_link_gives_pages_the_default_stun(apps: Any, stun_args: tuple[str, ...],
                                                             expected: list[dict[str, str]]) -> None:
    port = free_port()
    env = {"PATH": f"{ROOT / 'tests' / 'fakebin'}:/usr/bin:/bin",
           "FAKE_TUNNEL_OUTPUT": str(ROOT / "tests" / "fixtures" / "tunnel" / "localhost_run.txt")}
    app = await apps("--headless", "--port", str(port), "--token", TOKEN, "--tunnel", "localhost.run", *stun_args,
                     env=env)
    await app.read_until(b"Public invite:")
    public = next(line.split()[-1] for line in app.output.decode().splitlines() if line.strip().startswith("Public:"))
    auth = "auth." + base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("=")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws", protocols=("secret-call.v1", auth),
                                      headers={"User-Agent": BROWSER_UA, "Origin": public.rstrip("/")}) as ws:
            hello = await ws.receive_json(timeout=10)
    assert hello["iceServers"] == expected
    note = f"  STUN:     {DEFAULT_STUN} (Cloudflare's public STUN server: it sees each person's public IP address, "
    assert (note in app.output.decode()) == bool(expected)


class FakeCoturn:
    """Stands in for CoturnServer: records how it was asked to run."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.secret, self.tls, self.tls_port, self.running = "fake secret", False, 5349, False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False


@pytest.mark.parametrize("changes, address", [
    ({"host": "0.0.0.0", "turn_external_ip": "203.0.113.7"}, "203.0.113.7"),
    ({"host": "198.18.0.2"}, "198.18.0.2"),
    ({"host": "localhost"}, "127.0.0.1"),
    ({"host": "::1"}, "[::1]"),
])
async def test_turn_own_server_is_advertised_at_the_right_address(changes: dict[str, Any], address: str) -> None:
    relay = Relay(Config(token="t", turn=True, turn_port=3479, **changes), coturn_factory=FakeCoturn)
    await relay.start()
    coturn = relay.coturn
    assert isinstance(coturn, FakeCoturn) and coturn.running
    assert coturn.options == {"host": changes["host"], "port": 3479, "external_ip": changes.get("turn_external_ip"),
                              "cert": None, "key": None}
    stun, turn = relay.ice_servers_for("3f9a01bc")
    assert stun == {"urls": f"stun:{address}:3479"}
    assert turn["urls"] == [f"turn:{address}:3479?transport=udp", f"turn:{address}:3479?transport=tcp"]
    username, credential = mint_credentials("fake secret", "3f9a01bc", 24 * 3600, float(username_time(turn)))
    assert (turn["username"], turn["credential"]) == (username, credential)
    await relay.stop()
    assert not coturn.running and relay.coturn is None


def username_time(server: dict[str, Any]) -> int:
    return int(server["username"].split(":")[0]) - 24 * 3600
