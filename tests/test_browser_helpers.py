"""The browser client's pure helpers, run as ES modules inside a real Chromium page."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

import pytest
from playwright.async_api import Browser

from conftest import TOKEN, RunningServer

pytestmark = pytest.mark.browser

CHECKS = """async () => {
  const { isLinkLocalCandidate } = await import("/js/mesh.js");
  const { base64url, backoffDelay } = await import("/js/signaling.js");
  const { isStunUrl } = await import("/js/settings.js");
  const { tokenFromFragment } = await import("/js/invite.js");
  const { pickLanguage } = await import("/js/i18n.js");
  const { cleanName } = await import("/js/controls.js");
  const { initials } = await import("/js/names.js");
  const { micErrorCode } = await import("/js/call.js");
  const host = (address) => `candidate:1 1 udp 2122260223 ${address} 50000 typ host generation 0`;
  return {
    linkLocal: ["169.254.3.4", "fe80::1", "FEBF::a", "fec0::1", "192.168.1.5", "10.0.0.7", "127.0.0.1",
                "2001:db8::5", "4b1c8e2e-1234-4d5e-8f00-aabbccddeeff.local"].map((a) => isLinkLocalCandidate(host(a))),
    relayViaLinkLocal: isLinkLocalCandidate(
      "candidate:2 1 udp 1686052607 203.0.113.9 40000 typ srflx raddr 169.254.1.1 rport 50000"),
    base64url: [base64url(%(token)s), base64url("a"), base64url("~~~?"), base64url("???")],
    backoff: [backoffDelay(0, { random: () => 0 }), backoffDelay(0, { random: () => 0.999 }),
              backoffDelay(3, { random: () => 0.5 }), backoffDelay(40, { random: () => 0.999 })],
    stunValid: ["stun:stun.example.org", "stun:stun.example.org:3478", "stuns:192.0.2.1:5349",
                "stun:[2001:db8::1]:3478", "STUN:Stun.Example.org"].map(isStunUrl),
    stunInvalid: ["turn:turn.example.org", "http://stun.example.org", "stun:", "stun:host:99999",
                  "stun:host:0", "stun:-bad.example", "stun:a b", "stun://host"].map(isStunUrl),
    fragments: ["#token=abc", "#token=%%D0%%9A%%20x", "#lang=ru&token=a%%2Bb", "#token=%%E0%%A4%%A", "", "#other=1"]
      .map(tokenFromFragment),
    languages: [pickLanguage({ query: "ru" }), pickLanguage({ query: "de", saved: "en", browser: ["ru-RU"] }),
                pickLanguage({ browser: ["ru-RU", "en"] }), pickLanguage({ browser: ["de-DE"] })],
    names: [cleanName("  Bob  "), cleanName("   "), cleanName("x".repeat(33)), cleanName("a\\u0007b"),
            cleanName("Борис")],
    initials: [initials("Alice Liddell"), initials("борис"), initials("Jean Luc Picard"), initials("  ")],
    micErrors: ["NotAllowedError", "NotFoundError", "NotReadableError", "Weird"]
      .map((name) => micErrorCode(new DOMException("x", name))),
  };
}"""


async def test_browser_helpers_behave(browser: Browser, start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    await page.goto(server.url + "?lang=en")
    result: dict[str, Any] = await page.evaluate(CHECKS % {"token": json.dumps(TOKEN)})
    assert result["linkLocal"] == [True, True, True, False, False, False, False, False, False]
    assert result["relayViaLinkLocal"] is False
    assert result["base64url"] == [base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("="), "YQ",
                                   "fn5-Pw", "Pz8_"]
    assert result["backoff"][0] == 250 and 740 <= result["backoff"][1] <= 750
    assert result["backoff"][2] == 4000 and 9_900 <= result["backoff"][3] <= 15_000
    assert result["stunValid"] == [True] * 5
    assert result["stunInvalid"] == [False] * 8
    assert result["fragments"] == ["abc", "К x", "a+b", None, None, None]
    assert result["languages"] == ["ru", "en", "ru", "en"]
    assert result["names"] == ["Bob", "", "", "", "Борис"]
    assert result["initials"] == ["AL", "Б", "JP", "?"]
    assert result["micErrors"] == ["mic-denied", "mic-missing", "mic-busy", "mic-failed"]
    assert not errors
