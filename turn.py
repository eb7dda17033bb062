"""Calls between networks: the STUN and TURN servers each page gets, TURN REST credentials, the relay self-test."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from config import Config
from coturn import TLS_PORT, CoturnServer, local_address

logger = logging.getLogger(__name__)

# Used only while a public link is on and nothing else is configured: it sees each person's public
# IP address and port when their browser asks for it, and nothing of the call.
DEFAULT_STUN = "stun:stun.cloudflare.com:3478"
CHECK_TIMEOUT = 5.0
SELF_TEST_ID = "self-test"
CHECKING = "checking…"

_TURN_URL = re.compile(r"(turns?):(\[[0-9a-fA-F:.]+\]|[^:?\[\]]+)(?::(\d+))?(?:\?transport=(udp|tcp))?")


def mint_credentials(secret: str, participant_id: str, ttl: int, now: float) -> tuple[str, str]:
    """TURN REST credentials: username `<unix expiry>:<participant id>`, credential base64(HMAC-SHA1(secret, username))."""
    username = f"{int(now) + ttl}:{participant_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class TurnTarget:
    """One TURN URL as the self-test dials it."""

    url: str
    host: str
    port: int
    transport: str  # "udp", "tcp" or "tls"

    @classmethod
    def parse(cls, url: str) -> "TurnTarget":
        match = _TURN_URL.fullmatch(url)
        if match is None:
            raise ValueError(f"not a TURN URL: {url!r}")
        scheme, host, port, transport = match.groups()
        secure = scheme == "turns"
        return cls(url, host.strip("[]"), int(port or (TLS_PORT if secure else 3478)),
                   "tls" if secure else transport or "udp")


@dataclass(frozen=True)
class TurnService:
    """A TURN server the pages use: its URLs and the shared secret that credentials are minted with."""

    urls: tuple[str, ...]
    secret: str = field(repr=False)
    ttl: int
    connect_host: str | None = None  # where the self-test dials instead of the URLs' host (our own coturn)

    def ice_server(self, participant_id: str, now: float) -> dict[str, Any]:
        username, credential = mint_credentials(self.secret, participant_id, self.ttl, now)
        return {"urls": list(self.urls), "username": username, "credential": credential}


@dataclass(frozen=True)
class RelayCheck:
    """The self-test's result: for each transport ("udp", "tcp", "tls"), None if it works, else the reason."""

    results: tuple[tuple[str, str | None], ...]

    @property
    def working(self) -> bool:
        """True when every TURN URL gave a relay."""
        return bool(self.results) and all(problem is None for _, problem in self.results)

    @property
    def text(self) -> str:
        """`working (udp, tcp)`, `unreachable (udp, tcp)`, or `working (udp); tcp: unreachable`."""
        good = [label for label, problem in self.results if problem is None]
        bad = [(label, problem) for label, problem in self.results if problem is not None]
        reasons = {problem for _, problem in bad}
        if not good and len(reasons) == 1:
            return f"{bad[0][1]} ({', '.join(label for label, _ in bad)})"
        parts = [f"working ({', '.join(good)})"] if good else []
        parts += [f"{label}: {problem}" for label, problem in bad]
        return "; ".join(parts)


def _describe_failure(error: BaseException) -> str:
    from aioice import stun

    if isinstance(error, stun.TransactionFailed):
        code, reason = error.response.attributes.get("ERROR-CODE", (0, ""))
        if code == 401:
            return "wrong secret"
        return f"refused ({code} {reason})".replace(" )", ")")
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or error})"
    return "unreachable"


async def check_target(target: TurnTarget, username: str, credential: str, *, timeout: float = CHECK_TIMEOUT,
                       connect_host: str | None = None) -> str | None:
    """Allocate a relay through one TURN URL with aioice's TURN client; None if it worked, else why not."""
    from aioice import turn as aioice_turn

    host = connect_host or target.host
    context: ssl.SSLContext | None = None
    if target.transport == "tls":
        context = ssl.create_default_context()
        if connect_host is not None:
            # Our own coturn, dialled at the local address: its certificate names the public host.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            address = host
            if target.transport == "udp":
                # aioice's UDP client wants an address; over TCP the name stays, for TLS to check it.
                infos = await asyncio.get_running_loop().getaddrinfo(host, target.port, type=socket.SOCK_DGRAM)
                address = str(infos[0][4][0])
            transport, protocol = await aioice_turn.create_turn_endpoint(
                _Allocation, (address, target.port), username, credential,
                transport="udp" if target.transport == "udp" else "tcp", ssl=context)
    except Exception as error:  # noqa: BLE001 - every failure is a reason to report, none a crash
        logger.debug("TURN self-test of %s failed: %s", target.url, type(error).__name__)
        return _describe_failure(error)
    logger.debug("TURN self-test of %s: relay %s", target.url, transport.get_extra_info("sockname"))
    await _release(transport, protocol, timeout)
    return None


class _Allocation(asyncio.DatagramProtocol):
    """The self-test's end of a relay: it only waits for the allocation to be released."""

    def __init__(self) -> None:
        self.released = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.released.done():
            self.released.set_result(None)


async def _release(transport: Any, protocol: _Allocation, timeout: float) -> None:
    """Delete the test allocation and wait until it is gone, so that nothing outlives the check."""
    transport.close()
    try:
        async with asyncio.timeout(timeout):
            await protocol.released
    except TimeoutError:
        logger.debug("the TURN server did not confirm the end of the test allocation")


async def check_relay(service: TurnService, *, now: float, timeout: float = CHECK_TIMEOUT) -> RelayCheck:
    """Allocate a relay through each of the service's URLs at once, with freshly minted credentials."""
    username, credential = mint_credentials(service.secret, SELF_TEST_ID, service.ttl, now)
    targets = [TurnTarget.parse(url) for url in service.urls]
    problems = await asyncio.gather(*(check_target(target, username, credential, timeout=timeout,
                                                   connect_host=service.connect_host) for target in targets))
    labels = [target.transport for target in targets]
    if len(set(labels)) < len(labels):
        labels = [f"{target.transport} {target.host}:{target.port}" for target in targets]
    return RelayCheck(tuple(zip(labels, problems)))


def stun_urls(config: Config, *, public_link: bool, own_stun: str | None = None) -> list[str]:
    """The STUN URLs pages get: --stun, our own TURN server's STUN, or DEFAULT_STUN while a public
    link is on and neither STUN nor TURN is configured (ICE_SERVERS counts)."""
    if config.stun == "none":
        return []
    own = [own_stun] if own_stun else []
    if config.stun is not None:
        return [config.stun, *own]
    configured = config.turn or config.turn_urls or config.ice_servers
    return own or ([DEFAULT_STUN] if public_link and not configured else [])


def stun_note(stun_urls: list[str]) -> str | None:
    """A line saying what the default public STUN server sees, while pages get it."""
    if DEFAULT_STUN not in stun_urls:
        return None
    return (f"{DEFAULT_STUN} (Cloudflare's public STUN server: it sees each person's public IP address, "
            "nothing of the call)")


def default_route_address() -> str | None:
    """This machine's address on its default route, found without sending anything (UDP connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("0.") else address


def advertised_address(config: Config) -> str:
    """The address pages are told to reach our own TURN server at."""
    if config.turn_external_ip:
        return config.turn_external_ip
    if config.host not in ("0.0.0.0", "::"):
        return local_address(config.host)
    return default_route_address() or "127.0.0.1"


def tls_host(cert: str, fallback: str) -> str:
    """The name a turns: URL must use: the certificate's first DNS name (other than localhost), else `fallback`."""
    import tls
    from cryptography import x509

    try:
        names, _ = tls.covered_names(x509.load_pem_x509_certificate(Path(cert).read_bytes()))
    except (OSError, ValueError):
        return url_host(fallback)
    return next(iter(sorted(name for name in names if name != "localhost")), url_host(fallback))


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class Relay:
    """STUN and TURN for one hosting session: runs coturn for --turn, mints credentials, runs the self-test.

    `public_link` says whether a public link is active: then, with nothing else configured, pages
    get DEFAULT_STUN.
    """

    def __init__(self, config: Config, *, public_link: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.time, check_timeout: float = CHECK_TIMEOUT,
                 coturn_factory: Callable[..., CoturnServer] = CoturnServer) -> None:
        self.config = config
        self.public_link = public_link
        self.clock = clock
        self.check_timeout = check_timeout
        self.coturn: CoturnServer | None = None
        self.service: TurnService | None = None
        self.own_stun: str | None = None
        self.check_result: RelayCheck | None = None
        self._coturn_factory = coturn_factory
        self._checking = False
        if config.turn_urls and config.turn_secret:
            self.service = TurnService(config.turn_urls, config.turn_secret, config.turn_ttl)

    async def start(self) -> None:
        """Start our own TURN server for --turn; CoturnError if it cannot."""
        config = self.config
        if not config.turn or self.coturn is not None:
            return
        coturn = self._coturn_factory(host=config.host, port=config.turn_port, external_ip=config.turn_external_ip,
                                      cert=config.cert, key=config.key)
        await coturn.start()
        self.coturn = coturn
        host = f"{url_host(advertised_address(config))}:{config.turn_port}"
        urls = [f"turn:{host}?transport=udp", f"turn:{host}?transport=tcp"]
        if coturn.tls and config.cert:
            urls.append(f"turns:{tls_host(config.cert, advertised_address(config))}:{coturn.tls_port}?transport=tcp")
        self.own_stun = f"stun:{host}"
        self.service = TurnService(tuple(urls), coturn.secret, config.turn_ttl,
                                   connect_host=local_address(config.host))

    async def check(self) -> RelayCheck | None:
        """The relay self-test, when TURN is configured; its result is also kept for `status`."""
        if self.service is None:
            return None
        self._checking = True
        try:
            self.check_result = await check_relay(self.service, now=self.clock(), timeout=self.check_timeout)
        finally:
            self._checking = False
        logger.info("TURN relay: %s", self.check_result.text)
        return self.check_result

    async def stop(self) -> None:
        coturn, self.coturn = self.coturn, None
        if coturn is not None:
            await coturn.stop()
            # Its secret, URLs and result go with it: the next hosting session starts a fresh one.
            self.service, self.own_stun, self.check_result = None, None, None

    @property
    def status(self) -> str | None:
        """The self-test's line without its prefix ("working (udp, tcp)"), or None without TURN."""
        if self.service is None:
            return None
        if self._checking or self.check_result is None:
            return CHECKING
        return self.check_result.text

    @property
    def stun_urls(self) -> list[str]:
        """The STUN URLs pages get right now."""
        return stun_urls(self.config, public_link=self.public_link(), own_stun=self.own_stun)

    def ice_servers_for(self, member_id: str) -> list[dict[str, Any]]:
        """hello's iceServers for one participant: ICE_SERVERS, STUN, and TURN with credentials minted for it."""
        servers = [dict(server) for server in self.config.ice_servers]
        servers += [{"urls": url} for url in self.stun_urls]
        if self.service is not None:
            servers.append(self.service.ice_server(member_id, self.clock()))
        return servers
