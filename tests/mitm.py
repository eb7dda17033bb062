"""A man in the middle, for tests only: it rewrites the signaling so each browser's DTLS ends at an
aiortc peer of ours, and relays the audio between them. Verification codes must expose it.

It can also relay honestly at first and step in later (`strike`): a forged re-offer "from" one
browser, with our own certificate, re-keys the other browser's existing connection to us. And it can
drop every `verify` message, so that no code is ever completed."""

from __future__ import annotations

import asyncio
import fractions
import logging
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from room import Member, Room

logger = logging.getLogger(__name__)


class ForwardTrack(MediaStreamTrack):
    """Sends the frames of a source set later; silence (paced, 20 ms) until then."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.source: MediaStreamTrack | None = None
        self._pts = 0
        self._ready = asyncio.Event()

    def use(self, source: MediaStreamTrack) -> None:
        self.source = source
        self._ready.set()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.source is None:
            try:
                await asyncio.wait_for(self._ready.wait(), 0.02)
            except asyncio.TimeoutError:
                # Stereo, like the decoded Opus that follows: the encoder's resampler takes one layout only.
                frame = av.AudioFrame.from_ndarray(np.zeros((1, 2 * 960), np.int16), format="s16", layout="stereo")
                frame.sample_rate, frame.pts = 48_000, self._pts
                frame.time_base = fractions.Fraction(1, 48_000)
                self._pts += 960
                return frame
        assert self.source is not None
        frame = await self.source.recv()
        frame.pts = self._pts
        self._pts += frame.samples
        return frame


class Leg:
    """Our peer connection facing one browser, pretending to be the other one."""

    def __init__(self, faces: str, poses_as: str) -> None:
        self.faces, self.poses_as = faces, poses_as
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.outgoing = ForwardTrack()
        self.pc.addTrack(self.outgoing)
        self.incoming: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self.pending: list[Any] = []
        # The media id the victim sees, when the forgery renamed it (see strike's `rebuild`).
        self.shown_mid: str | None = None

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and not self.incoming.done():
                self.incoming.set_result(track)


def swap_mid(sdp: str, old: str, new: str) -> str:
    """The SDP with media id `old` renamed `new` (its a=mid line and the BUNDLE group)."""
    lines = []
    for line in sdp.split("\r\n"):
        if line == f"a=mid:{old}":
            line = f"a=mid:{new}"
        elif line.startswith("a=group:BUNDLE"):
            line = " ".join(new if part == old else part for part in line.split(" "))
        lines.append(line)
    return "\r\n".join(lines)


def unswap(message: dict[str, Any], shown: str) -> dict[str, Any]:
    """The victim's answer or candidate for a renamed media section, in our leg's own names."""
    message = dict(message)
    if isinstance(message.get("sdp"), str):
        message["sdp"] = swap_mid(message["sdp"], shown, "0")
    candidate = message.get("candidate")
    if isinstance(candidate, dict) and candidate.get("sdpMid") == shown:
        message["candidate"] = {**candidate, "sdpMid": "0"}
    return message


class ManInTheMiddle:
    """Installs itself in a Room's offer/answer/ice handlers; every pair gets two legs of ours."""

    def __init__(self, room: Room, *, passive: bool = False, drop_verify: bool = False) -> None:
        self.room = room
        # passive: relay every signal untouched until strike() picks a link to step into.
        self.passive = passive
        self.drop_verify = drop_verify
        self.dropped_verify = 0
        # (victim, poser) pairs struck after the fact: the victim's signals to the poser go to our leg.
        self.struck: set[tuple[str, str]] = set()
        self.legs: dict[tuple[str, str], Leg] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[tuple[Member, dict[str, Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._original: dict[str, Any] = {}

    def install(self) -> None:
        for kind in ("offer", "answer", "ice", "verify"):
            self._original[kind] = self.room._handlers[kind]
            self.room._handlers[kind] = self._intercept
        self._worker = asyncio.ensure_future(self._work())

    def _intercept(self, member: Member, message: dict[str, Any]) -> None:
        kind, target = message.get("type"), message.get("to")
        if kind == "verify":
            if self.drop_verify:
                self.dropped_verify += 1
            else:
                self._original[kind](member, message)
            return
        if (target, member.id) in self.struck:
            return  # the poser's own signals would undo the forgery: they never arrive
        if self.passive and (member.id, target) not in self.struck:
            self._original[str(kind)](member, message)
            return
        # Signals are handled one at a time, in order, as the real relay would deliver them.
        self._queue.put_nowait((member, message))

    async def strike(self, victim: str, poser: str, *, rebuild: bool = False) -> None:
        """Step into the victim's link to the poser: a forged re-offer from the poser with our
        certificate, and from now on no verify message gets through. With `rebuild`, the offer also
        renames its media section, which the victim's connection cannot take: the page rebuilds the
        link (a fresh connection) for that offer, as it would for a peer that rebuilt its own."""
        self.drop_verify = True
        self.struck.add((victim, poser))
        leg = Leg(faces=victim, poses_as=poser)
        self.legs[(victim, poser)] = leg
        await leg.pc.setLocalDescription(await leg.pc.createOffer())
        sdp = leg.pc.localDescription.sdp
        if rebuild:
            leg.shown_mid = "forged"
            sdp = swap_mid(sdp, "0", leg.shown_mid)
        self._send(victim, {"type": "offer", "from": poser, "to": victim, "sdp": sdp})

    async def _work(self) -> None:
        while True:
            member, message = await self._queue.get()
            try:
                await self._handle(member.id, message)
            except Exception:
                logger.exception("mitm: failed on %s", message.get("type"))

    def _send(self, to: str, message: dict[str, Any]) -> None:
        target = self.room.members.get(to)
        if target is not None:
            target.send(message)

    async def _pair(self, a: str, b: str) -> tuple[Leg, Leg]:
        """The legs facing a and b, made (and wired) on first use."""
        if (a, b) not in self.legs:
            leg_a, leg_b = Leg(faces=a, poses_as=b), Leg(faces=b, poses_as=a)
            self.legs[(a, b)], self.legs[(b, a)] = leg_a, leg_b
            self.tasks.append(asyncio.ensure_future(self._wire(leg_a, leg_b)))
            self.tasks.append(asyncio.ensure_future(self._wire(leg_b, leg_a)))
        return self.legs[(a, b)], self.legs[(b, a)]

    async def _wire(self, source: Leg, sink: Leg) -> None:
        sink.outgoing.use(await source.incoming)

    async def _handle(self, sender: str, message: dict[str, Any]) -> None:
        target = message.get("to")
        if not isinstance(target, str) or target not in self.room.members:
            return
        kind = message["type"]
        if (sender, target) in self.struck:
            await self._answer_as(self.legs[(sender, target)], sender, target, message)
            return
        facing_sender, facing_target = await self._pair(sender, target)
        if kind == "offer":
            fresh = facing_target.pc.localDescription is None
            await facing_sender.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
            await self._flush(facing_sender)
            await facing_sender.pc.setLocalDescription(await facing_sender.pc.createAnswer())
            self._send(sender, {"type": "answer", "from": target, "to": sender,
                                "sdp": facing_sender.pc.localDescription.sdp})
            if fresh:
                await facing_target.pc.setLocalDescription(await facing_target.pc.createOffer())
                self._send(target, {"type": "offer", "from": sender, "to": target,
                                    "sdp": facing_target.pc.localDescription.sdp})
        elif kind == "answer":
            if facing_sender.pc.signalingState == "have-local-offer":
                await facing_sender.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
                await self._flush(facing_sender)
        elif kind == "ice":
            await self._add_candidate(facing_sender, message.get("candidate"))

    async def _answer_as(self, leg: Leg, sender: str, poser: str, message: dict[str, Any]) -> None:
        """The victim's signal to the poser, taken by our leg alone."""
        kind = message["type"]
        if leg.shown_mid is not None:
            message = unswap(message, leg.shown_mid)
        if kind == "answer" and leg.pc.signalingState == "have-local-offer":
            await leg.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
            await self._flush(leg)
        elif kind == "offer":
            await leg.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
            await self._flush(leg)
            await leg.pc.setLocalDescription(await leg.pc.createAnswer())
            self._send(sender, {"type": "answer", "from": poser, "to": sender, "sdp": leg.pc.localDescription.sdp})
        elif kind == "ice":
            await self._add_candidate(leg, message.get("candidate"))

    async def _add_candidate(self, leg: Leg, init: Any) -> None:
        if init and init.get("candidate"):
            candidate = candidate_from_sdp(init["candidate"].split(":", 1)[1])
            candidate.sdpMid, candidate.sdpMLineIndex = init.get("sdpMid"), init.get("sdpMLineIndex")
            if leg.pc.remoteDescription is None:
                leg.pending.append(candidate)
            else:
                await leg.pc.addIceCandidate(candidate)

    async def _flush(self, leg: Leg) -> None:
        pending, leg.pending = leg.pending, []
        for candidate in pending:
            await leg.pc.addIceCandidate(candidate)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        for task in self.tasks:
            task.cancel()
        for leg in {id(leg): leg for leg in self.legs.values()}.values():
            await leg.pc.close()
        for kind, handler in self._original.items():
            self.room._handlers[kind] = handler
