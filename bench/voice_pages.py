"""The voice benchmark's own little web app: its plain two-page call and the PCM recorder.

It serves bench/voice_www/ and two of Secret-Call's files, js/voice-tuning.js (so that the benchmark's
page can measure each tuning choice alone) and js/pcm-capture-worklet.js (the recorder's AudioWorklet,
which Secret-Call's page loads from js/). Nothing else is served.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from bench.common import ROOT

logger = logging.getLogger(__name__)

WWW = Path(__file__).resolve().parent / "voice_www"
FILES = {
    "call.html": WWW / "call.html",
    "call.js": WWW / "call.js",
    "capture.js": WWW / "capture.js",
    "pcm-capture-worklet.js": ROOT / "js" / "pcm-capture-worklet.js",
    "voice-tuning.js": ROOT / "js" / "voice-tuning.js",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; media-src 'self'"


async def _serve(request: web.Request) -> web.StreamResponse:
    path = FILES.get(request.match_info.get("name") or "call.html")
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": TYPES[path.suffix], "Cache-Control": "no-store",
                                           "Content-Security-Policy": CSP})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", _serve)
    app.router.add_get("/{name}", _serve)
    return app


class PageServer:
    """The app on host:port, for as long as the `async with` block lasts."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> "PageServer":
        self._runner = web.AppRunner(create_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
