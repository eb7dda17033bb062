"""Chromium and Firefox in one call, for the cross-browser tests: one process per browser for a whole
test module, a fresh context per participant, and what Firefox tells differently from Chromium.

Firefox ESR 153 under Playwright 1.57 (WebDriver BiDi), as found while writing these tests:
- its getStats() has no `certificate` stats and its transport stat no localCertificateId, so the
  certificates of a link are read from the connection itself: the local one from the a=fingerprint
  line of currentLocalDescription, the remote one from RTCDtlsTransport.getRemoteCertificates();
- every Playwright screenshot inserts a `<style>body {}</style>` that the page's strict CSP blocks,
  and Firefox logs that as a console error: the driver's, not the page's. So each test checks
  Tab.clean() before its first screenshot and takes its screenshots last;
- headless Firefox draws classic scrollbars (a dark strip at the right edge of the screenshots),
  where headless Chromium hides them;
- its inbound-rtp audioLevel is measured as the audio arrives, not at playout: a muted <audio>
  element leaves it unchanged (in Chromium it falls to zero), so it cannot prove a peer unheard;
- new_context(reduced_motion=...) and emulate_media() change nothing: Playwright 1.57 sends no
  media-feature emulation over BiDi, so prefers-reduced-motion stays "no-preference" (the pref
  ui.prefersReducedMotion would set it for the whole browser).
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Playwright, async_playwright

from bench.voice_lab import FIREFOX, FIREFOX_PREFS
from conftest import CHROMIUM, CHROMIUM_ARGS, RunningServer, require_tool
from browser import Tab, open_tab

# (Alice's browser, Bob's browser): Alice is always Firefox, so what Firefox does is what Alice does.
PAIRS = [pytest.param(("firefox", "chromium"), id="firefox-chromium"),
         pytest.param(("firefox", "firefox"), id="firefox-firefox")]

# window.secretCall hands out no RTCPeerConnection, and Firefox's stats carry no certificates: so
# the tests note each connection of the page as it sets a local description, to read its
# descriptions and its DTLS transport directly. Applied before Join; the page's code is unchanged.
NOTE_CONNECTIONS = """() => {
  const prototype = RTCPeerConnection.prototype, setLocalDescription = prototype.setLocalDescription;
  window.__connections = new Set();
  prototype.setLocalDescription = function (...args) {
    window.__connections.add(this);
    return setLocalDescription.apply(this, args);
  };
}"""

# Per connected connection: its current local SDP, and the DER bytes of the certificate the other
# end presented in the DTLS handshake (null until the transport is connected).
CONNECTED = """() => [...(window.__connections || [])].filter((pc) => pc.connectionState === "connected").map((pc) => {
  const transport = pc.getTransceivers().map((t) => t.sender.transport).find(Boolean);
  const presents = transport && transport.state === "connected" && typeof transport.getRemoteCertificates === "function";
  const chain = presents ? transport.getRemoteCertificates() : [];
  return {local: pc.currentLocalDescription.sdp, remote: chain.length ? Array.from(new Uint8Array(chain[0])) : null};
})"""


class Engines:
    """One running browser per kind ("chromium", "firefox"), launched on first use."""

    def __init__(self, playwright: Playwright) -> None:
        self.playwright = playwright
        self.running: dict[str, Browser] = {}

    async def get(self, kind: str) -> Browser:
        if kind not in self.running:
            if kind == "chromium":
                require_tool(CHROMIUM)
                launched = await self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            else:
                # A missing Firefox fails the test (require_tool), it never skips it.
                require_tool(FIREFOX)
                launched = await self.playwright.firefox.launch(
                    channel="moz-firefox", executable_path=FIREFOX, headless=True, firefox_user_prefs=FIREFOX_PREFS)
            self.running[kind] = launched
        return self.running[kind]

    async def close(self) -> None:
        for launched in self.running.values():
            await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines() -> AsyncIterator[Engines]:
    """The browsers, shared by a module's tests: each test still gets its own contexts."""
    async with async_playwright() as playwright:
        pool = Engines(playwright)
        try:
            yield pool
        finally:
            await pool.close()


OpenIn = Callable[..., Awaitable[Tab]]


@pytest_asyncio.fixture(loop_scope="module")
async def open_in(engines: Engines) -> AsyncIterator[OpenIn]:
    """open_in(kind, url, **open_tab options): a tab in that browser, its context closed after the test
    (else its page would stay in the next test's call)."""
    tabs: list[Tab] = []

    async def open_one(kind: str, url: str, **options: Any) -> Tab:
        tab = await open_tab(await engines.get(kind), url, **options)
        tabs.append(tab)
        await tab.page.evaluate(NOTE_CONNECTIONS)
        return tab

    yield open_one
    for tab in tabs:
        await tab.context.close()


def kind_of(tab: Tab) -> str:
    browser = tab.context.browser
    assert browser is not None
    return browser.browser_type.name


async def joined(open_in: OpenIn, server: RunningServer, people: list[tuple[str, str]]) -> list[Tab]:
    """One tab per (browser, name), joined one after another."""
    tabs = [await open_in(kind, server.invite()) for kind, _ in people]
    for tab, (_, name) in zip(tabs, people):
        await tab.join(name)
    return tabs


def der_fingerprint(der: list[int]) -> str:
    digest = hashlib.sha256(bytes(der)).digest()
    return "sha-256:" + ":".join(f"{byte:02x}" for byte in digest)


async def firefox_link(tab: Tab) -> dict[str, Any]:
    """The one connected link of a Firefox page in a two-person call: {local: SDP, remote: DER or None}."""
    links = await tab.page.evaluate(CONNECTED)
    assert len(links) == 1, f"{len(links)} connected links"
    return dict(links[0])


def code_of(text: str | None) -> list[str]:
    """The emoji in a text, whatever words come with them: each symbol (So) with its variation
    selectors. A row that shows no code must have none to read aloud."""
    emoji: list[str] = []
    for char in text or "":
        if unicodedata.category(char) == "So":
            emoji.append(char)
        elif emoji and unicodedata.category(char) in ("Mn", "Cf"):
            emoji[-1] += char
    return emoji


async def code_in(code: Locator) -> list[str]:
    """The code one element shows: its pictures, whose spoken names (shown under them) make its
    accessible name, "Verification code: dog, rocket, key, anchor"."""
    names = await code.locator(".code-name").all_text_contents()
    assert await code.get_attribute("aria-label") == f"Verification code: {', '.join(names)}"
    return await code.locator(".code-emoji").all_text_contents()