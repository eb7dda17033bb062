"""One hosting session: the call server, the public-link tunnel and the relay the server runs.

The window (gui.py) and the headless mode (main.py) both host through `Hosting`. It runs on the
asyncio loop; what changes while hosting (the tunnel's address and status, the number of people in
the call) is pushed to the callbacks it was given, on that loop, for the caller to marshal as it needs.
The server itself owns its allowed origins and hosts (access.py) and its TURN relay (turn.py);
`Hosting` hands it the tunnel's address, so an old tunnel host stops being allowed the moment the
tunnel moves or goes down.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from config import Config

logger = logging.getLogger(__name__)


class Server(Protocol):
    """What hosting needs of core.CallServer."""

    port: int
    tunnel_port: int | None

    @property
    def running(self) -> bool: ...

    @property
    def local_url(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def invite_url(self, origin: str | None = None) -> str: ...

    def set_public_url(self, url: str | None) -> None: ...

    def one_time_link(self, target: str) -> str: ...

    @property
    def participant_count(self) -> int: ...

    def watch_participants(self, watcher: Callable[[int], None]) -> None: ...


class TunnelLike(Protocol):
    """What hosting needs of tunnel.Tunnel."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ServerFactory = Callable[[Config], Server]
TunnelFactory = Callable[..., TunnelLike]
PublicCallback = Callable[[str | None, str | None], None]


@dataclass(frozen=True)
class HostInfo:
    """What hosting looks like once it has started."""

    port: int
    capacity: int
    local_url: str
    invite_url: str
    tunnel_error: str | None
    relay_status: str | None = None


def _ignore(*args: object) -> None:
    return None


class Hosting:
    """One server and at most one tunnel. Its coroutines and callbacks run on the asyncio loop.

    `on_public(url, invite)` gets the tunnel's public URL and invite (None, None while it is down),
    `on_tunnel_status(text)` the tunnel's progress, `on_participants(count)` each roster change.
    """

    def __init__(self, server_factory: ServerFactory, tunnel_factory: TunnelFactory | None, *,
                 on_public: PublicCallback = _ignore, on_tunnel_status: Callable[[str], None] = _ignore,
                 on_participants: Callable[[int], None] = _ignore) -> None:
        self._server_factory = server_factory
        self._tunnel_factory = tunnel_factory
        self._on_public = on_public
        self._on_tunnel_status = on_tunnel_status
        self._on_participants = on_participants
        self._server: Server | None = None
        self._tunnel: TunnelLike | None = None
        # Since Python 3.10 a Lock binds to the loop at its first use, not when it is made.
        self._lock = asyncio.Lock()

    @property
    def server(self) -> Server | None:
        """The running server, or None."""
        return self._server

    async def start(self, config: Config, provider: str) -> HostInfo:
        """Start the server, then the tunnel; a tunnel failure leaves the server running and is reported."""
        async with self._lock:
            if self._server is not None:
                raise RuntimeError("already hosting")
            server = self._server_factory(config)
            await server.start()
            self._server = server
            server.watch_participants(self._participants_changed)
            tunnel_error = None
            if provider != "none":
                tunnel_error = await self._start_tunnel(server, provider)
            return HostInfo(port=server.port, capacity=config.capacity, local_url=server.local_url,
                            invite_url=server.invite_url(), tunnel_error=tunnel_error,
                            relay_status=getattr(getattr(server, "relay", None), "status", None))

    async def _start_tunnel(self, server: Server, provider: str) -> str | None:
        if self._tunnel_factory is None:
            return "tunnel.py is missing"
        try:
            tunnel = self._tunnel_factory(provider, server.tunnel_port, on_url=self._url_changed,
                                          on_status=self._status_changed)
            self._tunnel = tunnel
            await tunnel.start()
        except Exception as error:  # TunnelError, or anything else the tunnel raises: show it, keep hosting
            logger.warning("tunnel %s did not start: %s", provider, error)
            self._tunnel = None
            return str(error) or type(error).__name__
        return None

    def _url_changed(self, url: str | None) -> None:
        server = self._server
        if server is None or self._tunnel is None or not server.running:
            return
        server.set_public_url(url)
        self._on_public(url, server.invite_url(url) if url else None)

    def _status_changed(self, text: str) -> None:
        if self._tunnel is not None:
            self._on_tunnel_status(text)

    def _participants_changed(self, count: int) -> None:
        if self._server is not None:
            self._on_participants(count)

    async def stop(self) -> None:
        """Stop the tunnel, then the server. Safe to call when nothing runs."""
        async with self._lock:
            tunnel, self._tunnel = self._tunnel, None
            server, self._server = self._server, None
            try:
                if tunnel is not None:
                    await tunnel.stop()
            finally:
                if server is not None:
                    await server.stop()

    async def one_time_link(self, url: str) -> str:
        """What to hand the browser for `url`: a one-time local link when it carries the token."""
        server = self._server
        if "#token=" not in url or server is None or not server.running:
            return url
        return server.one_time_link(url)

    async def participant_count(self) -> int:
        server = self._server
        if server is None or not server.running:
            return 0
        return server.participant_count
