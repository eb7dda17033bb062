"""Record real SDP offers and answers from Chromium, Firefox and aiortc into tests/fixtures/sdp/.

The server's SDP plausibility check (room.checked_sdp) is tested against these recordings, so
that it never refuses what a real browser sends. Run once per browser upgrade:

    .venv/bin/python scripts/capture_sdp.py

Everything stays on loopback: each browser negotiates with itself, no server is involved.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "sdp"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

FIREFOX = "/usr/bin/firefox-esr"
FIREFOX_PREFS = {
    "media.navigator.streams.fake": True, "media.navigator.permission.disabled": True,
    "permissions.default.microphone": 1, "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False, "media.cubeb.force_mock_context": True,
    "media.autoplay.default": 0, "app.update.enabled": False, "toolkit.telemetry.enabled": False,
    "browser.safebrowsing.malware.enabled": False, "browser.safebrowsing.phishing.enabled": False,
    "network.captive-portal-service.enabled": False,
}

# An offer with one microphone track, gathered to the end (as the sound check sends it), and the
# answer of a second connection in the same page.
NEGOTIATE = """async () => {
  const gathered = (pc) => new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  for (const track of stream.getAudioTracks()) a.addTrack(track, stream);
  await a.setLocalDescription(await a.createOffer());
  await gathered(a);
  await b.setRemoteDescription(a.localDescription);
  for (const track of stream.getAudioTracks()) b.addTrack(track, stream);
  await b.setLocalDescription(await b.createAnswer());
  await gathered(b);
  return {offer: a.localDescription.sdp, answer: b.localDescription.sdp};
}"""



async def browsers() -> dict[str, dict[str, str]]:
    from aiohttp import web
    from playwright.async_api import async_playwright

    # getUserMedia needs a secure context: an empty page on loopback http is one.
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="<title>sdp</title>", content_type="text/html"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    found: dict[str, dict[str, str]] = {}
    try:
        async with async_playwright() as playwright:
            chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await chromium.new_page()
            await page.goto(url)
            found["chromium"] = await page.evaluate(NEGOTIATE)
            await chromium.close()
            firefox = await playwright.firefox.launch(channel="moz-firefox", executable_path=FIREFOX, headless=True,
                                                      firefox_user_prefs=FIREFOX_PREFS)
            page = await (await firefox.new_context()).new_page()
            await page.goto(url)
            found["firefox"] = await page.evaluate(NEGOTIATE)
            await firefox.close()
    finally:
        await runner.cleanup()
    return found


async def aiortc_pair() -> dict[str, str]:
    import aioice.ice
    from aiortc import RTCConfiguration, RTCPeerConnection

    from media import ToneTrack

    aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    a.addTrack(ToneTrack(440))
    b.addTrack(ToneTrack(660))
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    pair = {"offer": a.localDescription.sdp, "answer": b.localDescription.sdp}
    await a.close()
    await b.close()
    return pair


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    recorded = await browsers()
    recorded["aiortc"] = await aiortc_pair()
    for agent, pair in recorded.items():
        for kind, sdp in pair.items():
            path = OUT / f"{agent}-{kind}.sdp"
            path.write_bytes(sdp.encode())
            print(f"wrote {path.relative_to(ROOT)} ({len(sdp)} characters)")


if __name__ == "__main__":
    asyncio.run(main())
