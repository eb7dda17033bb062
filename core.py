"""Signaling over the web: the Room's WebSocket adapter, access checks, HTTP and the aiohttp app (room.py has the room)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from aiohttp import WebSocketError, WSMsgType, web

from access import (HOST_REFUSAL, NO_HOST_REFUSAL, UNKNOWN_TUNNEL_CLIENT, USED, WILDCARD_HOSTS, HostPolicy,
                    OneTimeLinks, ProxyPolicy, WrongTokens, tunnel_client)
from config import Config
from folders import config_dir
from ports import address_in_use
from room import (CLOSE_BROWSER_ONLY, CLOSE_GOING_AWAY, CLOSE_SERVER_ERROR, CLOSE_UNAUTHORIZED, CLOSE_UNSUPPORTED, ERROR_MESSAGES, EchoHandler,
                  PROBE_AGENT, SUBPROTOCOL, Outgoing, RateLimit, Room, encode_json)
from coturn import CoturnError
from turn import Relay

logger = logging.getLogger(__name__)

# -- access control ------------------------------------------------------------------
# The policies themselves live in access.py; what a request brings to them is gathered here.

@dataclass(frozen=True)
class Arrival:
    """Where a request came in (the main listener or the tunnel's) and who sent it."""

    tunnel: bool
    local_address: str | None
    local_port: int | None
    client: str
    scheme: str


ARRIVAL = web.RequestKey("arrival", Arrival)


def arrival_of(request: web.Request) -> Arrival:
    """The request's Arrival, worked out once: only the tunnel's own listener believes the tunnel's headers."""
    known = request.get(ARRIVAL)
    if known is not None:
        return known
    state = request.app[STATE]
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    local_address, local_port = (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) else (None, None)
    tunnel = state.tunnel is not None and local_port == state.tunnel.port
    if tunnel:
        assert state.tunnel is not None
        client = tunnel_client(request.headers, state.tunnel.provider) or UNKNOWN_TUNNEL_CLIENT
        scheme = "https"
    else:
        client = state.proxies.client_address(request.remote, request.headers)
        scheme = state.proxies.scheme(request.remote, request.headers, request.scheme)
    arrival = request[ARRIVAL] = Arrival(tunnel, local_address, local_port, client, scheme)
    return arrival


@web.middleware
async def host_guard(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """421 for a request whose Host is not one of ours (DNS rebinding, a misdirected proxy)."""
    host = request.headers.get("Host")
    if not request.app[STATE].hosts.allows_host(host, arrival_of(request).local_address):
        logger.warning("refused a request for an unknown host %r (421)", (host or "")[:100])
        raise web.HTTPMisdirectedRequest(text=HOST_REFUSAL if host else NO_HOST_REFUSAL)
    return await handler(request)


def decode_token(offered: list[str]) -> bytes | None:
    """The token from an `auth.<base64url>` subprotocol entry, or None."""
    for entry in offered:
        if entry.startswith(AUTH_PREFIX):
            data = entry[len(AUTH_PREFIX):]
            try:
                return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            except (binascii.Error, ValueError):
                return None
    return None


def token_matches(offered: list[str], token: str) -> bool:
    """Constant-time comparison of the offered token with the room's."""
    given = decode_token(offered)
    return hmac.compare_digest(given if given is not None else b"\0" * 32, token.encode())




def is_browser(user_agent: str) -> bool:
    """Browsers all send a Mozilla/5.0 product token; of other agents only our own probe is admitted."""
    return user_agent.startswith("Mozilla/5.0") or user_agent.startswith(PROBE_AGENT)


def is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


# -- WebSocket adapter -------------------------------------------------------------------

AUTH_PREFIX = "auth."
RESUME_PREFIX = "resume."
MAX_FRAME = 64 * 1024
SEND_QUEUE_LIMIT = 4096
_CLOSE = object()


class SocketPeer:
    """The Room's Peer over an aiohttp WebSocket: a queue and one writer task keep frames in order."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None = None) -> None:
        self.ws = ws
        self.transport = transport
        self.member_id = ""
        self.closing = False
        self._close: tuple[int, str] = (CLOSE_GOING_AWAY, "")
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.writer = asyncio.create_task(self._write())

    def send(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if self._queue.qsize() >= SEND_QUEUE_LIMIT:
            logger.warning("peer %s reads too slowly; cutting it off", self.member_id)
            self.abort()
            return
        self._queue.put_nowait(message.text if isinstance(message, Outgoing) else encode_json(message))

    def abort(self) -> None:
        """Cut off a socket that cannot keep up: a close frame would only wait behind the rest."""
        self.closing = True
        self.writer.cancel()
        if self.transport is not None:
            self.transport.abort()

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self._close = (code, reason)
        self._queue.put_nowait(_CLOSE)

    async def _write(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if item is _CLOSE:
                    code, reason = self._close
                    await self.ws.close(code=code, message=reason.encode())
                    return
                assert isinstance(item, str)
                await self.ws.send_str(item)
        except (ConnectionError, RuntimeError) as error:
            logger.debug("peer %s: write failed: %s", self.member_id, error)
        except Exception as error:  # one bad frame must never leave a socket silently deaf
            logger.error("peer %s: cannot send (%s); closing it", self.member_id, type(error).__name__)
            self.closing = True
            await self.ws.close(code=CLOSE_SERVER_ERROR, message=b"server error")

    async def finish(self, timeout: float = 2.0) -> None:
        """Flush what is queued (a pending close included), then stop the writer."""
        if not self.writer.done():
            self.close(CLOSE_GOING_AWAY, "")
            try:
                await asyncio.wait_for(self.writer, timeout)
            except asyncio.TimeoutError:
                self.writer.cancel()


async def reject(request: web.Request, message: dict[str, Any], code: int) -> web.WebSocketResponse:
    """Accept the upgrade only to say why, then close: a browser cannot read an HTTP status."""
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,))
    await ws.prepare(request)
    await ws.send_str(json.dumps(message))
    await ws.close(code=code, message=message.get("code", message["type"]).encode())
    return ws


def decode_resume(offered: list[str]) -> tuple[str, str] | None:
    """(id, secret) from a `resume.<id>.<secret>` subprotocol entry, or None."""
    for entry in offered:
        if entry.startswith(RESUME_PREFIX):
            member_id, _, secret = entry[len(RESUME_PREFIX):].partition(".")
            if member_id and secret:
                return member_id, secret
    return None


def count_socket(per_address: dict[str, int], address: str, change: int) -> None:
    """Add `change` to the sockets (and held handshakes) counted against `address`."""
    remaining = per_address.get(address, 0) + change
    if remaining > 0:
        per_address[address] = remaining
    else:
        per_address.pop(address, None)


async def admission(request: web.Request, offered: list[str],
                    resume: tuple[str, str] | None) -> web.StreamResponse | None:
    """The checks before a socket joins the lobby (docs/PROTOCOL.md, Connecting): a refusal, or None."""
    state = request.app[STATE]
    config = state.config
    arrival = arrival_of(request)
    origin = request.headers.get("Origin")
    if origin is not None and not state.hosts.allows_origin(origin, arrival.local_address, arrival.local_port):
        logger.warning("refused /ws from a foreign origin %s", origin[:100])
        raise web.HTTPForbidden(text="This origin may not connect. Add it to ALLOWED_ORIGINS.\n")
    address = arrival.client
    if state.per_address.get(address, 0) >= config.max_per_address:
        logger.warning("refused /ws: %s already has %d sockets", address, config.max_per_address)
        raise web.HTTPTooManyRequests(text="Too many connections from your address.\n")
    if SUBPROTOCOL not in offered:
        raise web.HTTPBadRequest(text=f"Offer the {SUBPROTOCOL} WebSocket subprotocol.\n")
    room = state.room
    # Only a resume the room knows may pass the lobby cap: any "resume.x.y" could claim to be one.
    recognised = resume is not None and room._resumable(resume) is not None
    if not recognised and room.lobby_size >= config.max_lobby:
        logger.warning("refused /ws: the lobby is full (%d sockets)", config.max_lobby)
        raise web.HTTPServiceUnavailable(text="Too many people are waiting to join; try again soon.\n")
    if not recognised and state.auth_failures.full:
        logger.warning("refused /ws: %d wrong-token answers are already held", state.auth_failures.held)
        raise web.HTTPServiceUnavailable(text="Too many wrong tokens are being tried; try again in a few seconds.\n")
    if not token_matches(offered, config.token):
        delay = state.auth_failures.record(address)
        logger.warning("refused a wrong room token from %s", address)
        if delay:
            # Held while counted against the address: its guesses cannot outrun cap / delay.
            count_socket(state.per_address, address, 1)
            try:
                await state.auth_failures.hold(delay)
            finally:
                count_socket(state.per_address, address, -1)
        return await reject(request, {"type": "error", "code": "unauthorized",
                                      "message": ERROR_MESSAGES["unauthorized"]}, CLOSE_UNAUTHORIZED)
    if not is_browser(request.headers.get("User-Agent", "")):
        return await reject(request, {"type": "browser-only",
                                      "message": "Open this link in a web browser."}, CLOSE_BROWSER_ONLY)
    return None


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    config = state.config
    address = arrival_of(request).client
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    resume = decode_resume(offered)
    refusal = await admission(request, offered, resume)
    if refusal is not None:
        return refusal
    room = state.room

    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=MAX_FRAME,
                               heartbeat=config.heartbeat or None)
    await ws.prepare(request)
    peer = SocketPeer(ws, request.transport)
    state.sockets.add(peer)
    count_socket(state.per_address, address, 1)
    peer.member_id = member_id = room.connect(peer, resume, address=address)
    state.grace.cancel(member_id)  # back within its grace period (or a new id: nothing to cancel)
    clean = False
    try:
        while True:
            frame = await ws.receive()
            if frame.type == WSMsgType.TEXT:
                room.receive(member_id, frame.data)
            elif frame.type == WSMsgType.BINARY:
                logger.info("peer %s sent a binary frame; closing", member_id)
                peer.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
            elif frame.type == WSMsgType.CLOSE:
                # Seen here even when the client cut TCP right after its close frame, which
                # aiohttp then records as 1006: the close frame is what makes it clean.
                clean = True
                break
            elif frame.type == WSMsgType.ERROR:
                if isinstance(frame.data, WebSocketError):
                    logger.info("peer %s broke the WebSocket protocol (%s)", member_id, frame.data.code)
                    clean = True
                break
            elif frame.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
    finally:
        # A close frame, or a close we started, frees the seat at once; a vanished socket
        # (reset, half-open, missed heartbeats) keeps it for the grace period.
        if peer.closing or clean:
            room.disconnect(member_id, peer)
        else:
            room.drop(member_id, peer)
            if member_id in room.members:
                state.grace.start(member_id, room)
        state.sockets.discard(peer)
        count_socket(state.per_address, address, -1)
        await peer.finish()
    return ws


# -- HTTP --------------------------------------------------------------------------------

FRONTEND_ROOT = Path(__file__).resolve().parent
FRONTEND_FILES = ("index.html", "open.html", "app.js", "style.css", "icon.svg")
FRONTEND_DIRS = {"js": ".js", "locales": ".json", "css": ".css"}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json; charset=utf-8",
}
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "connect-src 'self'", "media-src 'self'", "manifest-src 'self'",
    "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"


def frontend_files(root: Path) -> dict[str, Path]:
    """The allow-list of URL paths the server serves, mapped to files."""
    files = {name: root / name for name in FRONTEND_FILES if (root / name).is_file()}
    for folder, suffix in FRONTEND_DIRS.items():
        for path in sorted((root / folder).glob(f"*{suffix}")):
            if path.is_file() and not path.is_symlink():
                files[f"{folder}/{path.name}"] = path
    return files


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Adds the security headers to every response, errors and upgrades included."""
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = "Secret-Call"
    if arrival_of(request).scheme == "https":
        response.headers["Strict-Transport-Security"] = HSTS


async def static_handler(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name") or "index.html"
    path = request.app[STATE].files.get(name)
    if path is None:
        raise web.HTTPNotFound(text="Not found.\n")
    return web.FileResponse(path, headers={"Content-Type": CONTENT_TYPES[path.suffix],
                                           "Cache-Control": "no-cache"})


async def health_handler(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def status_handler(request: web.Request) -> web.Response:
    state = request.app[STATE]
    config = state.config
    if not config.admin_status:
        raise web.HTTPNotFound(text="Not found.\n")
    if config.status_secret:
        given = request.headers.get("X-Status-Secret", "").encode()
        if not hmac.compare_digest(given, config.status_secret.encode()):
            raise web.HTTPForbidden(text="Wrong or missing X-Status-Secret.\n")
    elif arrival_of(request).tunnel or not is_loopback(request.remote):
        raise web.HTTPForbidden(text="Without STATUS_SECRET, /status answers this computer only, "
                                     "never through the tunnel.\n")
    room = state.room
    return web.json_response({
        "participants": len(room.participants),
        "connections": len(room.members),
        "capacity": room.capacity,
        "uptime_s": round(time.monotonic() - state.started, 1),
        "messages_relayed": room.messages_relayed,
        **({"turn": state.relay.status} if state.relay is not None and state.relay.status else {}),
    })


async def open_handler(request: web.Request) -> web.Response:
    """Trades a one-time code from "Open in browser" for its invite link (js/open.js asks).

    Only this computer's own page may ask, never through the tunnel: the code is the only
    secret, and it works once.
    """
    state = request.app[STATE]
    arrival = arrival_of(request)
    origin = request.headers.get("Origin", "")
    if arrival.tunnel or not is_loopback(request.remote) or not state.hosts.allows_origin(
            origin, arrival.local_address, arrival.local_port):
        raise web.HTTPForbidden(text="Only this computer's own page may open links.\n")
    target = state.links.take((await request.text()).strip()[:64])
    if target == USED:
        logger.warning("a one-time link was used twice")
        return web.json_response({"error": "used"}, status=410)
    if target is None:
        return web.json_response({"error": "expired"}, status=404)
    return web.json_response({"url": target}, headers={"Cache-Control": "no-store"})


@dataclass(frozen=True)
class TunnelSide:
    """The tunnel's own listener: the provider whose forwarding headers it believes, and its port."""

    provider: str
    port: int


class GraceTimers:
    """One timer per dropped participant that ends its seat when the grace period is over; cancelled
    when that participant comes back (or drops again), and all of them when the server stops."""

    def __init__(self) -> None:
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def start(self, member_id: str, room: Room) -> None:
        self.cancel(member_id)
        self._timers[member_id] = asyncio.get_running_loop().call_later(room.grace + 0.05, self._fire,
                                                                        member_id, room)

    def _fire(self, member_id: str, room: Room) -> None:
        self._timers.pop(member_id, None)
        room.expire()

    def cancel(self, member_id: str) -> None:
        timer = self._timers.pop(member_id, None)
        if timer is not None:
            timer.cancel()

    def cancel_all(self) -> None:
        for member_id in list(self._timers):
            self.cancel(member_id)

    def __len__(self) -> int:
        return len(self._timers)


@dataclass
class ServerState:
    """Everything one running app holds: its config, its room and its open sockets."""

    config: Config
    room: Room
    hosts: HostPolicy
    auth_failures: WrongTokens
    files: dict[str, Path]
    proxies: ProxyPolicy
    tunnel: TunnelSide | None = None
    links: OneTimeLinks = field(default_factory=OneTimeLinks)
    started: float = field(default_factory=time.monotonic)
    sockets: set[SocketPeer] = field(default_factory=set)
    per_address: dict[str, int] = field(default_factory=dict)
    relay: Relay | None = None
    grace: GraceTimers = field(default_factory=GraceTimers)


STATE = web.AppKey("state", ServerState)


async def close_sockets(app: web.Application) -> None:
    """On shutdown, every socket gets a 1001 close frame."""
    app[STATE].grace.cancel_all()
    peers = list(app[STATE].sockets)
    for peer in peers:
        peer.close(CLOSE_GOING_AWAY, "server shutting down")
    if peers:
        await asyncio.wait([peer.writer for peer in peers], timeout=1.5)


def make_echo(config: Config) -> EchoHandler | None:
    """The sound-check service; aiortc itself is imported only when a check starts."""
    if not config.sound_check:
        return None
    from echo import EchoService

    return EchoService(config.ice_servers, max_sessions=config.sound_check_sessions,
                       max_seconds=config.sound_check_seconds)


async def stop_echo(app: web.Application) -> None:
    echo = app[STATE].room.echo
    if echo is not None and hasattr(echo, "close"):
        await echo.close()


def create_app(config: Config, *, frontend_root: Path = FRONTEND_ROOT, relay: Relay | None = None) -> web.Application:
    """The aiohttp application: routes, security headers and shutdown hook."""
    app = web.Application(client_max_size=64 * 1024, middlewares=[host_guard])
    app[STATE] = ServerState(
        config=config,
        room=Room(config.capacity, config.ice_servers, rate_limit=RateLimit.per_second(config.rate_limit),
                  grace=config.resume_grace, echo=make_echo(config), echo_interval=config.sound_check_interval,
                  ice_servers_for=relay.ice_servers_for if relay is not None else None),
        relay=relay,
        hosts=HostPolicy(config.host, allowed_hosts=config.allowed_hosts, allowed_origins=config.allowed_origins,
                         machine_addresses=lan_addresses() if config.host in WILDCARD_HOSTS else ()),
        auth_failures=WrongTokens(free=config.wrong_token_free, window=config.wrong_token_window,
                                  delay=config.wrong_token_delay, budget=config.wrong_token_budget),
        files=frontend_files(frontend_root),
        proxies=ProxyPolicy(config.trusted_proxies),
    )
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(close_sockets)
    app.on_shutdown.append(stop_echo)
    app.router.add_get("/ws", websocket_handler)
    app.router.add_get("/healthz", health_handler)
    app.router.add_get("/status", status_handler)
    app.router.add_post("/open", open_handler)
    app.router.add_get("/", static_handler)
    app.router.add_get("/{name:.+}", static_handler)
    return app


# -- running it ----------------------------------------------------------------------------

class ServerError(RuntimeError):
    """The server could not start; str() is one clear line for the user, `code` is for programs."""

    def __init__(self, message: str, code: str = "start-failed") -> None:
        super().__init__(message)
        self.code = code


ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs'


class CallServer:
    """Runs the app on a TCP port. start() and stop() may alternate any number of times."""

    def __init__(self, config: Config, *, frontend_root: Path = FRONTEND_ROOT, relay: Relay | None = None) -> None:
        self.config = config
        self.frontend_root = frontend_root
        self.relay = relay or Relay(config, public_link=self._public_link_active)
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self.port = config.port
        self.tunnel_port: int | None = None
        self.fingerprint: str | None = None
        self.replaced_fingerprint: str | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.config.tls or self.config.cert else "http"

    def _ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for --tls (a kept self-signed certificate) or --cert/--key."""
        if self.scheme == "http":
            return None
        import tls

        if self.config.cert and self.config.key:
            cert, key = Path(self.config.cert), Path(self.config.key)
        else:
            cert, key, self.replaced_fingerprint = tls.ensure_self_signed(config_dir(), lan_addresses())
        context = tls.server_context(cert, key)
        self.fingerprint = tls.fingerprint(cert)
        return context

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def state(self) -> ServerState:
        assert self.app is not None, "the server is not running"
        return self.app[STATE]

    @property
    def participant_count(self) -> int:
        """How many people are in the call now (0 while stopped)."""
        return len(self.state.room.participants) if self.app is not None else 0

    def watch_participants(self, watcher: Callable[[int], None]) -> None:
        """Call `watcher(count)` on the server's loop whenever the roster changes (until the server stops)."""
        self.state.room.roster_watchers.append(watcher)

    async def start(self) -> None:
        if self._runner is not None:
            return
        try:
            ssl_context = self._ssl_context()
        except (OSError, ValueError, RuntimeError) as error:
            raise ServerError(str(error)) from None
        await self._start_relay()
        app = create_app(self.config, frontend_root=self.frontend_root, relay=self.relay)
        runner = web.AppRunner(app, handle_signals=False, access_log_format=ACCESS_LOG_FORMAT,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, reuse_address=True,
                           ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            await self.relay.stop()
            if address_in_use(error):
                raise ServerError(f"port {self.config.port} on {self.config.host} is busy: another program "
                                  f"(or another Secret-Call) uses it; choose another with --port",
                                  code="port-busy") from None
            raise ServerError(f"cannot listen on {self.config.host}:{self.config.port}: "
                              f"{error.strerror or error}") from None
        self.port = runner.addresses[0][1]
        if self.config.tunnel != "none":
            try:
                self.tunnel_port = await self._listen_for_tunnel(runner, self.config.tunnel)
            except OSError as error:
                await runner.cleanup()
                raise ServerError(f"cannot open the tunnel's loopback port: {error.strerror or error}") from None
        self.app, self._runner = app, runner
        logger.info("listening on %s:%d", self.config.host, self.port)
        await self.relay.check()

    async def _start_relay(self) -> None:
        try:
            await self.relay.start()
        except CoturnError as error:
            raise ServerError(str(error), code=error.code) from None

    def _public_link_active(self) -> bool:
        """A public link is up while the Host rule knows the tunnel's address."""
        return self.app is not None and self.app[STATE].hosts.tunnel_origin is not None

    @staticmethod
    async def _listen_for_tunnel(runner: web.AppRunner, provider: str) -> int:
        """A second, plain-HTTP listener on a free loopback port, for the tunnel child alone.

        Only requests that arrive here are tunnel traffic, so only here are the provider's
        forwarding headers believed for the client address.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            runner.app[STATE].tunnel = TunnelSide(provider, port)
            await web.SockSite(runner, sock).start()
        except OSError:
            sock.close()
            raise
        logger.info("the tunnel's listener is on 127.0.0.1:%d", port)
        return port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        self.tunnel_port = None
        if runner is not None:
            await runner.cleanup()
            logger.info("stopped")
        await self.relay.stop()

    def set_public_url(self, url: str | None) -> None:
        """The tunnel's public URL, or None while it is down: its host and origin are allowed, the old one's no more."""
        if self.app is not None:
            self.state.hosts.set_tunnel(url)

    def one_time_link(self, target: str) -> str:
        """A local URL that opens `target` (an invite) once, without the token in the URL itself."""
        return f"{self.local_url}open.html#{self.state.links.issue(target)}"

    @property
    def local_url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}/"

    def invite_url(self, origin: str | None = None) -> str:
        """`<origin>/#token=<percent-encoded token>`."""
        base = (origin or self.local_url).rstrip("/")
        return f"{base}/#token={quote(self.config.token, safe='')}"

    def lan_urls(self) -> list[str]:
        """http URLs on this machine's LAN addresses, when bound to all interfaces."""
        if self.config.host not in ("0.0.0.0", "::"):
            return []
        return [f"{self.scheme}://{address}:{self.port}/" for address in lan_addresses()]


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, found without sending anything."""
    addresses: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addresses.add(str(info[4][0]))
    except OSError as error:  # no name for this host: the certificate covers loopback only
        logger.info("cannot list this machine's LAN addresses (%s); the certificate covers loopback only", error)
    return sorted(a for a in addresses if not ipaddress.ip_address(a).is_loopback)
