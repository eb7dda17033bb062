"""The reference server: a bare aiohttp WebSocket relay that adds `from` to any message with `to`.

No checks, no room, no limits: it assigns ids, greets with `hello`, and forwards. It accepts the
same handshake as Secret-Call (it selects `secret-call.v1`), so the benchmarks' clients need no
special case except that nothing has to `name` itself first.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from typing import Sequence

from aiohttp import WSMsgType, web

logger = logging.getLogger(__name__)

SOCKETS = web.AppKey("sockets", dict[str, web.WebSocketResponse])


async def relay_handler(request: web.Request) -> web.WebSocketResponse:
    sockets = request.app[SOCKETS]
    ws = web.WebSocketResponse(protocols=("secret-call.v1",), max_msg_size=64 * 1024)
    await ws.prepare(request)
    peer_id = secrets.token_hex(4)
    sockets[peer_id] = ws
    try:
        await ws.send_str(json.dumps({"type": "hello", "id": peer_id}))
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            target = sockets.get(message.get("to"))
            if target is not None:
                message["from"] = peer_id
                await target.send_str(json.dumps(message))
    finally:
        del sockets[peer_id]
    return ws


async def health_handler(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def status_handler(request: web.Request) -> web.Response:
    """The open sockets, named as Secret-Call's /status names them, so the benchmarks wait alike."""
    return web.json_response({"connections": len(request.app[SOCKETS])})


def create_app() -> web.Application:
    app = web.Application()
    app[SOCKETS] = {}
    app.router.add_get("/ws", relay_handler)
    app.router.add_get("/healthz", health_handler)
    app.router.add_get("/status", status_handler)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_relay", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING")
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
