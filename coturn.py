"""The TURN server that --turn runs: Debian's coturn (`turnserver`) as a supervised child process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from children import READ_SIZE, end_process_group, keep_running, spawn_group
from ports import address_in_use

logger = logging.getLogger(__name__)

EXECUTABLE = "turnserver"
INSTALL_HINT = "install the coturn package (Debian and Ubuntu: apt install coturn)"
REALM = "secret-call"
TLS_PORT = 5349
RELAY_PORTS = (49152, 65535)
# A TURN server must not become a way into the host's own networks: no relaying to loopback,
# "this network", private, shared (carrier-grade NAT) or link-local addresses, nor to their
# IPv4-mapped IPv6 forms. 198.18.0.0/15 (the network-testing range) stays allowed.
# No range may start at "::": coturn 4.6 takes an all-zero lower bound for "no bound" and ranks
# every IPv4 address below every IPv6 one, so "::-::1" would deny every IPv4 peer (the NAT lab's
# --turn case found it). Loopback is therefore "::1-::1"; "::" itself is no address to relay to.
DENIED_PEERS = (
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.168.0.0-192.168.255.255",
    "::1-::1",
    "::ffff:0.0.0.0-::ffff:255.255.255.255",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)
_WILDCARDS = ("0.0.0.0", "::")
_READY_POLL = 0.05


class CoturnError(Exception):
    """The TURN server could not start; str() is one line for the user, `code` is for programs."""

    def __init__(self, message: str, code: str = "turn-failed") -> None:
        super().__init__(message)
        self.code = code


def find_turnserver(path: str | None = None) -> str:
    """The full path of `turnserver` on PATH (or `path`); CoturnError naming the package if it is missing."""
    found = shutil.which(EXECUTABLE, path=path)
    if found is None:
        raise CoturnError(f"--turn needs {EXECUTABLE}, which was not found on PATH; {INSTALL_HINT}",
                          code="turn-missing")
    return found


def local_address(host: str) -> str:
    """The address at which this machine reaches a server listening on `host`."""
    if host in _WILDCARDS:
        return "127.0.0.1" if host == "0.0.0.0" else "::1"
    return "127.0.0.1" if host == "localhost" else host


def check_port_free(host: str, port: int, kinds: Sequence[int] = (socket.SOCK_DGRAM, socket.SOCK_STREAM)) -> None:
    """CoturnError (code turn-port-busy) if `port` on `host` is taken, for UDP or TCP.

    coturn itself does not give up on a busy port: it retries binding for ever.
    """
    address = local_address(host) if host == "localhost" else host
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for kind in kinds:
        with socket.socket(family, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError as error:
                what = "UDP" if kind == socket.SOCK_DGRAM else "TCP"
                if address_in_use(error):
                    raise CoturnError(f"--turn-port {port} ({what} on {host}) is busy: another program, perhaps "
                                      "another TURN server, uses it; choose another with --turn-port",
                                      code="turn-port-busy") from None
                raise CoturnError(f"--turn-port {port}: cannot listen on {host} ({what}): "
                                  f"{error.strerror or error}") from None


def render_config(*, secret: str, host: str, port: int, workdir: Path, external_ip: str | None = None,
                  cert: str | None = None, key: str | None = None, tls_port: int = TLS_PORT,
                  allowed_peers: Sequence[str] = (), relay_ports: tuple[int, int] = RELAY_PORTS) -> str:
    """coturn's configuration for one hosting session (see docs/coturn.conf for the annotated template)."""
    lines = [
        "# Written by Secret-Call for one hosting session; removed when hosting stops.",
        f"listening-port={port}",
        *([f"listening-ip={local_address(host)}"] if host not in _WILDCARDS else []),
        *([f"external-ip={external_ip}"] if external_ip else []),
        f"realm={REALM}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"min-port={relay_ports[0]}",
        f"max-port={relay_ports[1]}",
        "fingerprint",
        "no-multicast-peers",
        *(f"denied-peer-ip={peers}" for peers in DENIED_PEERS),
        *(f"allowed-peer-ip={peers}" for peers in allowed_peers),
        # coturn refuses loopback peers on its own too; only a test that allows some peers lifts that.
        *(["allow-loopback-peers"] if allowed_peers else []),
        "no-tcp-relay",
        "no-cli",
        "no-dtls",
        *([f"tls-listening-port={tls_port}", f"cert={cert}", f"pkey={key}"] if cert and key else ["no-tls"]),
        "no-software-attribute",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "stale-nonce=600",
        "log-file=stdout",
        "simple-log",
        f"pidfile={workdir / 'turnserver.pid'}",
        f"userdb={workdir / 'turndb'}",
    ]
    return "\n".join(lines) + "\n"


class CoturnServer:
    """coturn as a child process for one hosting session: a fresh random secret, restarted with backoff if it dies.

    `allowed_peers` (coturn's allowed-peer-ip, which wins over the denied ranges, plus allow-loopback-peers)
    is for tests that relay between loopback peers; hosting never sets it.
    """

    def __init__(self, *, host: str, port: int, external_ip: str | None = None, cert: str | None = None,
                 key: str | None = None, tls_port: int = TLS_PORT, allowed_peers: Sequence[str] = (),
                 backoff: Sequence[float] = (1, 2, 4, 8, 16, 30), stable_after: float = 60.0,
                 ready_timeout: float = 10.0, env: Mapping[str, str] | None = None) -> None:
        if not backoff:
            raise ValueError("backoff must not be empty")
        self.host = host
        self.port = port
        self.external_ip = external_ip
        self.cert: str | None = cert if cert and key else None
        self.key: str | None = key if cert and key else None
        self.tls_port = tls_port
        self.allowed_peers = tuple(allowed_peers)
        self.secret = secrets.token_urlsafe(32)
        self.restarts = 0
        self._backoff = tuple(backoff)
        self._stable_after = stable_after
        self._ready_timeout = ready_timeout
        self._env = dict(env) if env is not None else None
        self._workdir: Path | None = None
        self._command: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def tls(self) -> bool:
        """True when coturn also serves TURN over TLS (turns:) on `tls_port`."""
        return self.cert is not None

    @property
    def pid(self) -> int | None:
        """The running turnserver's process id, or None between restarts and when stopped."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start coturn and wait until it answers; CoturnError (one line) if it cannot."""
        if self._task is not None:
            return
        path = self._env.get("PATH") if self._env is not None else None
        executable = find_turnserver(path)
        check_port_free(self.host, self.port)
        if self.tls:
            check_port_free(self.host, self.tls_port, (socket.SOCK_STREAM,))
        self._workdir = Path(tempfile.mkdtemp(prefix="secret-call-turn-"))  # mode 0700
        config_file = self._workdir / "turnserver.conf"
        descriptor = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(render_config(secret=self.secret, host=self.host, port=self.port, workdir=self._workdir,
                                       external_ip=self.external_ip, cert=self.cert, key=self.key,
                                       tls_port=self.tls_port, allowed_peers=self.allowed_peers))
        self._command = [executable, "-c", str(config_file)]
        try:
            proc = await self._spawn()
            self._task = asyncio.create_task(self._supervise(proc), name="turnserver")
            await self._wait_ready(proc)
        except BaseException:
            await self.stop()
            raise
        logger.info("TURN server (coturn) listening on %s port %d", self.host, self.port)

    async def stop(self) -> None:
        """End coturn's process group and forget its files; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        elif self._proc is not None:
            await end_process_group(self._proc)
            self._proc = None
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
            logger.info("TURN server stopped")

    async def _spawn(self) -> asyncio.subprocess.Process:
        try:
            proc = await spawn_group(self._command, self._env)
        except OSError as error:
            raise CoturnError(f"could not start {EXECUTABLE}: {error.strerror or error}") from None
        self._proc = proc
        logger.debug("turnserver started, pid %d", proc.pid)
        return proc

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        """Poll coturn's TCP listener until it accepts a connection."""
        address = local_address(self.host)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout
        while True:
            if proc.returncode is not None or self._task is None or self._task.done():
                raise CoturnError(f"{EXECUTABLE} exited at once (code {proc.returncode}); "
                                  "run with --log-level debug to see its output")
            try:
                _, writer = await asyncio.open_connection(address, self.port)
            except OSError:
                if loop.time() > deadline:
                    raise CoturnError(f"{EXECUTABLE} did not start listening on port {self.port} within "
                                      f"{self._ready_timeout:g} s") from None
                await asyncio.sleep(_READY_POLL)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    async def _supervise(self, proc: asyncio.subprocess.Process | None) -> None:
        try:
            await keep_running(proc, spawn=self._spawn, watch=self._watch, backoff=self._backoff,
                               spawn_errors=(CoturnError,), restarting=self._restarting, restarted=self._restarted)
        finally:
            if self._proc is not None:
                await end_process_group(self._proc)
                self._proc = None

    async def _watch(self, proc: asyncio.subprocess.Process) -> tuple[str, bool]:
        began = asyncio.get_running_loop().time()
        code = await self._drain(proc)
        self._proc = None
        return f"turnserver exited (code {code})", asyncio.get_running_loop().time() - began >= self._stable_after

    def _restarting(self, reason: str, delay: float) -> None:
        logger.warning("%s; restarting it in %g s", reason, delay)

    def _restarted(self) -> None:
        self.restarts += 1

    async def _drain(self, proc: asyncio.subprocess.Process) -> int:
        """Read coturn's output (to the debug log) until it exits; its exit code."""
        assert proc.stdout is not None
        while data := await proc.stdout.read(READ_SIZE):
            if logger.isEnabledFor(logging.DEBUG):
                for line in data.decode(errors="replace").splitlines():
                    if line.strip() and self.secret not in line:
                        logger.debug("turnserver: %s", line.strip())
        return await proc.wait()
