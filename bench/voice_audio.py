"""The voice benchmark's signal work: the speech, the recordings, alignment, PESQ and the delay.

The speech is real recorded speech from Debian's alsa-utils (GPL-2): the eight spoken channel names
in /usr/share/sounds/alsa/ ("Front Left", "Front Center", …; its Noise.wav is left out), one after
the other, 11.4 s at 48 kHz. Chromium's fake microphone plays it in a loop.
"""

from __future__ import annotations

import base64
import logging
import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

SOUNDS = Path("/usr/share/sounds/alsa")
CLIPS = ("Front_Left", "Front_Center", "Front_Right", "Side_Right", "Rear_Right", "Rear_Center", "Rear_Left",
         "Side_Left")
SOURCE_RATE = 48000
RATE = 16000  # P.862.2 wideband PESQ
WINDOW_S = 8.0  # P.862 wants 8–12 s of speech per score
DELAY_WINDOW_S = 4.0
MAX_DELAY_MS = 1500.0
MIN_CORRELATION = 0.4


class SpeechMissing(RuntimeError):
    """alsa-utils' recordings are not installed."""


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as clip:
        if clip.getframerate() != SOURCE_RATE or clip.getsampwidth() != 2 or clip.getnchannels() != 1:
            raise SpeechMissing(f"{path}: expected 48 kHz 16-bit mono")
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")


def speech() -> np.ndarray:
    """The speech at 48 kHz as int16: the clips in CLIPS order."""
    missing = [name for name in CLIPS if not (SOUNDS / f"{name}.wav").is_file()]
    if missing:
        raise SpeechMissing(f"{SOUNDS}/{missing[0]}.wav is missing (Debian: apt-get install alsa-utils)")
    return np.concatenate([_read_wav(SOUNDS / f"{name}.wav") for name in CLIPS])


def write_wav(path: Path, samples: np.ndarray, rate: int = SOURCE_RATE) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def lowpass_taps(cutoff: float, rate: int, count: int = 255) -> np.ndarray:
    """A windowed-sinc low-pass FIR (Blackman) with unit gain at DC."""
    n = np.arange(count) - (count - 1) / 2
    taps = np.sinc(2 * cutoff / rate * n) * np.blackman(count)
    return taps / taps.sum()


def to_16k(samples: np.ndarray) -> np.ndarray:
    """48 kHz int16 → 16 kHz float in [-1, 1]: low-pass at 7.6 kHz, keep every third sample."""
    x = samples.astype(np.float64) / 32768
    return np.convolve(x, lowpass_taps(7600, SOURCE_RATE), mode="same")[::3]


@dataclass
class Recording:
    """What a page's recorder handed over: samples, and its clock readings (context frame → ms)."""

    rate: int
    samples: np.ndarray
    first: int
    clock: np.ndarray

    @classmethod
    def from_page(cls, data: dict[str, Any]) -> "Recording":
        pcm = np.frombuffer(base64.b64decode(data["pcm"]), dtype="<i2").astype(np.float64) / 32768
        clock = np.array(data["clock"], dtype=np.float64).reshape(-1, 2)
        return cls(int(data["rate"]), pcm, int(data["first"]), clock[np.argsort(clock[:, 0], kind="stable")])

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def time_ms(self, index: float | np.ndarray) -> float | np.ndarray:
        """The shared-clock time of sample `index`, interpolated between the clock readings."""
        frames = self.first + np.asarray(index, dtype=np.float64)
        known, stamps = self.clock[:, 0], self.clock[:, 1]
        if len(known) < 2:
            return stamps[0] + (frames - known[0]) * 1000 / self.rate
        inside = np.interp(frames, known, stamps)
        before = stamps[0] + (frames - known[0]) * 1000 / self.rate
        after = stamps[-1] + (frames - known[-1]) * 1000 / self.rate
        return np.where(frames < known[0], before, np.where(frames > known[-1], after, inside))

    def clock_drift_ms(self) -> float:
        """How far the context's clock strayed from the shared one over the recording (render hiccups)."""
        if len(self.clock) < 2:
            return 0.0
        offsets = self.clock[:, 1] - self.clock[:, 0] * 1000 / self.rate
        return float(offsets.max() - offsets.min())


def _correlate(signal: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """c[k] = Σ pattern[n] · signal[n + k] for k = 0 … len(signal) − len(pattern), by FFT."""
    size = 1 << math.ceil(math.log2(len(signal) + len(pattern)))
    full = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(pattern, size)), size)
    return full[: len(signal) - len(pattern) + 1]


def _normalised_peak(signal: np.ndarray, pattern: np.ndarray) -> tuple[int, float]:
    """The lag where `pattern` fits `signal` best, and the correlation coefficient there."""
    c = _correlate(signal, pattern)
    k = int(np.argmax(c))
    energy = np.sqrt(np.sum(pattern**2) * np.sum(signal[k:k + len(pattern)] ** 2))
    return k, float(c[k] / energy) if energy > 0 else 0.0


@dataclass
class Score:
    """PESQ of one recording: MOS-LQO per window and their mean."""

    windows: list[float]
    correlations: list[float]

    @property
    def mos(self) -> float:
        return float(np.mean(self.windows)) if self.windows else float("nan")


def pesq_score(reference: np.ndarray, heard: np.ndarray, rate: int = RATE, window_s: float = WINDOW_S) -> Score:
    """Wideband PESQ (P.862.2) of what was heard, window by window, against the looping reference.

    Each window of the recording is matched to the stretch of the (looped) reference it best
    correlates with; PESQ's own time alignment then follows the delay within the window.
    """
    from pesq import NoUtterancesError, pesq

    period = len(reference)
    length = min(int(window_s * rate), len(heard))
    tiled = np.tile(reference, math.ceil((length + period) / period) + 1)
    windows: list[float] = []
    correlations: list[float] = []
    for start in range(0, len(heard) - length + 1, length):
        segment = heard[start:start + length]
        if not np.any(segment):
            continue
        offset, correlation = _normalised_peak(tiled[: period + length], segment)
        try:
            mos = pesq(rate, tiled[offset:offset + length].astype(np.float32), segment.astype(np.float32), "wb")
        except NoUtterancesError:
            continue
        windows.append(float(mos))
        correlations.append(correlation)
    return Score(windows, correlations)


def mouth_to_ear_ms(sent: Recording, heard: Recording, window_s: float = DELAY_WINDOW_S) -> list[float]:
    """Delays of the received voice behind the sent one, window by window, on the shared clock.

    Each window of what was heard is looked for in what was sent up to MAX_DELAY_MS earlier; windows
    that match poorly (correlation below MIN_CORRELATION) are left out.
    """
    rate = heard.rate
    length = int(window_s * rate)
    delays = []
    sent_times = sent.time_ms(np.arange(len(sent.samples)))
    for start in range(0, len(heard.samples) - length + 1, length):
        segment = heard.samples[start:start + length]
        if not np.any(segment):
            continue
        at = float(heard.time_ms(start))
        lo = int(np.searchsorted(sent_times, at - MAX_DELAY_MS))
        hi = int(np.searchsorted(sent_times, at + 50)) + length
        region = sent.samples[lo:hi]
        if len(region) < length:
            continue
        lag, correlation = _normalised_peak(region, segment)
        if correlation < MIN_CORRELATION:
            continue
        delays.append(at - float(sent.time_ms(lo + lag)))
    return delays


def spread(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    return (min(finite), max(finite)) if finite else (float("nan"), float("nan"))
