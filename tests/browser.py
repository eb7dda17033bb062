"""What the browser tests share: a tab of the page in its own context (fake microphone, language,
viewport), and the checks of what a call carries (audio through getStats, the roster)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

from conftest import RunningServer, wait_for

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CONNECT_TIMEOUT = 20.0
# audioLevel is 0…1; digital silence from a muted track still reads 1/32767, the fake beep far more.
AUDIBLE = 0.001

# A function, not an expression: Playwright polls expressions with eval(), which the CSP forbids.
READY = "() => document.documentElement.dataset.ready === 'true'"
# Records CSP violations the page sees (they also show up as console errors).
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI));
"""

# Per remote participant: the link's state and what its inbound audio RTP stream has received.
AUDIO_STATS = """async () => {
  const handle = window.secretCall, out = {};
  for (const id of handle.peers()) {
    const stats = await handle.getStats(id);
    const inbound = stats.find((s) => s.type === "inbound-rtp" && s.kind === "audio");
    out[id] = {state: handle.connectionState(id), bytes: inbound ? inbound.bytesReceived || 0 : 0,
               level: inbound ? inbound.audioLevel || 0 : 0};
  }
  return out;
}"""


@dataclass
class Tab:
    """One participant: a page in its own browser context, with the errors it logged."""

    page: Page
    context: BrowserContext
    errors: list[str] = field(default_factory=list)

    @property
    def join_button(self) -> Any:
        return self.page.get_by_role("button", name="Join", exact=True)

    @property
    def leave_button(self) -> Any:
        return self.page.get_by_role("button", name="Leave", exact=True)

    async def join(self, name: str | None = None) -> None:
        if name is not None:
            await self.page.get_by_label("Name", exact=True).fill(name)
        await self.join_button.click()
        await expect(self.leave_button).to_be_visible(timeout=CONNECT_TIMEOUT * 1000)

    async def self_id(self) -> str:
        return await self.page.evaluate("window.secretCall.selfId()")

    async def roster(self) -> list[str]:
        return await self.page.locator("#roster .participant-name").all_text_contents()

    async def audio(self) -> dict[str, dict[str, Any]]:
        return await self.page.evaluate(AUDIO_STATS)

    async def player(self, peer_id: str) -> dict[str, Any]:
        """The <audio> element that plays one remote participant."""
        return await self.page.eval_on_selector(
            f'#players audio[data-peer-id="{peer_id}"]',
            "(a) => ({muted: a.muted, volume: a.volume, paused: a.paused})")

    async def clean(self) -> None:
        """No console errors, no uncaught exceptions and no CSP violations so far."""
        violations = await self.page.evaluate("window.__cspViolations || []")
        assert not self.errors and not violations, f"errors: {self.errors}, CSP: {violations}"


async def open_tab(browser: Browser, url: str, *, viewport: dict[str, int] = DESKTOP, lang: str | None = "en",
                   reduced_motion: str = "reduce", locale: str = "en-US", **context_options: Any) -> Tab:
    """A new context and page at `url` (with ?lang=), ready once app.js has wired everything."""
    context = await browser.new_context(viewport=viewport, reduced_motion=reduced_motion, locale=locale,
                                        **context_options)
    await context.add_init_script(CSP_PROBE)
    page = await context.new_page()
    tab = Tab(page, context)
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
    if lang:
        url = url.replace("/#", f"/?lang={lang}#", 1) if "/#" in url else f"{url}?lang={lang}"
    await page.goto(url)
    await page.wait_for_function(READY)
    return tab


async def hearing(tab: Tab, count: int, *, only: set[str] | None = None, timeout: float = CONNECT_TIMEOUT) -> set[str]:
    """Wait until `count` peer connections are connected and each has played audio (level > AUDIBLE).

    audioLevel is the current level and the fake microphone beeps, so a peer counts once any poll
    saw it above zero; only polls from now on count, so this also proves audio flows *now*.
    """
    heard: set[str] = set()

    async def check() -> bool:
        stats = await tab.audio()
        for peer_id, stat in stats.items():
            if stat["state"] == "connected" and stat["bytes"] > 0 and stat["level"] > AUDIBLE:
                heard.add(peer_id)
        wanted = {p for p in stats if only is None or p in only}
        return len(stats) >= count and len(wanted) >= (len(only) if only else count) and wanted <= heard

    await wait_for(check, timeout=timeout, interval=0.2, message=f"{count} peer(s) heard")
    return heard


async def silenced(tab: Tab, peer_id: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Wait until one peer's audio level has stayed below AUDIBLE for a whole second.

    The fake microphone beeps twice a second and the level decays between beeps without
    falling below AUDIBLE, so a second of quiet polls means the audio is really not played.
    """
    quiet_since: list[float] = []

    async def quiet_for_a_second() -> bool:
        if (await tab.audio())[peer_id]["level"] >= AUDIBLE:
            quiet_since.clear()
            return False
        if not quiet_since:
            quiet_since.append(time.monotonic())
        return time.monotonic() - quiet_since[0] >= 1.0

    await wait_for(quiet_for_a_second, timeout=timeout, interval=0.1, message=f"silence from {peer_id}")


async def receiving(tab: Tab, peer_id: str) -> bool:
    """The link to one peer is connected and its audio packets arrive (heard or not)."""
    stat = (await tab.audio()).get(peer_id)
    return bool(stat and stat["state"] == "connected" and stat["bytes"] > 0)


async def joined_call(browser: Browser, server: RunningServer, names: list[str], **options: Any) -> list[Tab]:
    """Open one tab per name and join them one after another."""
    tabs = [await open_tab(browser, server.invite(), **options) for _ in names]
    for tab, name in zip(tabs, names):
        await tab.join(name)
    return tabs


async def roster_is(tab: Tab, expected: list[str], timeout: float = CONNECT_TIMEOUT) -> None:
    await wait_for(lambda: _roster_equals(tab, expected), timeout=timeout, interval=0.1,
                   message=f"roster {expected}")


async def _roster_equals(tab: Tab, expected: list[str]) -> bool:
    return sorted(await tab.roster()) == sorted(expected)
