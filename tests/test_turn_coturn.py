"""A real coturn on loopback: the app's own TURN child for --turn, the relay self-test, restarts and shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

from config import Config
from conftest import ROOT, TOKEN, require_tool, wait_for
from core import CallServer
from coturn import CoturnServer
from turn import Relay, TurnService, TurnTarget, check_relay, check_target, mint_credentials


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP (coturn listens on both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port


def turnserver_pids(marker: str = "secret-call-turn-", ancestor: int | None = None) -> list[int]:
    """Running turnserver processes whose command line names `marker` (a config folder of ours) and that
    descend from `ancestor` (this test process by default)."""
    ancestor = os.getpid() if ancestor is None else ancestor
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (command and command[0].endswith(b"turnserver") and marker.encode() in b" ".join(command)
                and state != "Z" and _parent_chain_has(int(entry.name), ancestor)):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
async def coturn() -> AsyncIterator[Callable[..., Any]]:
    """coturn(**options): our coturn child on a free loopback port, stopped after the test."""
    require_tool("turnserver")
    started: list[CoturnServer] = []

    async def start(**options: Any) -> CoturnServer:
        options.setdefault("host", "127.0.0.1")
        options.setdefault("port", free_port())
        server = CoturnServer(**options)
        started.append(server)
        await server.start()
        return server
    yield start
    for server in started:
        await server.stop()


def service_of(server: CoturnServer, secret: str | None = None) -> TurnService:
    host = f"127.0.0.1:{server.port}"
    return TurnService((f"turn:{host}?transport=udp", f"turn:{host}?transport=tcp"), secret or server.secret, 600)


async def test_turn_own_coturn_self_test_works_and_stops_with_hosting() -> None:
    require_tool("turnserver")
    port = free_port()
    server = CallServer(Config(token=TOKEN, port=0, turn=True, turn_port=port))
    await server.start()
    try:
        assert server.relay.status == "working (udp, tcp)"
        coturn = server.relay.coturn
        assert coturn is not None and coturn.pid is not None
        pid, folder = coturn.pid, coturn._workdir
        assert folder is not None and oct(folder.stat().st_mode & 0o777) == "0o700"
        assert oct((folder / "turnserver.conf").stat().st_mode & 0o777) == "0o600"
        servers = server.relay.ice_servers_for("3f9a01bc")
        assert servers[0] == {"urls": f"stun:127.0.0.1:{port}"}
        turn = servers[1]
        assert turn["urls"] == [f"turn:127.0.0.1:{port}?transport=udp", f"turn:127.0.0.1:{port}?transport=tcp"]
        assert turn["username"].endswith(":3f9a01bc") and coturn.secret not in str(servers)
        # A page's own credentials get a relay too, over both transports.
        for url in turn["urls"]:
            assert await check_target(TurnTarget.parse(url), turn["username"], turn["credential"], timeout=5) is None
    finally:
        await server.stop()
    assert not alive(pid), "turnserver outlived hosting"
    assert not folder.exists(), "its config folder (with the secret) is removed"
    assert turnserver_pids(str(folder)) == []


async def test_turn_each_hosting_session_has_a_fresh_secret() -> None:
    require_tool("turnserver")
    server = CallServer(Config(token=TOKEN, port=0, turn=True, turn_port=free_port()))
    secrets_seen = []
    for _ in range(2):
        await server.start()
        try:
            assert server.relay.coturn is not None
            secrets_seen.append(server.relay.coturn.secret)
            assert server.relay.status == "working (udp, tcp)"
        finally:
            await server.stop()
    assert secrets_seen[0] != secrets_seen[1] and len(secrets_seen[0]) >= 40


async def test_turn_urls_self_test_right_wrong_and_stopped(coturn: Callable[..., Any]) -> None:
    server = await coturn()
    assert (await check_relay(service_of(server), now=1_700_000_000.0 + 10**8)).text == "working (udp, tcp)"
    assert (await check_relay(service_of(server, "not the secret"), now=2e9)).text == "wrong secret (udp, tcp)"
    config = Config(token=TOKEN, turn_urls=service_of(server).urls, turn_secret=server.secret)
    relay = Relay(config, check_timeout=1.0)
    assert (await relay.check()).working  # type: ignore[union-attr]
    await server.stop()
    assert (await relay.check()).text == "unreachable (udp, tcp)"  # type: ignore[union-attr]
    assert relay.status == "unreachable (udp, tcp)"


async def test_turn_expired_credentials_are_refused(coturn: Callable[..., Any]) -> None:
    server = await coturn()
    username, credential = mint_credentials(server.secret, "3f9a01bc", ttl=60, now=1_000_000)
    target = TurnTarget.parse(f"turn:127.0.0.1:{server.port}")
    assert await check_target(target, username, credential, timeout=5) == "wrong secret"


async def test_turn_child_is_restarted_after_being_killed(coturn: Callable[..., Any]) -> None:
    server = await coturn(backoff=(0.2,))
    first = server.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: server.restarts >= 1 and server.pid not in (None, first), timeout=20,
                   message="turnserver to be restarted")
    second = server.pid

    async def allocates() -> bool:
        return (await check_relay(service_of(server), now=2e9, timeout=1)).working
    await wait_for(allocates, timeout=20, message="the restarted turnserver to allocate")
    await server.stop()
    assert server.pid is None and not alive(first) and not alive(second)


async def test_turn_denies_relaying_into_loopback_unless_allowed(coturn: Callable[..., Any]) -> None:
    """denied-peer-ip keeps the host's own networks out; allowed-peer-ip (tests only) lets one address in."""
    from aioice import turn as aioice_turn

    class Inbox(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.received: list[bytes] = []
            self.errors: list[Exception] = []

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.received.append(data)

        def error_received(self, exc: Exception) -> None:
            self.errors.append(exc)

    async def exchange(server: CoturnServer) -> tuple[Inbox, Inbox]:
        username, credential = mint_credentials(server.secret, "p", 600, 2e9)
        endpoints = [await aioice_turn.create_turn_endpoint(Inbox, ("127.0.0.1", server.port), username, credential)
                     for _ in range(2)]
        (first, one), (second, two) = endpoints
        def sent() -> Any:
            # The receiving allocation needs a permission for the sender too: it gets one by sending back.
            second.sendto(b"permission", first.get_extra_info("sockname"))
            first.sendto(b"through the relay", second.get_extra_info("sockname"))
            return two.received or one.errors

        try:
            await wait_for(sent, timeout=10, interval=0.2, message="the relayed datagram or an error")
        finally:
            for transport, _ in endpoints:
                transport.close()
        return one, two

    one, two = await exchange(await coturn())
    assert two.received == [] and one.errors, "a relay to 127.0.0.1 must be refused"
    # Loopback peers allowed in general (allowed-peer-ip for another address), 127.0.0.1 still denied.
    one, two = await exchange(await coturn(allowed_peers=("127.0.0.2",)))
    assert two.received == [] and one.errors, "denied-peer-ip must keep 127.0.0.0/8 out"
    one, two = await exchange(await coturn(allowed_peers=("127.0.0.1",)))
    assert b"through the relay" in two.received and not one.errors


async def test_turn_with_cert_also_offers_tls(tmp_path: Path) -> None:
    require_tool("turnserver")
    import tls

    cert, key, _ = tls.ensure_self_signed(tmp_path)
    tls_port = free_port()
    config = Config(token=TOKEN, port=0, turn=True, turn_port=free_port(), cert=str(cert), key=str(key))
    relay = Relay(config, coturn_factory=lambda **options: CoturnServer(tls_port=tls_port, **options))
    server = CallServer(config, relay=relay)
    await server.start()
    try:
        assert server.relay.status == "working (udp, tcp, tls)"
        urls = server.relay.ice_servers_for("3f9a01bc")[1]["urls"]
        assert urls[-1] == f"turns:127.0.0.1:{tls_port}?transport=tcp", "the certificate names no host but localhost"
    finally:
        await server.stop()


async def test_turn_headless_banner_and_sigterm() -> None:
    require_tool("turnserver")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "--headless", "--port", "0", "--turn", "--turn-port", str(port),
        cwd=ROOT, env={**{k: v for k, v in os.environ.items() if k != "DISPLAY"}, "ROOM_TOKEN": TOKEN},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = b""
    try:
        assert proc.stdout is not None
        while b"Press Ctrl+C" not in output:
            chunk = await asyncio.wait_for(proc.stdout.read(4096), 20)
            assert chunk, output.decode(errors="replace")
            output += chunk
        assert b"  TURN relay: working (udp, tcp)\n" in output
        mine = turnserver_pids(ancestor=proc.pid)
        assert len(mine) == 1
        proc.send_signal(signal.SIGTERM)
        output += await asyncio.wait_for(proc.stdout.read(), 20)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        assert not alive(mine[0]), "turnserver outlived the app"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _parent_chain_has(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


async def test_turn_docs_coturn_conf_works_with_turn_urls(tmp_path: Path) -> None:
    """docs/coturn.conf, filled in as its comments say, gives a relay that the self-test finds working."""
    turnserver = require_tool("turnserver")
    port, secret = free_port(), "a-long-random-secret-for-the-test"
    template = (ROOT / "docs" / "coturn.conf").read_text()
    lines = []
    for line in template.splitlines():
        if line.startswith(("cert=", "pkey=", "tls-listening-port=", "external-ip=")):
            continue  # no certificate in the test, and loopback is not behind NAT
        line = {"#no-tls": "no-tls", "listening-port=3478": f"listening-port={port}",
                "static-auth-secret=CHANGE-ME-to-a-long-random-secret": f"static-auth-secret={secret}"}.get(line, line)
        lines.append(line)
    lines += ["listening-ip=127.0.0.1", "log-file=stdout", f"pidfile={tmp_path / 'pid'}", f"userdb={tmp_path / 'db'}"]
    assert f"static-auth-secret={secret}" in lines and "no-tls" in lines
    (tmp_path / "turnserver.conf").write_text("\n".join(lines) + "\n")
    proc = await asyncio.create_subprocess_exec(turnserver, "-c", str(tmp_path / "turnserver.conf"),
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        urls = (f"turn:127.0.0.1:{port}?transport=udp", f"turn:127.0.0.1:{port}?transport=tcp")
        relay = Relay(Config(token=TOKEN, turn_urls=urls, turn_secret=secret), check_timeout=1.0)

        async def working() -> bool:
            return (await relay.check()).working  # type: ignore[union-attr]
        await wait_for(working, timeout=20, interval=0.2, message="the documented coturn to give relays")
        assert relay.status == "working (udp, tcp)"
    finally:
        proc.terminate()
        await proc.wait()


async def test_turn_tls_self_test_checks_the_certificate_name(coturn: Callable[..., Any], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """turns: in TURN_URLS is checked like a browser would: a trusted certificate for the URL's host name."""
    import tls

    cert_pem, key_pem = tls.make_certificate({"localhost"}, set())
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    server = await coturn(cert=str(cert), key=str(key), tls_port=free_port())
    target = TurnTarget.parse(f"turns:localhost:{server.tls_port}?transport=tcp")
    username, credential = mint_credentials(server.secret, "3f9a01bc", 600, 2e9)
    assert await check_target(target, username, credential, timeout=5) == "TLS failed (CERTIFICATE_VERIFY_FAILED)"
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted, and it names localhost (no address)
    assert await check_target(target, username, credential, timeout=5) is None
