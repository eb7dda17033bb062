"""The sound check: a server-side aiortc peer that plays one user's voice back to them, delayed.

The echo runs on the host's machine, so it must not become a way for a guest to make that
machine send packets into its own networks: it ignores the offer's candidates on loopback,
link-local and private addresses (except for the host's own browser, and the guest's own
address), answers only with the one local address the guest can reach, and never uses the
host's TURN credentials.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from room import UserError

logger = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where "the default route" leads: a documentation address, looked up in the routing table only
# (a UDP connect() sends nothing).
DEFAULT_ROUTE_PROBE = "198.51.100.1"


def parse_address(text: str | None) -> Address | None:
    """An IP address (IPv4-mapped IPv6 as IPv4, zone dropped), or None."""
    try:
        address = ipaddress.ip_address((text or "").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: Address) -> bool:
    """Globally routable unicast: not private, loopback, link-local, shared (CGNAT), multicast or reserved."""
    return address.is_global and not (address.is_multicast or address.is_unspecified or address.is_reserved)


def route_source(destination: str) -> str | None:
    """This machine's address that the routing table would use to reach `destination`."""
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((destination, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def answer_addresses(client: Address | None, route: Callable[[str], str | None] = route_source) -> list[str]:
    """The local addresses the echo gathers on: only what this client can reach.

    The host's own browser (a loopback client) gets loopback and the default route's address;
    anyone else the one address that routes to them. Never docker, VPN or other interfaces.
    """
    if client is not None and client.is_loopback:
        return list(dict.fromkeys(a for a in ("127.0.0.1", route(DEFAULT_ROUTE_PROBE)) if a is not None))
    source = route(str(client) if client is not None else DEFAULT_ROUTE_PROBE)
    address = parse_address(source)
    return [str(address)] if address is not None and not address.is_loopback else []


def own_addresses() -> frozenset[Address]:
    """Every address of this machine's interfaces (what aioice would gather on by default)."""
    import aioice.ice

    original = getattr(aioice.ice.get_host_addresses, "secret_call_original", aioice.ice.get_host_addresses)
    found = {parse_address(a) for a in original(use_ipv4=True, use_ipv6=True)}
    return frozenset(a for a in found if a is not None)


@dataclass(frozen=True)
class CandidatePolicy:
    """Which remote candidates the echo may send connectivity checks to."""

    client: Address | None
    relays: frozenset[Address] = frozenset()
    own: frozenset[Address] = field(default_factory=frozenset)

    @property
    def local(self) -> bool:
        """The client is the host's own browser, on this machine."""
        return self.client is not None and self.client.is_loopback

    def allows(self, host: str, kind: str) -> bool:
        """Whether a candidate of this `kind` (host, srflx, prflx, relay) at `host` may be used."""
        address = parse_address(host)
        if address is None:
            # An mDNS name (.local): it resolves on the LAN, to anything; only the host's own
            # browser may use one.
            return self.local and host.lower().endswith(".local")
        if address == self.client or is_public(address) or (kind == "relay" and address in self.relays):
            return True
        return self.local and (address.is_loopback or address in self.own)


def filter_candidates(sdp: str, policy: CandidatePolicy) -> tuple[str, int]:
    """The SDP without the candidates the policy refuses, and how many were dropped."""
    kept, dropped = [], 0
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 8 or fields[6] != "typ" or not policy.allows(fields[4], fields[7]):
                dropped += 1
                continue
        kept.append(line)
    return "".join(kept), dropped


def stun_only(ice_servers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The STUN URLs of the ICE servers, without credentials: the echo never relays through TURN."""
    urls = [url for server in ice_servers
            for url in ([server["urls"]] if isinstance(server["urls"], str) else server["urls"])
            if url.split(":", 1)[0] in ("stun", "stuns")]
    return [{"urls": urls}] if urls else []


def relay_hosts(ice_servers: Iterable[dict[str, Any]]) -> set[str]:
    """The host names or addresses of the TURN servers: pages in privacy mode offer relay candidates there."""
    hosts = set()
    for server in ice_servers:
        for url in [server["urls"]] if isinstance(server["urls"], str) else server["urls"]:
            scheme, _, rest = url.partition(":")
            if scheme in ("turn", "turns"):
                host = urlsplit(f"//{rest.split('?', 1)[0]}").hostname
                if host:
                    hosts.add(host)
    return hosts


# The local addresses of the echo being set up in this task (aiortc gathers in child tasks,
# which inherit it); None elsewhere, where aioice's own choice stands.
_GATHER_ON: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("echo_gather_on", default=None)


def scope_host_addresses() -> None:
    """Let each echo choose its own local addresses (aioice has one module-wide function for it)."""
    import aioice.ice

    current = aioice.ice.get_host_addresses
    if getattr(current, "secret_call_original", None) is not None:
        return

    def addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
        chosen = _GATHER_ON.get()
        if chosen is None:
            return current(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
        return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]

    addresses.secret_call_original = current  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = addresses


class EchoService:
    """Runs at most `max_sessions` private echo peers, one per socket, each for at most `max_seconds`."""

    def __init__(self, ice_servers: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (), *,
                 delay: float = 1.5, max_sessions: int = 4, max_seconds: float = 120.0) -> None:
        self.ice_servers = stun_only(ice_servers)
        self.relay_hosts = relay_hosts(ice_servers)
        self.delay = delay
        self.max_sessions = max_sessions
        self.max_seconds = max_seconds
        self.sessions: dict[str, asyncio.Task[None]] = {}
        self._relays: frozenset[Address] | None = None

    def offer(self, member_id: str, sdp: str, reply: Reply, *, address: str | None = None) -> None:
        """Start (or restart) the echo for one socket from its complete, non-trickled offer."""
        self.stop(member_id)
        if len(self.sessions) >= self.max_sessions:
            raise UserError("unavailable", "Too many sound checks are running; try again in a minute.")
        self.sessions[member_id] = asyncio.ensure_future(self._run(member_id, sdp, reply, parse_address(address)))

    def stop(self, member_id: str) -> None:
        task = self.sessions.pop(member_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self.sessions.values())
        self.sessions.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def relays(self) -> frozenset[Address]:
        """The TURN servers' addresses, resolved once."""
        if self._relays is None:
            found: set[Address] = set()
            loop = asyncio.get_running_loop()
            for host in self.relay_hosts:
                try:
                    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
                except OSError:
                    logger.warning("sound check: cannot resolve the TURN server %s", host)
                    continue
                found.update(a for a in (parse_address(str(info[4][0])) for info in infos) if a is not None)
            self._relays = frozenset(found)
        return self._relays

    async def _run(self, member_id: str, sdp: str, reply: Reply, client: Address | None) -> None:
        from aiortc import RTCSessionDescription

        from media import DelayTrack, peer_connection

        scope_host_addresses()
        policy = CandidatePolicy(client, await self.relays(), own_addresses() if client and client.is_loopback
                                 else frozenset())
        sdp, dropped = filter_candidates(sdp, policy)
        if dropped:
            logger.info("peer %s: the sound check ignores %d candidate(s) on internal addresses", member_id, dropped)
        _GATHER_ON.set(answer_addresses(client))
        pc = peer_connection(self.ice_servers)
        echoes: list[DelayTrack] = []

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio" and not echoes:
                echoes.append(DelayTrack(track, self.delay))
                pc.addTrack(echoes[0])

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            reply({"type": "echo", "sdp": pc.localDescription.sdp})
            logger.info("peer %s started a sound check", member_id)
            await asyncio.sleep(self.max_seconds)
            reply({"type": "echo-stop"})
        except asyncio.CancelledError:
            raise
        except Exception as error:  # aiortc raises ValueError and others for a bad offer
            logger.info("peer %s: sound check failed (%s)", member_id, type(error).__name__)
            reply({"type": "error", "code": "bad-message", "message": "The sound check offer was not usable."})
        finally:
            for echo in echoes:
                echo.stop()
            await pc.close()
            if self.sessions.get(member_id) is asyncio.current_task():
                del self.sessions[member_id]
            logger.info("peer %s: sound check ended", member_id)
