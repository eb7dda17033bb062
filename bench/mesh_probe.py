"""One participant of the mesh benchmark in its own process: an aiortc Probe sending a tone.

It talks to the benchmark over stdin/stdout, one word a line, so that every participant joins
in turn (no glare) and all measure over the same seconds:
  → `loaded`  (aiortc imported)       ← `join`
  → `joined`                          (then it connects to every other participant)
  → `ready`   (every link connected, audio arriving from each)   ← `go`
  → one JSON line of measurements     ← `quit` (or end of input)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

logger = logging.getLogger(__name__)


async def read_line() -> str:
    line: str = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip()


def say(word: str) -> None:
    print(word, flush=True)


async def sent_totals(probe: Any) -> tuple[int, int]:
    """RTP payload bytes and packets sent so far on every link (aiortc's outbound-rtp stats)."""
    octets = packets = 0
    for link in probe.links.values():
        for sender in link.pc.getSenders():
            for stat in (await sender.getStats()).values():
                if stat.type == "outbound-rtp":
                    octets += stat.bytesSent
                    packets += stat.packetsSent
    return octets, packets


def all_connected(probe: Any, peers: int) -> bool:
    links = list(probe.links.values())
    return len(links) == peers and all(
        link.pc.connectionState == "connected" and link.meter is not None and link.meter.frames > 0
        for link in links)


async def wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the mesh did not connect")
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Measurement:
    """What one participant measured over the common interval (sent to the benchmark as JSON)."""

    cpu_seconds: float
    wall_seconds: float
    bytes_sent: int
    packets_sent: int
    audio_seconds_received: float
    links: int
    errors: int

    @property
    def cpu_percent(self) -> float:
        """CPU time as a percentage of one core."""
        return self.cpu_seconds / self.wall_seconds * 100

    def upload_kbps(self, header_bytes: int = 0) -> float:
        """RTP payload sent, plus `header_bytes` per packet, in kbit/s."""
        return (self.bytes_sent + self.packets_sent * header_bytes) * 8 / 1000 / self.wall_seconds

    @property
    def received_ratio(self) -> float:
        """Seconds of audio received per second per link: 1.0 means every link kept up with real time."""
        return self.audio_seconds_received / (self.wall_seconds * self.links)


async def measure(probe: Any, seconds: float) -> Measurement:
    """CPU time of this process, RTP sent and audio received over `seconds` of the connected mesh."""
    octets0, packets0 = await sent_totals(probe)
    audio0 = sum(link.meter.seconds for link in probe.links.values())
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.monotonic()
    octets1, packets1 = await sent_totals(probe)
    audio1 = sum(link.meter.seconds for link in probe.links.values())
    return Measurement(cpu1 - cpu0, wall1 - wall0, octets1 - octets0, packets1 - packets0, audio1 - audio0,
                       len(probe.links), len(probe.errors))


async def participate(args: argparse.Namespace) -> int:
    import probe as probe_module
    from media import ToneTrack

    probe_module.use_loopback_candidates()
    say("loaded")
    if await read_line() != "join":
        return 1
    probe = probe_module.Probe(args.invite, name=args.name, source=lambda: ToneTrack(args.frequency))
    await probe.join()
    say("joined")
    try:
        await wait_until(lambda: all_connected(probe, args.peers), timeout=60)
        say("ready")
        if await read_line() != "go":
            return 1
        say(json.dumps(asdict(await measure(probe, args.seconds))))
        await read_line()  # stay in the call until every participant has measured
        return 0
    finally:
        await probe.close()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mesh_probe", description=__doc__.splitlines()[0])
    parser.add_argument("invite")
    parser.add_argument("--name", default="mesh")
    parser.add_argument("--peers", type=int, required=True, help="how many others to connect to")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--frequency", type=float, default=440.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level="WARNING")
    return asyncio.run(participate(args))


if __name__ == "__main__":
    sys.exit(main())
