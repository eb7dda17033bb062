"""Voice tuning (js/voice-tuning.js) in real browsers: what is negotiated, and what a call falls back to.

How well the voice then sounds under loss is measured by bench/voice.py, not here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.async_api import Browser

from bench.voice_lab import send_codec
from conftest import RunningServer
from browser import READY, Tab, hearing

pytestmark = pytest.mark.browser

# Notes every RTCPeerConnection that takes a remote description, so the test can read both descriptions.
RECORD_CONNECTIONS = """
window.__voiceConnections = [];
const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
RTCPeerConnection.prototype.setRemoteDescription = function (...args) {
  if (!window.__voiceConnections.includes(this)) window.__voiceConnections.push(this);
  return setRemote.apply(this, args);
};
"""

# A browser without RED: audio/red is gone from the capabilities and from every codec preference, and
# each audio transceiver gets preferences without it before the page's own code runs, so this side
# never offers or answers RED whatever the page does.
NO_RED = """
(() => {
  const isRed = (codec) => codec.mimeType.toLowerCase() === "audio/red";
  const native = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
  const strip = (caps) => caps && { ...caps, codecs: caps.codecs.filter((codec) => !isRed(codec)) };
  RTCRtpReceiver.getCapabilities = (kind) => strip(native(kind));
  const nativeSender = RTCRtpSender.getCapabilities.bind(RTCRtpSender);
  RTCRtpSender.getCapabilities = (kind) => strip(nativeSender(kind));
  const prefer = RTCRtpTransceiver.prototype.setCodecPreferences;
  RTCRtpTransceiver.prototype.setCodecPreferences = function (codecs) {
    return prefer.call(this, codecs.filter((codec) => !isRed(codec)));
  };
  const withoutRed = (pc) => {
    for (const transceiver of pc.getTransceivers()) {
      if (transceiver.receiver.track.kind === "audio") prefer.call(transceiver, strip(native("audio")).codecs);
    }
  };
  const addTrack = RTCPeerConnection.prototype.addTrack;
  RTCPeerConnection.prototype.addTrack = function (...args) {
    const sender = addTrack.apply(this, args);
    withoutRed(this);
    return sender;
  };
  const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = async function (...args) {
    await setRemote.apply(this, args);
    withoutRed(this);
  };
})();
"""

# Per open connection: both applied descriptions, the send codec's stats and the sender's parameters.
LINKS = """async () => {
  const links = window.__voiceConnections.filter((pc) => pc.connectionState === "connected");
  return Promise.all(links.map(async (pc) => {
    const stats = [...(await pc.getStats()).values()];
    const outbound = stats.find((s) => s.type === "outbound-rtp" && s.kind === "audio");
    const codec = outbound && stats.find((s) => s.id === outbound.codecId);
    const encoding = pc.getSenders()[0].getParameters().encodings[0] || {};
    return {local: pc.currentLocalDescription.sdp, remote: pc.currentRemoteDescription.sdp,
            sendFmtp: codec ? codec.sdpFmtpLine || "" : "", sentBytes: outbound ? outbound.bytesSent : 0,
            priority: encoding.priority || "", networkPriority: encoding.networkPriority || ""};
  }));
}"""
TUNING = "async () => (await import('/js/voice-tuning.js')).VOICE_TUNING"
CAN_RED = "() => RTCRtpReceiver.getCapabilities('audio').codecs.some((c) => c.mimeType.toLowerCase() === 'audio/red')"


async def voice_tab(browser: Browser, server: RunningServer, name: str, *scripts: str) -> Tab:
    """A participant who has joined, with its connections recorded (and any extra init scripts)."""
    context = await browser.new_context(locale="en-US", reduced_motion="reduce")
    for script in (RECORD_CONNECTIONS, *scripts):
        await context.add_init_script(script)
    page = await context.new_page()
    tab = Tab(page, context)
    page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
    await page.goto(server.invite().replace("/#", "/?lang=en#", 1))
    await page.wait_for_function(READY)
    await tab.join(name)
    return tab


async def link(tab: Tab) -> dict[str, Any]:
    """The tab's one connected link (once its audio is heard)."""
    await hearing(tab, 1)
    links = await tab.page.evaluate(LINKS)
    assert len(links) == 1, links
    return links[0]


# RFC 7587's defaults: Firefox leaves them out of the descriptions it re-serialises.
OPUS_DEFAULTS = {"stereo": "0", "usedtx": "0", "useinbandfec": "0", "cbr": "0"}


def fmtp_parameters(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split(";") if "=" in part)


def opus_parameters(line: str) -> dict[str, str]:
    return {**OPUS_DEFAULTS, **fmtp_parameters(line)}


def fingerprints(sdp: str) -> list[str]:
    return re.findall(r"^a=fingerprint:.*$", sdp, re.M)


def assert_encoder_tuned(side: dict[str, Any], opus: dict[str, int]) -> None:
    """The side's encoder got the tuning's Opus parameters: in the description it applied, and in its stats."""
    _, _, applied = send_codec(side["remote"], side["local"])
    wanted = {key: str(value) for key, value in opus.items()}
    assert opus_parameters(applied).items() >= wanted.items(), applied
    assert opus_parameters(side["sendFmtp"]).items() >= wanted.items(), side["sendFmtp"]


async def test_voice_red_and_opus_parameters_on_both_chromium_ends(
        browser: Browser, start_server: Callable[..., RunningServer], artifacts: Path) -> None:
    server = start_server()
    alice = await voice_tab(browser, server, "Alice")
    bob = await voice_tab(browser, server, "Bob")
    assert await alice.page.evaluate(CAN_RED), "Chromium offers audio/red"
    tuning = await alice.page.evaluate(TUNING)
    a, b = await link(alice), await link(bob)
    for side, other in ((a, b), (b, a)):
        name, red_fmtp, _ = send_codec(side["remote"], side["local"])
        assert name == "red", side["remote"]
        opus_pt = re.search(r"a=rtpmap:(\d+) opus/", side["remote"]).group(1)
        assert red_fmtp == "/".join([opus_pt] * (tuning["redundancy"] + 1))
        assert_encoder_tuned(side, tuning["opus"])
        assert (side["priority"], side["networkPriority"]) == (tuning["priority"], tuning["priority"])
        # The tuning rewrote only fmtp lines of what it received: the certificates' fingerprints in
        # what this side applied are the ones the other side announced (verification relies on it).
        assert fingerprints(side["remote"]) == fingerprints(other["local"]) != []
    await alice.page.screenshot(path=artifacts / "voice-red-call.png", animations="disabled")
    for tab in (alice, bob):
        await tab.clean()


@pytest.mark.parametrize("without_red", ["answerer", "offerer"])
async def test_voice_call_carries_audio_when_one_side_cannot_do_red(
        browser: Browser, start_server: Callable[..., RunningServer], without_red: str) -> None:
    server = start_server()
    # The one who joins first answers the newcomer's offer.
    first = await voice_tab(browser, server, "First", *([NO_RED] if without_red == "answerer" else []))
    second = await voice_tab(browser, server, "Second", *([NO_RED] if without_red == "offerer" else []))
    capable, incapable = (second, first) if without_red == "answerer" else (first, second)
    assert await capable.page.evaluate(CAN_RED) and not await incapable.page.evaluate(CAN_RED)
    tuning = await capable.page.evaluate(TUNING)
    able, unable = await link(capable), await link(incapable)
    if without_red == "answerer":  # the offer asked for RED first; the answer had none of it
        assert send_codec(able["local"])[0] == "red"
    assert "red/48000" not in unable["local"]
    # Both send plain Opus, still tuned, and each hears the other (link() waited for that).
    for side in (able, unable):
        assert send_codec(side["remote"], side["local"])[0] == "opus"
        assert_encoder_tuned(side, tuning["opus"])
    for tab in (capable, incapable):
        await tab.clean()


async def test_voice_chromium_and_firefox_fall_back_to_tuned_opus(
        browser: Browser, firefox: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    chromium_tab = await voice_tab(browser, server, "Chromium")
    firefox_tab = await voice_tab(firefox, server, "Firefox")
    tuning = await chromium_tab.page.evaluate(TUNING)
    # Firefox 153 has no audio/red: the tuning finds none and keeps to Opus there.
    assert not await firefox_tab.page.evaluate(CAN_RED)
    c, f = await link(chromium_tab), await link(firefox_tab)
    assert "red/48000" not in f["local"]
    for side in (c, f):
        assert send_codec(side["remote"], side["local"])[0] == "opus"
    # Firefox asks for stereo Opus; Chromium's encoder is told mono and the other choices all the same.
    assert fmtp_parameters(send_codec(f["local"])[2]).get("stereo") == "1"
    assert_encoder_tuned(c, tuning["opus"])
    assert_encoder_tuned(f, tuning["opus"])
    assert fingerprints(c["remote"]) == fingerprints(f["local"]) != []
    for tab in (chromium_tab, firefox_tab):
        await tab.clean()


# A Chromium offer and a Firefox one (Firefox puts a=fmtp before a=rtpmap), cut to what matters here.
CHROMIUM_SDP = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0",
    "c=IN IP4 0.0.0.0", "a=fingerprint:sha-256 AA:BB:CC", "a=setup:actpass", "a=mid:0", "a=sendrecv",
    "a=rtpmap:111 opus/48000/2", "a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2", "a=fmtp:63 111/111", "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000", "",
])
FIREFOX_SDP = "\r\n".join([
    "v=0", "o=mozilla...THIS_IS_SDPARTA-99.0 1 0 IN IP4 0.0.0.0", "s=-", "t=0 0",
    "a=fingerprint:sha-256 DD:EE:FF", "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 101", "c=IN IP4 0.0.0.0",
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1", "a=fmtp:101 0-15", "a=mid:0",
    "a=rtpmap:109 opus/48000/2", "a=rtpmap:9 G722/8000/1", "a=rtpmap:101 telephone-event/8000/1",
    "m=video 0 UDP/TLS/RTP/SAVPF 120", "a=fmtp:120 max-fs=12288;max-fr=60", "a=rtpmap:120 VP8/90000", "",
])
PURE = """async ([chromium, firefox]) => {
  const voice = await import("/js/voice-tuning.js");
  const tuning = {...voice.VOICE_TUNING, redundancy: 2, opus: {useinbandfec: 1, stereo: 0, maxaveragebitrate: 28000},
                  ptime: 40};
  const codecs = ["audio/opus", "audio/G722", "audio/red", "audio/PCMU"].map((mimeType) => ({mimeType}));
  return {
    chromium: voice.tuneDescription({type: "offer", sdp: chromium}, tuning),
    firefox: voice.tuneDescription({type: "answer", sdp: firefox}, tuning).sdp,
    untouched: voice.tuneDescription({type: "answer", sdp: firefox.replace(/opus/g, "speex")}, tuning).sdp,
    order: voice.orderCodecs(codecs).map((c) => c.mimeType),
    withoutRed: voice.orderCodecs(codecs, {...voice.VOICE_TUNING, red: false}).map((c) => c.mimeType),
  };
}"""


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    old, new = before.split("\r\n"), after.split("\r\n")
    return [line for line in old if line not in new], [line for line in new if line not in old]


async def test_voice_tuning_rewrites_only_the_audio_fmtp_lines(
        browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server.url)
    result = await page.evaluate(PURE, [CHROMIUM_SDP, FIREFOX_SDP])

    assert result["chromium"]["type"] == "offer"
    removed, added = changed_lines(CHROMIUM_SDP, result["chromium"]["sdp"])
    assert removed == ["a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:63 111/111"]
    assert added == ["a=fmtp:111 minptime=10;useinbandfec=1;stereo=0;maxaveragebitrate=28000",
                     "a=fmtp:63 111/111/111", "a=ptime:40"]
    assert result["chromium"]["sdp"].endswith("a=ptime:40\r\n")

    removed, added = changed_lines(FIREFOX_SDP, result["firefox"])
    assert removed == ["a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1"]
    assert added == ["a=fmtp:109 maxplaybackrate=48000;stereo=0;useinbandfec=1;maxaveragebitrate=28000",
                     "a=ptime:40"]
    # The video section is not audio: its fmtp stays; every fingerprint stays.
    assert "a=fmtp:120 max-fs=12288;max-fr=60" in result["firefox"]
    assert fingerprints(result["firefox"]) == fingerprints(FIREFOX_SDP)
    # Without Opus there is nothing to tune.
    assert result["untouched"] == FIREFOX_SDP.replace("opus", "speex")

    assert result["order"] == ["audio/red", "audio/opus", "audio/G722", "audio/PCMU"]
    assert result["withoutRed"] == ["audio/opus", "audio/G722", "audio/red", "audio/PCMU"]
    await context.close()
