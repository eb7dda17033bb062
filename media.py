"""For the Python peers (probe, sound check): their peer connection, a tone source, a delay line, and a meter
that measures what arrives."""

from __future__ import annotations

import asyncio
import fractions
import logging
import math
import time
from collections import deque
from typing import Any, cast

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

logger = logging.getLogger(__name__)


def peer_connection(ice_servers: list[dict[str, Any]]) -> RTCPeerConnection:
    """An aiortc peer connection for ICE servers in the page's form ({"urls", "username", "credential"}).
    Always explicit: with no configuration aiortc would ask Google's STUN server."""
    servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
               for s in ice_servers]
    return RTCPeerConnection(RTCConfiguration(iceServers=servers))

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms, what Opus sends


class ToneTrack(MediaStreamTrack):
    """A sine tone in real time: mono s16 at 48 kHz, 20 ms a frame."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, level: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.level = level
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._pts / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        t = (np.arange(FRAME_SAMPLES) + self._pts) / SAMPLE_RATE
        samples = (np.sin(2 * math.pi * self.frequency * t) * self.level * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


class DelayTrack(MediaStreamTrack):
    """Plays another track back `delay` seconds later (the sound check's echo), silence until then."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, delay: float = 1.5) -> None:
        super().__init__()
        self.source = source
        self.frames_behind = max(1, round(delay * SAMPLE_RATE / FRAME_SAMPLES))
        self._buffer: deque[av.AudioFrame] = deque()
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        incoming = cast(av.AudioFrame, await self.source.recv())  # an audio track yields audio frames
        self._buffer.append(incoming)
        if len(self._buffer) > self.frames_behind:
            out = self._buffer.popleft()
        else:
            out = silence_like(incoming)
        out.pts = self._pts
        self._pts += out.samples
        return out

    def stop(self) -> None:
        super().stop()
        self._buffer.clear()


def silence_like(frame: av.AudioFrame) -> av.AudioFrame:
    """A silent frame with the same format, layout, rate and length."""
    out = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
    for plane in out.planes:
        plane.update(bytes(plane.buffer_size))
    out.sample_rate = frame.sample_rate
    out.time_base = frame.time_base
    return out


def mono(frame: av.AudioFrame) -> np.ndarray:
    """The frame's samples as float mono in [-1, 1] (decoded Opus is interleaved s16 stereo)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        samples = data.astype(np.float32).mean(axis=0)
    else:
        samples = data.reshape(-1, channels).astype(np.float32).mean(axis=1)
    return samples / 32768.0


class AudioMeter:
    """Consumes a received track and measures it: frames, seconds, level and main frequency."""

    def __init__(self, track: MediaStreamTrack, window_seconds: float = 1.0) -> None:
        self.track = track
        self.frames = 0
        self.samples = 0
        self.sample_rate = SAMPLE_RATE
        self.peak_rms = 0.0
        self._recent: deque[np.ndarray] = deque(maxlen=max(1, int(window_seconds * 50)))
        self.listeners: list[Any] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                frame = cast(av.AudioFrame, await self.track.recv())
                samples = mono(frame)
                self.sample_rate = frame.sample_rate or SAMPLE_RATE
                self.frames += 1
                self.samples += len(samples)
                self._recent.append(samples)
                self.peak_rms = max(self.peak_rms, float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0)
                for listener in self.listeners:
                    listener(samples, self.sample_rate)
        except MediaStreamError:
            pass

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def rms_dbfs(self) -> float:
        """The level over the recent window, in dB below full scale."""
        if not self._recent:
            return -math.inf
        samples = np.concatenate(self._recent)
        rms = float(np.sqrt(np.mean(samples ** 2)))
        return 20 * math.log10(rms) if rms > 0 else -math.inf

    def frequency(self) -> float | None:
        """The strongest frequency over the recent window, in Hz."""
        if not self._recent:
            return None
        samples = np.concatenate(self._recent)
        if len(samples) < 1024 or not np.any(samples):
            return None
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
        spectrum[0] = 0
        return float(np.argmax(spectrum) * self.sample_rate / len(samples))

    def stop(self) -> None:
        self.task.cancel()
