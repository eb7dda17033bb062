"""The sound check: a server-side aiortc peer that plays one user's voice back to them, delayed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

logger = logging.getLogger(__name__)

from core import UserError

Reply = Callable[[dict[str, Any]], None]


def _with_loopback(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    def addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
        found = original(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
        return found + ["127.0.0.1"] if use_ipv4 and "127.0.0.1" not in found else found
    addresses.secret_call_loopback = True  # type: ignore[attr-defined]
    return addresses


def offer_loopback_candidates() -> None:
    """Let aioice offer 127.0.0.1 too: the host's own browser often reaches us only on loopback."""
    import aioice.ice

    if not getattr(aioice.ice.get_host_addresses, "secret_call_loopback", False):
        aioice.ice.get_host_addresses = _with_loopback(aioice.ice.get_host_addresses)


class EchoService:
    """Runs at most `max_sessions` private echo peers, one per socket, each for at most `max_seconds`."""

    def __init__(self, ice_servers: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (), *,
                 delay: float = 1.5, max_sessions: int = 4, max_seconds: float = 120.0) -> None:
        self.ice_servers = list(ice_servers)
        self.delay = delay
        self.max_sessions = max_sessions
        self.max_seconds = max_seconds
        self.sessions: dict[str, asyncio.Task[None]] = {}

    def offer(self, member_id: str, sdp: str, reply: Reply) -> None:
        """Start (or restart) the echo for one socket from its complete, non-trickled offer."""
        self.stop(member_id)
        if len(self.sessions) >= self.max_sessions:
            raise UserError("unavailable", "Too many sound checks are running; try again in a minute.")
        self.sessions[member_id] = asyncio.ensure_future(self._run(member_id, sdp, reply))

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

    async def _run(self, member_id: str, sdp: str, reply: Reply) -> None:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

        from media import DelayTrack

        offer_loopback_candidates()
        servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
                   for s in self.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
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
