"""Mesh scale: CPU and upload per participant as a full-mesh call grows, with aiortc participants.

Each participant is `bench/mesh_probe.py` in its own process: an aiortc Probe sending a tone (its
own frequency) to every other participant and decoding what each sends. They join one after the
other (so no two offer to each other at once), wait until every link is connected and audio
arrives on each, then all measure over the same {seconds:.0f} s: their own CPU time
(`time.process_time()`), the RTP payload they sent (aiortc's outbound-rtp `bytesSent` and
`packetsSent` of every RTCRtpSender) and the seconds of audio they received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import dataclass

from bench.common import ROOT, Options, median
from bench.mesh_probe import Measurement
from bench.report import Section, Table, fmt
from bench.servers import ServerProcess, secret_call

logger = logging.getLogger(__name__)

TITLE = "5. Mesh scale"
HEADERS_PER_PACKET = 12 + 10 + 8 + 20  # RTP header, SRTP auth tag, UDP, IPv4


@dataclass
class ProbeProcess:
    """A mesh_probe subprocess, driven line by line."""

    process: asyncio.subprocess.Process

    @classmethod
    async def spawn(cls, invite: str, index: int, peers: int, seconds: float) -> "ProbeProcess":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.mesh_probe", invite, "--name", f"Mesh{index}", "--peers", str(peers),
            "--seconds", str(seconds), "--frequency", str(300 + 110 * index), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        return cls(process)

    async def expect(self, word: str, timeout: float) -> None:
        line = await self.read(timeout)
        if line != word:
            raise RuntimeError(f"mesh probe said {line!r}, expected {word!r}")

    async def read(self, timeout: float) -> str:
        assert self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), timeout)).decode().strip()

    async def tell(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{word}\n".encode())
        await self.process.stdin.drain()

    async def finish(self) -> None:
        if self.process.returncode is None:
            try:
                await self.tell("quit")
                await asyncio.wait_for(self.process.wait(), 15)
            except (asyncio.TimeoutError, ConnectionError):
                self.process.kill()
                await self.process.wait()


async def mesh_round(server: ServerProcess, participants: int, seconds: float) -> list[Measurement]:
    """One call of `participants`; every participant's measurements."""
    probes = list(await asyncio.gather(*(ProbeProcess.spawn(server.target.invite, i, participants - 1, seconds)
                                         for i in range(participants))))
    try:
        await asyncio.gather(*(p.expect("loaded", 60) for p in probes))
        for probe in probes:
            await probe.tell("join")
            await probe.expect("joined", 20)
        await asyncio.gather(*(p.expect("ready", 60) for p in probes))
        await asyncio.gather(*(p.tell("go") for p in probes))
        lines = await asyncio.gather(*(p.read(seconds + 30) for p in probes))
        return [Measurement(**json.loads(line)) for line in lines]
    finally:
        await asyncio.gather(*(p.finish() for p in probes))


def _row(table: Table, participants: int, results: list[Measurement]) -> None:
    cpu = [r.cpu_percent for r in results]
    upload = median([r.upload_kbps() for r in results])
    table.add(participants, fmt(median(cpu), 1, " %"), fmt(sum(cpu), 0, " %"), fmt(upload, 1),
              fmt(upload / (participants - 1), 1), fmt(median([r.upload_kbps(HEADERS_PER_PACKET) for r in results]), 1),
              fmt(min(r.received_ratio for r in results), 2))


def saturation_note(participants: int, results: list[Measurement]) -> str | None:
    """A warning when the largest call had the CPUs (nearly) to itself no longer."""
    cores = os.cpu_count() or 1
    total = sum(r.cpu_percent for r in results)
    worst = min(r.received_ratio for r in results)
    if total <= 70 * cores and worst >= 0.98:
        return None
    return (f"With {participants} participants they used {total:.0f} % of a core together, on a machine of "
            f"{cores} cores shared with other work, and the slowest link received {worst:.2f} s of audio per "
            "second: the CPUs were close to saturated, so that row's CPU per participant is a lower bound.")


async def run(options: Options) -> Section:
    sizes = (2, 3) if options.quick else (2, 3, 4, 6)
    seconds = options.pick(5.0, 2.0)
    section = Section("mesh", TITLE, __doc__.split("\n", 1)[1].format(seconds=seconds).strip() + """

The server is Secret-Call as usual (audio never passes through it). The participants are not
pinned: they share the machine's CPUs with each other and with whatever else runs on it.""",
                      quick=options.quick)
    table = Table(["participants", "CPU per participant (% of one core)", "CPU of all participants",
                   "upload per participant kbit/s (RTP payload)", "per link kbit/s",
                   "upload incl. RTP/SRTP/UDP/IP headers kbit/s", "audio received / real time (worst)"])
    results: list[Measurement] = []
    async with secret_call(options.cpus, "--capacity", str(max(sizes))) as server:
        for participants in sizes:
            await server.wait_idle()
            results = await mesh_round(server, participants, seconds)
            _row(table, participants, results)
    section.tables.append(("Per participant, medians over the participants of each call", table))
    note = saturation_note(max(sizes), results)
    if note:
        section.notes.append(note)
    section.notes.append("Upload grows with the number of links (n − 1): every participant encodes and sends "
                         "its audio once per other participant, as a browser mesh does.")
    return section.finish()
