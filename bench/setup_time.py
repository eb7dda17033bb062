"""Call set-up in headless Chromium: from the Join click to audio received, for 2 and 6 participants.

For a call of n, n − 1 tabs join first and stay. Then, {runs} times, a fresh tab (its own browser
context) opens the invite link, the benchmark clicks Join, and the page itself times, with
`performance.now()`, the click and the moment each RTCPeerConnection's `inbound-rtp` audio stream
(read through the page's test-only debug handle `window.secretCall.getStats`, polled every 5 ms)
has `bytesReceived > 0`; the tab then clicks Leave and closes. The time includes getUserMedia
(Chromium's fake microphone), the signaling, ICE, DTLS and the first RTP packets. Chromium is
Debian's `/usr/bin/chromium` with the arguments of tests/conftest.py (CHROMIUM_ARGS).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from typing import Any

from bench.common import Options, median
from bench.report import Section, Table, Target, fmt
from bench.servers import ServerProcess, secret_call

logger = logging.getLogger(__name__)

TITLE = "3. Call set-up in Chromium"
CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 30.0

# Runs in the page before the click: notes the click's time, then polls the debug handle until
# audio has arrived from `expected` peers. window.__bench.done resolves to milliseconds since the click.
WATCH = """(expected) => {
  const bench = window.__bench = {clicked: null};
  document.addEventListener("click", () => { bench.clicked ??= performance.now(); }, {capture: true});
  bench.done = new Promise((resolve) => {
    const heard = new Map();
    let connected = null;
    const poll = async () => {
      const handle = window.secretCall;
      if (bench.clicked !== null) {
        const ids = handle.peers();
        const up = ids.filter((id) => handle.connectionState(id) === "connected").length;
        if (connected === null && up >= expected) connected = performance.now();
        for (const id of ids.filter((id) => !heard.has(id))) {
          const stats = await handle.getStats(id);
          const inbound = stats.find((s) => s.type === "inbound-rtp" && s.kind === "audio");
          if (inbound && inbound.bytesReceived > 0) heard.set(id, performance.now());
        }
        if (heard.size >= expected) {
          const times = [...heard.values()];
          resolve({first: (expected ? Math.min(...times) : performance.now()) - bench.clicked,
                   all: (expected ? Math.max(...times) : performance.now()) - bench.clicked,
                   connected: (connected ?? performance.now()) - bench.clicked});
          return;
        }
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}"""
READY = "() => document.documentElement.dataset.ready === 'true' && Boolean(window.secretCall)"


@dataclass
class Timing:
    """Milliseconds from the Join click: all links connected, first and last peer's audio received."""

    connected: float
    first: float
    all: float


class Tab:
    """One participant's page in its own browser context."""

    def __init__(self, context: Any, page: Any) -> None:
        self.context = context
        self.page = page

    @classmethod
    async def open(cls, browser: Any, url: str) -> "Tab":
        context = await browser.new_context(locale="en-US", reduced_motion="reduce")
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_function(READY, timeout=TIMEOUT * 1000)
        return cls(context, page)

    async def join(self, name: str, expected: int) -> Timing:
        """Click Join and return the page's own timing once audio arrives from `expected` peers."""
        await self.page.evaluate(WATCH, expected)
        await self.page.get_by_label("Name", exact=True).fill(name)
        await self.page.get_by_role("button", name="Join", exact=True).click()
        result = await asyncio.wait_for(self.page.evaluate("() => window.__bench.done"), TIMEOUT)
        return Timing(result["connected"], result["first"], result["all"])

    async def leave(self) -> None:
        await self.page.get_by_role("button", name="Leave", exact=True).click()

    async def close(self) -> None:
        await self.context.close()


async def measure_call(browser: Any, server: ServerProcess, participants: int, runs: int) -> list[Timing]:
    """`runs` newcomers joining a call where `participants` − 1 others already talk."""
    url = server.target.invite.replace("/#", "/?lang=en#", 1)
    residents: list[Tab] = []
    timings: list[Timing] = []
    try:
        for index in range(participants - 1):
            residents.append(tab := await Tab.open(browser, url))
            await tab.join(f"Resident {index + 1}", expected=index)
        await server.wait_status("participants", participants - 1)
        for run in range(runs):
            newcomer = await Tab.open(browser, url)
            try:
                timings.append(await newcomer.join(f"Newcomer {run + 1}", expected=participants - 1))
                await newcomer.leave()
                await server.wait_status("participants", participants - 1)
            finally:
                await newcomer.close()
    finally:
        for tab in residents:
            await tab.close()
    return timings


async def measure(options: Options, sizes: tuple[int, ...], runs: int) -> dict[int, list[Timing]]:
    from playwright.async_api import async_playwright

    from tests.conftest import CHROMIUM_ARGS  # the one list the browser tests use, too

    results: dict[int, list[Timing]] = {}
    async with secret_call(options.cpus, "--capacity", str(max(sizes))) as server, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for participants in sizes:
                await server.wait_status("participants", 0)
                results[participants] = await measure_call(browser, server, participants, runs)
        finally:
            await browser.close()
    return results


async def run(options: Options) -> Section:
    sizes = (2,) if options.quick else (2, 6)
    runs = options.count(5, 2)
    section = Section("setup_time", TITLE, __doc__.split("\n", 1)[1].format(runs=runs).strip() + """

The server and Chromium are not pinned: Chromium's processes use both CPUs.""", quick=options.quick)
    if not shutil.which(CHROMIUM):
        section.notes.append(f"Not run: {CHROMIUM} is missing (Debian: apt-get install chromium).")
        section.targets.append(Target("set-up, 2 participants", "not run", "≤ 1,000 ms", None))
        return section.finish()
    try:
        results = await measure(options, sizes, runs)
    except Exception as error:  # the frontend may not be usable yet: say so instead of failing the run
        logger.exception("the browser benchmark failed")
        section.notes.append(f"Not run to the end: {type(error).__name__}: {str(error).splitlines()[0][:300]}")
        section.targets.append(Target("set-up, 2 participants", "not run", "≤ 1,000 ms", None))
        return section.finish()

    table = Table(["participants", "runs", "Join → all links connected ms", "Join → first audio ms",
                   "Join → audio from everyone ms", "range ms"])
    for participants, timings in results.items():
        alls = [t.all for t in timings]
        table.add(participants, len(timings), fmt(median([t.connected for t in timings]), 0),
                  fmt(median([t.first for t in timings]), 0), fmt(median(alls), 0),
                  f"{fmt(min(alls), 0)}–{fmt(max(alls), 0)}")
    section.tables.append(("The newcomer's view, medians over runs", table))
    two = median([t.all for t in results[2]])
    section.targets.append(Target("set-up, 2 participants (Join → audio)", fmt(two, 0, " ms"), "≤ 1,000 ms",
                                  two <= 1000))
    return section.finish()
