"""Secret-Call entry point: parse arguments, configure logging, start the GUI or the headless server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import signal
import sys
from typing import Sequence

from config import (DEFAULT_PORT, DEFAULT_TURN_PORT, GUI_DEFAULT_TOKEN, LOG_LEVELS, MIN_STRONG_TOKEN, TUNNELS,
                    Config, ConfigError, from_environment, is_weak_token)
from core import CallServer, ServerError
from hosting import Hosting
from turn import DEFAULT_STUN, stun_note

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="secret-call", description="Self-hosted browser voice calls.")
    parser.add_argument("--headless", action="store_true", help="run the server without the window")
    parser.add_argument("--autostart", action="store_true", help="start hosting at once (GUI)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for the LAN)")
    parser.add_argument("--port", type=int, help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--capacity", type=int, help="participants in the call (default 2: a 1x1 call)")
    parser.add_argument("--token", help="room token (default: ROOM_TOKEN, else random when headless)")
    parser.add_argument("--tunnel", choices=TUNNELS, help="public link through an SSH/cloudflared tunnel")
    parser.add_argument("--rate-limit", type=float, dest="rate_limit",
                        help="sustained messages per second per socket (default 50; 0 turns it off)")
    parser.add_argument("--tls", action="store_true",
                        help="serve HTTPS with a self-signed certificate kept in your config folder")
    parser.add_argument("--cert", help="a real certificate (PEM) for HTTPS; goes with --key")
    parser.add_argument("--key", help="the private key (PEM) of --cert")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", dest="log_level")
    parser.add_argument("--log-file", dest="log_file", help="also log to this file, rotated at 1 MB (5 kept)")
    add_relay_arguments(parser)
    return parser.parse_args(argv)


# -- calls between networks (STUN/TURN, see turn.py) ---------------------------------------------

def add_relay_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("calls between networks")
    group.add_argument("--stun", metavar="URL",
                       help="STUN server for the pages (stun:host:port), or none (default: none locally, "
                            f"{DEFAULT_STUN} while a public link is on; STUN_URL)")
    group.add_argument("--turn", action="store_true",
                       help="run a TURN relay here with coturn (for a host with a public address)")
    group.add_argument("--turn-port", type=int, dest="turn_port", metavar="PORT",
                       help=f"UDP and TCP port of --turn (default {DEFAULT_TURN_PORT})")
    group.add_argument("--turn-external-ip", dest="turn_external_ip", metavar="IP",
                       help="the public address of a host behind 1:1 NAT, for --turn")


def relay_overrides(args: argparse.Namespace) -> dict[str, object]:
    return dict(stun=args.stun, turn=args.turn or None, turn_port=args.turn_port,
                turn_external_ip=args.turn_external_ip)


def relay_lines(server: CallServer) -> list[str]:
    """The banner's relay line: the self-test's result, when TURN is configured."""
    status = server.relay.status
    return [f"  TURN relay: {status}"] if status else []


def configure_logging(level: str, log_file: str | None) -> None:
    """Log to stderr, and to a rotating file when asked."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=1_000_000, backupCount=5,
                                                             encoding="utf-8"))
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers)


def has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def banner(server: CallServer) -> str:
    config = server.config
    kind = "1x1 call" if config.capacity == 2 else "group call"
    lines = ["", "Secret-Call is running.",
             f"  Local:    {server.local_url}",
             *(f"  LAN:      {url}" for url in server.lan_urls()),
             f"  Invite:   {server.invite_url()}",
             f"  Capacity: {config.capacity} ({kind})",
             *([f"  TLS certificate SHA-256: {server.fingerprint}"] if server.fingerprint else []),
             *([f"  This certificate is new: it replaces SHA-256 {server.replaced_fingerprint}, so guests "
                "who accepted the old one are warned again. Read them the new fingerprint."]
               if server.replaced_fingerprint else []),
             *([f"  Warning:  the room token is shorter than {MIN_STRONG_TOKEN} characters; anyone who "
                "guesses it can join."] if is_weak_token(config.token) else []),
             *relay_lines(server),
             "Send the invite link to the people you call. Press Ctrl+C to stop.", ""]
    return "\n".join(lines)


async def serve(config: Config) -> int:
    """Host (the server, and the tunnel if asked) until SIGINT or SIGTERM."""
    from tunnel import Tunnel

    servers: list[CallServer] = []

    def make_server(config: Config) -> CallServer:
        servers.append(CallServer(config))
        return servers[-1]

    def on_public(url: str | None, invite: str | None) -> None:
        if url and invite:
            note = stun_note(servers[-1].relay.stun_urls)
            # One write: whoever reads up to the invite line gets the STUN note with it.
            print(f"  Public:   {url}/\n  Public invite: {invite}" + (f"\n  STUN:     {note}" if note else ""),
                  flush=True)

    hosting = Hosting(make_server, Tunnel, on_public=on_public,
                      on_tunnel_status=lambda text: logger.info("tunnel: %s", text))
    try:
        info = await hosting.start(config, config.tunnel)
    except ServerError as error:
        print(f"secret-call: {error}", file=sys.stderr)
        return 2
    print(banner(servers[-1]), flush=True)
    if info.tunnel_error:
        print(f"secret-call: {info.tunnel_error}", file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print("Stopping…", flush=True)
    await hosting.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["probe"]:
        import probe

        return probe.main(argv[1:])
    args = parse_args(argv)
    try:
        configure_logging(args.log_level, args.log_file)
    except OSError as error:
        print(f"secret-call: --log-file: cannot write {args.log_file} ({error.strerror})", file=sys.stderr)
        return 2
    headless = args.headless or not has_display()
    overrides = dict(host=args.host, port=args.port, capacity=args.capacity, tunnel=args.tunnel,
                     rate_limit=args.rate_limit, log_level=args.log_level, tls=args.tls or None,
                     cert=args.cert, key=args.key, log_file=args.log_file, **relay_overrides(args))
    try:
        config = from_environment(os.environ, token=args.token,
                                  default_token=None if headless else GUI_DEFAULT_TOKEN, **overrides)
    except ConfigError as error:
        print(f"secret-call: {error}", file=sys.stderr)
        return 2
    if not headless:
        try:
            import gui
        except ImportError as error:
            print(f"secret-call: no GUI ({error}); running headless", file=sys.stderr)
        else:
            return gui.run(config, autostart=args.autostart)
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
