"""Who may reach the server: the names it answers to, the page origins it admits, the client's real
address (behind a reverse proxy or the tunnel), the pace of wrong room tokens, and one-time links.

Nothing here does I/O: core.py's middleware and WebSocket handler ask these objects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from collections import deque
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::")
DEFAULT_PORTS = {"http": 80, "https": 443}

HOST_REFUSAL = ("Misdirected request: this server does not answer to that host name. To reach it under this "
                "name (a reverse proxy's, say), add the name to ALLOWED_HOSTS.\n")
NO_HOST_REFUSAL = ("Misdirected request: the request names no host (no Host header). Send Host, or list the "
                   "name in ALLOWED_HOSTS.\n")


def normal_host(name: str) -> str:
    """A host name or address in one spelling: lower case, no brackets or final dot, IPv4-mapped IPv6 as IPv4."""
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def split_authority(authority: str) -> tuple[str, int | None] | None:
    """(host, port or None) of a Host header or an origin's authority; None when malformed."""
    value = authority.strip()
    if not value or any(c in value for c in " /\\@?#"):
        return None
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket:
            return None
    elif value.count(":") > 1:
        return None  # an IPv6 address in a Host goes in brackets
    else:
        host, colon, port = value.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit() and int(rest[1:]) < 65536):
        return None
    if not host:
        return None
    return normal_host(host), int(rest[1:]) if rest else None


class HostPolicy:
    """Which names the server answers to (the Host header), and which page origins may open /ws.

    The same list serves both, so a page whose name merely resolves to this machine (DNS rebinding)
    is refused on every request; a request's own Host is never taken as proof of anything.
    """

    def __init__(self, listen_host: str, *, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = (),
                 machine_addresses: Iterable[str] = ()) -> None:
        local = {normal_host(name) for name in LOOPBACK_NAMES}
        if listen_host in WILDCARD_HOSTS:
            local.update(normal_host(address) for address in machine_addresses)
        else:
            local.add(normal_host(listen_host))
        self.local = frozenset(local)
        origins = set(allowed_origins)
        self.any_origin = "*" in origins
        self.origins = frozenset(o.lower().rstrip("/") for o in origins if o != "*")
        # ALLOWED_HOSTS names pass with any origin on them; ALLOWED_ORIGINS only exactly, though
        # their hosts are answered to as well.
        self.proxy_names = frozenset(normal_host(h) for h in allowed_hosts)
        named = set(self.proxy_names)
        for origin in self.origins:
            parts = split_authority(urlsplit(origin).netloc)
            if parts is not None:
                named.add(parts[0])
        self.named = frozenset(named)
        self.tunnel_origin: str | None = None
        self.tunnel_host: str | None = None

    def set_tunnel(self, url: str | None) -> None:
        """The active tunnel's public URL (https://host), or None when there is none."""
        self.tunnel_origin = self.tunnel_host = None
        if url:
            parts = urlsplit(url.strip())
            authority = split_authority(parts.netloc)
            if parts.scheme in DEFAULT_PORTS and authority is not None:
                self.tunnel_origin = f"{parts.scheme}://{parts.netloc}".lower()
                self.tunnel_host = authority[0]

    def _is_local(self, host: str, local_address: str | None) -> bool:
        return host in self.local or (local_address is not None and host == normal_host(local_address))

    def allows_host(self, host_header: str | None, local_address: str | None = None) -> bool:
        """Whether a request with this Host, arriving on `local_address` of this machine, is meant for us."""
        parts = split_authority(host_header or "")
        if parts is None:
            return False
        host = parts[0]
        return self._is_local(host, local_address) or host in self.named or host == self.tunnel_host

    def allows_origin(self, origin: str, local_address: str | None = None, local_port: int | None = None) -> bool:
        """Whether a page of this origin may open /ws.

        Allowed: ALLOWED_ORIGINS (exactly, or `*`), the tunnel's origin, any origin on a name in
        ALLOWED_HOSTS, and this machine's own names and addresses on the port the request came in on
        (another local port is another program's page).
        """
        origin = origin.strip().lower().rstrip("/")
        if self.any_origin or origin in self.origins or (origin and origin == self.tunnel_origin):
            return True
        parts = urlsplit(origin)
        authority = split_authority(parts.netloc) if parts.scheme in DEFAULT_PORTS else None
        if authority is None or parts.path or parts.query or parts.fragment:
            return False
        host, port = authority
        if host in self.proxy_names:
            return True
        return self._is_local(host, local_address) and (port or DEFAULT_PORTS[parts.scheme]) == local_port


def parse_ip(text: str | None) -> str | None:
    """`text` as an IP address in one spelling, or None."""
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class ProxyPolicy:
    """Honours X-Forwarded-For and X-Forwarded-Proto only from configured proxy addresses."""

    def __init__(self, proxies: Iterable[str] = ()) -> None:
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_address(self, remote: str | None, headers: Mapping[str, str]) -> str:
        """The rightmost address in X-Forwarded-For that is not a trusted proxy."""
        address = remote or "?"
        if not self.trusted(address):
            return address
        for hop in reversed(forwarded_hops(headers)):
            if not self.trusted(hop):
                return hop
        return address

    def scheme(self, remote: str | None, headers: Mapping[str, str], scheme: str) -> str:
        forwarded = headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if forwarded in ("http", "https") and self.trusted(remote):
            return forwarded
        return scheme


def forwarded_hops(headers: Mapping[str, str]) -> list[str]:
    """Every address in every X-Forwarded-For header, in order."""
    getall = getattr(headers, "getall", None)
    values = getall("X-Forwarded-For", []) if getall is not None else [headers.get("X-Forwarded-For", "")]
    return [hop.strip() for hop in ",".join(values).split(",") if hop.strip()]


UNKNOWN_TUNNEL_CLIENT = "tunnel:unknown"


def tunnel_client(headers: Mapping[str, str], provider: str) -> str | None:
    """The real address of a client that came through the tunnel, from the header its provider sets.

    cloudflared: Cf-Connecting-IP (Cloudflare's edge sets it, overwriting any the client sent),
    else the last X-Forwarded-For hop. localhost.run: the last X-Forwarded-For hop, which its
    server adds; a Cf-Connecting-IP there would be the client's own words. No usable header, or a
    loopback or unspecified address (no tunnel client has one): None.
    """
    candidates = []
    if provider == "cloudflared":
        candidates.append(headers.get("Cf-Connecting-IP"))
    hops = forwarded_hops(headers)
    candidates.append(hops[-1] if hops else None)
    for candidate in candidates:
        address = parse_ip(candidate)
        if address is not None:
            ip = ipaddress.ip_address(address)
            return None if ip.is_loopback or ip.is_unspecified else address
    return None


class WrongTokens:
    """Paces wrong room tokens without ever locking an address out.

    A right token is never delayed. Each address's first `free` wrong tokens within `window`
    seconds are answered at once; after that, and for everyone once the server as a whole has had
    `budget` wrong tokens within the window, each wrong token's answer is held for `delay` seconds.
    A held answer keeps its connection (counted in the per-address socket cap), so one address
    can try at most about cap/delay tokens a second, and the whole server at most `max_held`/delay.
    """

    def __init__(self, *, free: int = 5, window: float = 60.0, delay: float = 2.0, budget: int = 50,
                 max_held: int = 512, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.window = window
        self.delay = delay
        self.budget = budget
        self.max_held = max_held
        self.max_addresses = max_addresses
        self.clock = clock
        self.held = 0
        self.total = 0
        # Only whether a count reached its limit matters, so each deque keeps no more than that.
        self._failures: dict[str, deque[float]] = {}
        self._server: deque[float] = deque(maxlen=max(1, budget))

    def _recent(self, address: str) -> deque[float]:
        stamps = self._failures.get(address, deque(maxlen=max(1, self.free)))
        horizon = self.clock() - self.window
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if not stamps:
            self._failures.pop(address, None)
        return stamps

    def _server_spent(self) -> bool:
        return len(self._server) >= self.budget and self._server[0] > self.clock() - self.window

    def record(self, address: str) -> float:
        """Count a wrong token from `address`; return how long to hold its answer (0: answer now)."""
        stamps = self._recent(address)
        slow = len(stamps) >= self.free or self._server_spent()
        if address not in self._failures and len(self._failures) >= self.max_addresses:
            self._failures.pop(next(iter(self._failures)))
        now = self.clock()
        stamps.append(now)
        self._failures[address] = stamps
        self._server.append(now)
        self.total += 1
        if not slow and len(stamps) >= self.free:
            logger.info("slowing down further wrong tokens from %s", address)
        return self.delay if slow else 0.0

    @property
    def full(self) -> bool:
        """True while `max_held` answers are held: the server takes no new token attempts for now."""
        return self.held >= self.max_held

    async def hold(self, seconds: float) -> None:
        """Wait before a wrong token's answer, counted in `held`."""
        self.held += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.held -= 1

    @property
    def tracked(self) -> int:
        """How many addresses have recent wrong tokens."""
        for address in list(self._failures):
            self._recent(address)
        return len(self._failures)


USED = "used"


class OneTimeLinks:
    """Short-lived, single-use codes that a local page trades for an invite link.

    "Open in browser" puts only such a code on the browser's command line (which other users of
    the computer can read), never the room token.
    """

    def __init__(self, ttl: float = 60.0, limit: int = 32, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._links: dict[str, tuple[float, str | None]] = {}

    def _expire(self) -> None:
        horizon = self.clock() - self.ttl
        for code in [c for c, (made, _) in self._links.items() if made <= horizon]:
            del self._links[code]

    def issue(self, target: str) -> str:
        """A new code for `target` (an invite URL)."""
        self._expire()
        while len(self._links) >= self.limit:
            self._links.pop(next(iter(self._links)))
        code = secrets.token_urlsafe(18)
        self._links[code] = (self.clock(), target)
        return code

    def take(self, code: str) -> str | None:
        """The target of a fresh code (once), USED for a code already taken, None if unknown or expired."""
        self._expire()
        entry = self._links.get(code)
        if entry is None:
            return None
        made, target = entry
        if target is None:
            return USED
        self._links[code] = (made, None)
        return target
