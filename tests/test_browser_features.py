"""What the page finds this browser can do (js/features.js), by feature detection, and what the
settings dialog says about it, in Chromium and in Firefox."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.async_api import Browser, expect

from browser import open_tab
from conftest import RunningServer

pytestmark = pytest.mark.browser

# detectFeatures on stand-in windows: nothing at all, and everything the page looks for.
STAND_INS = """async () => {
  const { detectFeatures, featureNotes } = await import("/js/features.js");
  const bare = detectFeatures({});
  const full = detectFeatures({
    RTCRtpReceiver: { getCapabilities: () => ({ codecs: [{ mimeType: "audio/opus" }, { mimeType: "audio/RED" }] }) },
    RTCDtlsTransport: { prototype: { getRemoteCertificates() { return []; } } },
    HTMLMediaElement: { prototype: { setSinkId() { return Promise.resolve(); } } },
    RTCRtpScriptTransform: function RTCRtpScriptTransform() {},
  });
  const throwing = detectFeatures({ RTCRtpReceiver: { getCapabilities: () => { throw new Error("no"); } } });
  return { bare, full, throwing, bareNotes: featureNotes(bare), fullNotes: featureNotes(full) };
}"""
HERE = "async () => (await import('/js/features.js')).detectFeatures()"


async def test_features_are_detected_not_sniffed(browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    tab = await open_tab(browser, start_server().invite())
    result = await tab.page.evaluate(STAND_INS)
    assert result["bare"] == {"redundancy": False, "remoteCertificates": False, "speakerChoice": False,
                              "encodedTransforms": False}
    assert result["throwing"] == result["bare"]
    assert result["full"] == {"redundancy": True, "remoteCertificates": True, "speakerChoice": True,
                              "encodedTransforms": True}
    assert result["bareNotes"] == [{"key": "featureNoRedundancy", "ok": False},
                                   {"key": "featureNoSpeakerChoice", "ok": False}]
    assert result["fullNotes"] == [{"key": "featureRedundancy", "ok": True}]
    await tab.clean()


async def settings_lines(tab: Any, picture: Path) -> list[str]:
    """The lines under "This browser" in Settings; a picture of the dialog, once the page is checked
    clean (a screenshot in Firefox makes the driver insert a style tag that the CSP refuses)."""
    page = tab.page
    await page.get_by_role("button", name="Settings").click()
    features = page.get_by_role("list", name="This browser")
    await expect(features).to_be_visible()
    lines = await features.get_by_role("listitem").all_text_contents()
    await tab.clean()
    await page.screenshot(path=picture, animations="disabled")
    await page.get_by_role("button", name="Cancel").click()
    return lines


async def test_settings_say_what_chromium_has(browser: Browser, start_server: Callable[..., RunningServer],
                                             artifacts: Path) -> None:
    tab = await open_tab(browser, start_server().invite())
    # Chromium 156 has all four.
    assert await tab.page.evaluate(HERE) == {"redundancy": True, "remoteCertificates": True, "speakerChoice": True,
                                             "encodedTransforms": True}
    assert await settings_lines(tab, artifacts / "settings-chromium-desktop.png") == [
        "Sends each stretch of speech twice (Opus RED), so it holds up on a lossy network."]


async def test_settings_say_what_firefox_lacks(firefox: Browser, start_server: Callable[..., RunningServer],
                                              artifacts: Path) -> None:
    tab = await open_tab(firefox, start_server().invite())
    # Firefox ESR 153: no audio/red among its codecs; getRemoteCertificates, setSinkId and
    # RTCRtpScriptTransform are there.
    assert await tab.page.evaluate(HERE) == {"redundancy": False, "remoteCertificates": True, "speakerChoice": True,
                                             "encodedTransforms": True}
    lines = await settings_lines(tab, artifacts / "firefox-settings-desktop.png")
    assert lines == ["No voice redundancy (Opus RED) in this browser: on a lossy network speech breaks up sooner. "
                     "Opus's own error correction still works."]
