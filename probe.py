"""A Python participant (aiortc) that speaks protocol v1: it joins a call, sends a tone or a file, and measures what it hears."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import unquote, urlsplit

import aiohttp

from room import PROBE_AGENT, SUBPROTOCOL

logger = logging.getLogger(__name__)



class ProbeError(RuntimeError):
    """The probe could not join; str() is one line for the user."""


def split_invite(url: str, token: str | None = None) -> tuple[str, str, str]:
    """(page origin, ws URL, token) from an invite or page URL and an optional token."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProbeError(f"not an http(s) URL: {url!r}")
    if token is None and parts.fragment.startswith("token="):
        token = unquote(parts.fragment[len("token="):])
    if not token:
        raise ProbeError("no token: pass --token or an invite link with #token=")
    origin = f"{parts.scheme}://{parts.netloc}"
    ws_url = ("wss" if parts.scheme == "https" else "ws") + f"://{parts.netloc}/ws"
    return origin, ws_url, token


def subprotocols(token: str, resume: tuple[str, str] | None = None) -> list[str]:
    entries = [SUBPROTOCOL, "auth." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")]
    if resume:
        entries.append(f"resume.{resume[0]}.{resume[1]}")
    return entries


@dataclass
class Link:
    """One peer connection of the probe, to one other participant."""

    peer_id: str
    pc: Any
    meter: Any = None
    pending: list[Any] = field(default_factory=list)

    def report(self, names: dict[str, str]) -> dict[str, Any]:
        meter = self.meter
        return {
            "id": self.peer_id, "name": names.get(self.peer_id, "?"),
            "state": self.pc.connectionState,
            "seconds": round(meter.seconds, 2) if meter else 0.0,
            "level_dbfs": round(meter.rms_dbfs(), 1) if meter and math.isfinite(meter.rms_dbfs()) else None,
            "frequency_hz": round(meter.frequency()) if meter and meter.frequency() else None,
        }


def default_source() -> Any:
    from media import ToneTrack

    return ToneTrack(440.0)


class Probe:
    """A participant built on aiortc; `source()` makes the track it sends to each peer."""

    def __init__(self, url: str, token: str | None = None, *, name: str = "probe",
                 source: Callable[[], Any] | None = None, ice_servers: list[dict[str, Any]] | None = None,
                 on_track: Callable[[str, Any], None] | None = None) -> None:
        self.origin, self.ws_url, self.token = split_invite(url, token)
        self.name = name
        self.source = source or default_source
        self.extra_ice = ice_servers
        self.on_track = on_track
        self.id = ""
        self.roster: list[dict[str, Any]] = []
        self.links: dict[str, Link] = {}
        self.errors: list[dict[str, Any]] = []
        self.full = False
        self.joined = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ice: list[dict[str, Any]] = []

    # -- signaling ---------------------------------------------------------------------------

    async def join(self, timeout: float = 10.0) -> None:
        """Connect, say hello, and join the call; raise ProbeError if refused."""
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(
                self.ws_url, protocols=subprotocols(self.token), max_msg_size=0,
                headers={"User-Agent": f"{PROBE_AGENT}1 (aiortc)", "Origin": self.origin})
        except aiohttp.WSServerHandshakeError as error:
            await self.close()
            raise ProbeError(f"the server refused the connection: HTTP {error.status}") from None
        except aiohttp.ClientError as error:
            await self.close()
            raise ProbeError(f"cannot connect to {self.ws_url}: {error}") from None
        first = await asyncio.wait_for(self._ws.receive(), timeout)
        message = json.loads(first.data) if first.type == aiohttp.WSMsgType.TEXT else {}
        if message.get("type") != "hello":
            await self.close()
            reason = message.get("message") or message.get("type") or "closed"
            raise ProbeError(f"refused: {reason}")
        self.id = message["id"]
        self._ice = list(message.get("iceServers", [])) + list(self.extra_ice or [])
        self._reader = asyncio.create_task(self._read())
        await self.send({"type": "name", "name": self.name})
        try:
            await asyncio.wait_for(self.joined.wait(), timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise ProbeError("the call is full" if self.full else "no answer to join") from None

    async def send(self, message: dict[str, Any]) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps(message))

    async def _read(self) -> None:
        assert self._ws is not None
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            handler = self._handlers.get(message.get("type"))
            if handler is None:
                continue
            try:
                await handler(self, message)
            except Exception as error:  # one bad message must not end the probe
                logger.warning("probe: %s while handling %s", type(error).__name__, message.get("type"))

    async def _on_roster(self, message: dict[str, Any]) -> None:
        first_time = not self.joined.is_set()
        self.roster = message["roster"]
        ids = {p["id"] for p in self.roster}
        if self.id not in ids:
            return
        self.joined.set()
        for peer_id in list(self.links):
            if peer_id not in ids:
                await self.links.pop(peer_id).pc.close()
        if first_time:
            # The newcomer calls everyone already there; later joiners call us.
            for peer_id in ids - {self.id}:
                await self._offer(peer_id)

    async def _on_full(self, message: dict[str, Any]) -> None:
        self.full = True

    async def _on_error(self, message: dict[str, Any]) -> None:
        self.errors.append(message)
        logger.info("probe: server error %s", message.get("code"))
        if message.get("code") == "name-taken" and not self.joined.is_set() and not self.name.endswith(self.id[:4]):
            # Two probes (or a probe and a person) of one name: the probe takes its id's tag too.
            self.name = f"{self.name} {self.id[:4]}"
            await self.send({"type": "name", "name": self.name})

    async def _on_offer(self, message: dict[str, Any]) -> None:
        from aiortc import RTCSessionDescription

        link = self.links.get(message["from"]) or self._link(message["from"])
        await link.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
        await self._flush(link)
        await link.pc.setLocalDescription(await link.pc.createAnswer())
        await self.send({"type": "answer", "to": link.peer_id, "sdp": link.pc.localDescription.sdp})

    async def _on_answer(self, message: dict[str, Any]) -> None:
        from aiortc import RTCSessionDescription

        link = self.links.get(message["from"])
        if link is not None:
            await link.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
            await self._flush(link)

    async def _on_ice(self, message: dict[str, Any]) -> None:
        link = self.links.get(message["from"])
        init = message.get("candidate")
        if link is None or not init or not init.get("candidate"):
            return
        from aiortc.sdp import candidate_from_sdp

        candidate = candidate_from_sdp(init["candidate"].split(":", 1)[1])
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        if link.pc.remoteDescription is None:
            link.pending.append(candidate)
        else:
            await link.pc.addIceCandidate(candidate)

    _handlers: dict[str, Callable[["Probe", dict[str, Any]], Any]] = {
        "roster": _on_roster, "full": _on_full, "error": _on_error,
        "offer": _on_offer, "answer": _on_answer, "ice": _on_ice,
    }

    # -- WebRTC ----------------------------------------------------------------------------------

    def _link(self, peer_id: str) -> Link:
        from media import AudioMeter, peer_connection

        pc = peer_connection(self._ice)
        link = self.links[peer_id] = Link(peer_id, pc)
        pc.addTrack(self.source())

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                link.meter = AudioMeter(track)
                if self.on_track:
                    self.on_track(peer_id, link.meter)
        return link

    async def _offer(self, peer_id: str) -> None:
        link = self._link(peer_id)
        await link.pc.setLocalDescription(await link.pc.createOffer())
        await self.send({"type": "offer", "to": peer_id, "sdp": link.pc.localDescription.sdp})

    async def _flush(self, link: Link) -> None:
        pending, link.pending = link.pending, []
        for candidate in pending:
            await link.pc.addIceCandidate(candidate)

    # -- results -------------------------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        names = {p["id"]: p["name"] for p in self.roster}
        return [link.report(names) for link in self.links.values()]

    async def close(self) -> None:
        for link in list(self.links.values()):
            if link.meter:
                link.meter.stop()
            await link.pc.close()
        self.links.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self._session is not None:
            await self._session.close()


def loopback_only(use_ipv4: bool = True, use_ipv6: bool = False) -> list[str]:
    """aioice's get_host_addresses for one-machine checks: 127.0.0.1 only (aioice leaves loopback out)."""
    return ["127.0.0.1"]


def use_loopback_candidates() -> None:
    """Offer 127.0.0.1 as the only host candidate of this process's aiortc peers."""
    import aioice.ice

    aioice.ice.get_host_addresses = loopback_only


class Speaker:
    """Plays the received audio on this computer's speakers through sounddevice (PortAudio)."""

    def __init__(self) -> None:
        try:
            import sounddevice
        except OSError as error:
            raise ProbeError(f"--play needs PortAudio (Debian: apt-get install libportaudio2): {error}") from None
        try:
            self.stream = sounddevice.OutputStream(samplerate=48_000, channels=1, dtype="float32")
            self.stream.start()
        except sounddevice.PortAudioError as error:
            raise ProbeError(f"--play: no audio output device ({error})") from None

    def __call__(self, samples: Any, sample_rate: int) -> None:
        self.stream.write(samples.reshape(-1, 1).astype("float32"))

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="secret-call probe",
                                     description="Join a call as a test participant and measure the audio.")
    parser.add_argument("url", help="the invite link (with #token=) or the page URL")
    parser.add_argument("--token", help="the room token, when the URL has none")
    parser.add_argument("--name", default="Probe", help="the name shown in the call")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds to stay in the call")
    parser.add_argument("--tone", type=float, default=440.0, help="the frequency of the tone it sends, Hz")
    parser.add_argument("--file", help="send this audio file instead of a tone")
    parser.add_argument("--play", action="store_true", help="play what it hears on this computer's speakers")
    parser.add_argument("--loopback", action="store_true",
                        help="offer 127.0.0.1 as a candidate (a server and browsers on this one machine)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


async def run_probe(args: argparse.Namespace) -> int:
    from media import ToneTrack

    if args.loopback:
        use_loopback_candidates()
    if args.file:
        from aiortc.contrib.media import MediaPlayer

        def source() -> Any:
            try:
                return MediaPlayer(args.file).audio
            except Exception as error:  # av raises many kinds for a bad file
                raise ProbeError(f"cannot read {args.file}: {error}") from None
        source()
    else:
        def source() -> Any:
            return ToneTrack(args.tone)
    speaker = Speaker() if args.play else None
    probe = Probe(args.url, args.token, name=args.name, source=source,
                  on_track=(lambda _id, meter: meter.listeners.append(speaker)) if speaker else None)
    await probe.join()
    print(f"joined as {probe.id}; {len(probe.roster) - 1} other participant(s)", flush=True)
    await asyncio.sleep(args.duration)
    report = probe.report()
    await probe.close()
    if speaker:
        speaker.close()
    if args.json:
        print(json.dumps(report))
    for entry in report:
        print(f"  {entry['name']} ({entry['id']}): {entry['state']}, {entry['seconds']} s of audio, "
              f"level {entry['level_dbfs']} dBFS, main frequency {entry['frequency_hz']} Hz")
    if not report:
        print("nobody else is in the call: the server works, but no audio was checked")
        return 0
    return 0 if all(e["seconds"] > 0 for e in report) else 1


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run_probe(args))
    except ProbeError as error:
        print(f"secret-call probe: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
