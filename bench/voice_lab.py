"""The voice benchmark's lab: a namespace with loss, the two servers, Chromium inside, and one measured call.

A call has a talker and a listener, each a page in its own browser context. The listener mutes
itself (Secret-Call's mute button; `track.enabled = false` in the plain page), so the talker's echo
canceller hears nothing and only one voice is on the line. After a warm-up, both pages record at
once for the measured stretch: the talker what its microphone gives, the listener what it plays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp

from bench.common import CpuPlan, free_port
from bench.servers import SECRET_CALL, ServerProcess, Target, secret_call
from bench.voice_audio import Recording, speech, write_wav
from bench.voice_netns import Loss, Namespace
from bench.voice_pages import WWW, PageServer

logger = logging.getLogger(__name__)

TIMEOUT = 45.0
FIREFOX = "/usr/bin/firefox-esr"
# TOOLCHAIN.md: a fake microphone without prompts, ICE on loopback, a mock audio backend, no phoning home.
FIREFOX_PREFS: dict[str, Any] = {
    "media.navigator.streams.fake": True, "media.navigator.permission.disabled": True,
    "permissions.default.microphone": 1, "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False, "media.cubeb.force_mock_context": True,
    "media.autoplay.default": 0, "app.update.enabled": False, "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False, "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False, "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
}
WORKLET = {"page": "pcm-capture-worklet.js", "project": "js/pcm-capture-worklet.js"}
READY = "() => document.documentElement.dataset.ready === 'true'"
HEARING = """async () => {
  if (!voiceCapture.playing()) return false;
  const inbound = (await voiceCapture.stats()).find((s) => s.type === "inbound-rtp" && s.kind === "audio");
  return Boolean(inbound && inbound.bytesReceived > 0);
}"""


@dataclass
class HostTarget(Target):
    """A server listening on the namespace link's address instead of 127.0.0.1."""

    host: str = "127.0.0.1"

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def invite(self) -> str:
        return super().invite.replace("http://127.0.0.1:", f"http://{self.host}:", 1)


@dataclass(frozen=True)
class Variant:
    """Who makes the call: Secret-Call's page ("project"), or the benchmark's page with a tuning (None: plain)."""

    key: str
    label: str
    project: bool = False
    tuning: dict[str, Any] | None = None


@dataclass
class Capture:
    """One measured call: both recordings, the stats at both ends of the stretch, the applied SDP."""

    sent: Recording
    heard: Recording
    talker: tuple[list[dict[str, Any]], list[dict[str, Any]]]
    listener: tuple[list[dict[str, Any]], list[dict[str, Any]]]
    remote_sdp: str
    local_sdp: str
    seconds: float
    recorded_for: float

    @property
    def realtime(self) -> float:
        """Seconds of microphone audio the talker's page recorded per second of wall time (1.0 when
        audio keeps up; far from it when other work starved the audio threads)."""
        return self.sent.seconds / self.recorded_for if self.recorded_for else float("nan")


class Lab:
    """Everything a run needs, made once: namespace, servers, the speech file and Chromium."""

    def __init__(self, cpus: CpuPlan) -> None:
        self.cpus = cpus
        self.ns = Namespace()
        self.status_secret = secrets.token_urlsafe(16)
        self.server: ServerProcess | None = None
        self.pages: PageServer | None = None
        self.browser: Any = None
        self.speech_file: Path | None = None
        self.chromium_version = ""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["Lab"]:
        from playwright.async_api import async_playwright

        from tests.conftest import CHROMIUM_ARGS

        # SIGTERM cancels the run like Ctrl-C does, so the namespace is removed on the way out.
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        if task is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGTERM, task.cancel)
        handle, name = tempfile.mkstemp(prefix="voice-speech-", suffix=".wav")
        os.close(handle)
        self.speech_file = write_wav(Path(name), speech())
        try:
            self.ns.create()
            server = secret_call(self.cpus, "--host", self.ns.host, "--capacity", "2")
            server.target = HostTarget(SECRET_CALL, server.target.port, host=self.ns.host)
            server.env = {**(server.env or os.environ), "STATUS_SECRET": self.status_secret}
            self.server = server
            async with server, PageServer(self.ns.host, free_port()) as pages, async_playwright() as playwright:
                self.pages = pages
                origins = f"{server.target.origin},{pages.origin}"
                self.browser = await playwright.chromium.launch(
                    executable_path=str(self.ns.wrapper),
                    args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={self.speech_file}",
                          f"--unsafely-treat-insecure-origin-as-secure={origins}"])
                self.chromium_version = self.browser.version
                try:
                    yield self
                finally:
                    await self.browser.close()
        finally:
            self.ns.remove()
            self.speech_file.unlink(missing_ok=True)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)

    async def participants(self) -> int:
        assert self.server is not None
        async with aiohttp.ClientSession() as session, session.get(
                f"{self.server.target.origin}/status", headers={"X-Status-Secret": self.status_secret}) as response:
            response.raise_for_status()
            return int((await response.json())["participants"])

    async def wait_empty(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while await self.participants():
            if time.monotonic() > deadline:
                raise RuntimeError("Secret-Call still lists participants from the previous call")
            await asyncio.sleep(0.05)

    async def _page(self, contexts: list[Any], url: str) -> Any:
        context = await self.browser.new_context(locale="en-US", reduced_motion="reduce")
        contexts.append(context)
        await context.add_init_script(path=str(WWW / "capture.js"))
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT * 1000)
        await page.goto(url)
        await page.wait_for_function(READY)
        return page

    async def _plain_call(self, contexts: list[Any], tuning: dict[str, Any] | None) -> tuple[Any, Any]:
        assert self.pages is not None
        talker, listener = [await self._page(contexts, f"{self.pages.origin}/call.html") for _ in range(2)]
        for page in (talker, listener):
            await page.evaluate("(tuning) => voiceCall.setup(tuning)", tuning)
        offer = await talker.evaluate("() => voiceCall.offer()")
        answer = await listener.evaluate("(sdp) => voiceCall.answer(sdp)", offer)
        await talker.evaluate("(sdp) => voiceCall.accept(sdp)", answer)
        await listener.evaluate("() => voiceCall.mute()")
        return talker, listener

    async def _project_call(self, contexts: list[Any]) -> tuple[Any, Any]:
        assert self.server is not None
        await self.wait_empty()
        url = self.server.target.invite.replace("/#", "/?lang=en#", 1)
        pages = []
        for name in ("Talker", "Listener"):
            page = await self._page(contexts, url)
            await page.get_by_label("Name", exact=True).fill(name)
            await page.get_by_role("button", name="Join", exact=True).click()
            await page.get_by_role("button", name="Leave", exact=True).wait_for()
            pages.append(page)
        talker, listener = pages
        await listener.get_by_role("button", name="Mute microphone").click()
        return talker, listener

    async def measure(self, variant: Variant, loss: Loss, seconds: float, warmup: float) -> Capture:
        """Make one call under `loss`, let it settle for `warmup` s, then record `seconds` s of it."""
        self.ns.set_loss(loss)
        contexts: list[Any] = []
        try:
            if variant.project:
                talker, listener = await self._project_call(contexts)
            else:
                talker, listener = await self._plain_call(contexts, variant.tuning)
            for page in (talker, listener):
                await page.wait_for_function("() => voiceCapture.connected()", polling=50)
            await listener.wait_for_function(HEARING, polling=50)
            await asyncio.sleep(warmup)
            worklet = WORKLET["project" if variant.project else "page"]
            recording_from = time.monotonic()
            await talker.evaluate("(w) => voiceCapture.start('sent', voiceCapture.microphone(), w)", worklet)
            await listener.evaluate("(w) => voiceCapture.start('heard', voiceCapture.playing(), w)", worklet)
            before = await asyncio.gather(talker.evaluate("() => voiceCapture.stats()"),
                                          listener.evaluate("() => voiceCapture.stats()"))
            started = time.monotonic()
            await asyncio.sleep(seconds)
            after = await asyncio.gather(talker.evaluate("() => voiceCapture.stats()"),
                                         listener.evaluate("() => voiceCapture.stats()"))
            elapsed = time.monotonic() - started
            sent, heard = await asyncio.gather(talker.evaluate("() => voiceCapture.stop('sent')"),
                                               listener.evaluate("() => voiceCapture.stop('heard')"))
            recorded_for = time.monotonic() - recording_from
            descriptions = await talker.evaluate("() => voiceCapture.descriptions()")
            return Capture(Recording.from_page(sent), Recording.from_page(heard), (before[0], after[0]),
                           (before[1], after[1]), descriptions["remote"], descriptions["local"], elapsed,
                           recorded_for)
        finally:
            for context in contexts:
                with contextlib.suppress(Exception):
                    await context.close()


async def firefox_audio_codecs() -> tuple[str, list[str]]:
    """Firefox's version and the audio codecs it can receive (RTCRtpReceiver.getCapabilities)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.firefox.launch(channel="moz-firefox", executable_path=FIREFOX, headless=True,
                                                  firefox_user_prefs=FIREFOX_PREFS)
        try:
            page = await (await browser.new_context()).new_page()
            codecs = await page.evaluate("() => RTCRtpReceiver.getCapabilities('audio').codecs.map((c) => c.mimeType)")
            return browser.version, [str(codec) for codec in codecs]
        finally:
            await browser.close()


# -- reading the stats ----------------------------------------------------------------------------------


def _find(stats: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((s for s in stats if s.get("type") == kind and s.get("kind", "audio") == "audio"), {})


def _audio_section(sdp: str) -> str:
    return sdp.split("m=audio", 1)[1].split("\nm=", 1)[0] if "m=audio" in sdp else ""


def _fmtp(section: str, payload_type: str) -> str:
    match = re.search(rf"a=fmtp:{payload_type} (\S+)", section)
    return match.group(1) if match else ""


def _codec_names(section: str) -> dict[str, str]:
    return {pt: name.lower() for pt, name in re.findall(r"a=rtpmap:(\d+) ([^/\s]+)/", section)}


def send_codec(remote_sdp: str, local_sdp: str = "") -> tuple[str, str, str]:
    """What a side sends, from the descriptions it applied: the first codec of the remote audio
    m-line that the local description also has (libwebrtc's rule) — (name, its fmtp, Opus' fmtp).

    getStats cannot tell: Chromium's codec stats show opus even when RED wraps it.
    """
    section = _audio_section(remote_sdp)
    names = _codec_names(section)
    local = set(_codec_names(_audio_section(local_sdp)).values()) if local_sdp else set(names.values())
    opus = next((pt for pt, name in names.items() if name == "opus"), "")
    first = next((pt for pt in section.split("\n", 1)[0].split()[2:] if names.get(pt) in local), "")
    if not first:
        return "?", "", ""
    return names[first], _fmtp(section, first), _fmtp(section, opus) if opus else ""


@dataclass
class CallFigures:
    """What the stats say about one measured stretch."""

    codec: str
    red: bool
    loss_seen: float
    concealed: float
    jitter_buffer_ms: float
    payload_kbps: float
    wire_kbps: float
    packets_per_s: float


SRTP_TAG = {"SRTP_AES128_CM_HMAC_SHA1_80": 10, "SRTP_AES128_CM_HMAC_SHA1_32": 4, "SRTP_AEAD_AES_128_GCM": 16,
            "SRTP_AEAD_AES_256_GCM": 16}
UDP_IP_HEADERS = 28


def call_figures(capture: Capture) -> CallFigures:
    (t0, t1), (l0, l1) = capture.talker, capture.listener
    out0, out1 = _find(t0, "outbound-rtp"), _find(t1, "outbound-rtp")
    in0, in1 = _find(l0, "inbound-rtp"), _find(l1, "inbound-rtp")
    name, fmtp, opus = send_codec(capture.remote_sdp, capture.local_sdp)
    red = name == "red"
    line = f"red {fmtp} + opus {opus}" if red else f"{name} {fmtp}".strip()

    def delta(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
        return float(b.get(key, 0) or 0) - float(a.get(key, 0) or 0)

    transport = _find(t1, "transport")
    tag = SRTP_TAG.get(str(transport.get("srtpCipher", "")), 10)
    seconds = max(1e-3, (float(out1.get("timestamp", 0)) - float(out0.get("timestamp", 0))) / 1000)
    packets = delta(out0, out1, "packetsSent")
    payload = delta(out0, out1, "bytesSent")
    wire = payload + delta(out0, out1, "headerBytesSent") + packets * (tag + UDP_IP_HEADERS)
    lost, received = delta(in0, in1, "packetsLost"), delta(in0, in1, "packetsReceived")
    samples = delta(in0, in1, "totalSamplesReceived")
    emitted = delta(in0, in1, "jitterBufferEmittedCount")
    return CallFigures(
        codec=line, red=red,
        loss_seen=lost / (lost + received) if lost + received > 0 else float("nan"),
        concealed=delta(in0, in1, "concealedSamples") / samples if samples else float("nan"),
        jitter_buffer_ms=delta(in0, in1, "jitterBufferDelay") / emitted * 1000 if emitted else float("nan"),
        payload_kbps=payload * 8 / seconds / 1000, wire_kbps=wire * 8 / seconds / 1000,
        packets_per_s=packets / seconds)
