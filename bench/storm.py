"""Signaling storm: twelve participants negotiate every pair at once beside a full lobby, against the bare relay.

Each repetition opens fresh sockets: 12 participants and 52 idle sockets fill the lobby to its
cap of 64; the 12 send `name` at once; 12 more idle sockets bring the lobby back to its cap.
Then, at once, every newcomer offers to each participant who joined before it: an offer (an SDP
of about 3 KB) and 15 ICE candidates (about 110 characters each); the other side answers with an
answer and 15 candidates as soon as the offer arrives. 66 pairs × 32 = 2,112 relayed messages.
Everything is sent as fast as the sockets take it, a worst case: browsers spread their offers and
candidates over tens of milliseconds while they gather.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import aiohttp

from bench.clients import AddressPool, IdleSocket, Participant, Stamper, close_all, join_all, latency, \
    open_idle, open_participant, open_socket
from bench.common import CONTENDED, Options, Usage, UsageMeter, contention_note, median, percentile, ratio
from bench.report import Section, Table, Target, fmt
from bench.servers import BARE, SECRET_CALL, ServerProcess, Target as Server, alternate, bare_relay, running, \
    secret_call

logger = logging.getLogger(__name__)

TITLE = "1. Signaling storm"
PARTICIPANTS = 12
CANDIDATES = 15
LOBBY_CAP = 64
RELAYED = ("offer", "answer", "ice")


@dataclass
class StormRun:
    """One repetition: how long the storm took and what each relayed message waited."""

    seconds: float
    latencies: list[float]
    delivered: int
    expected: int
    errors: int
    join_seconds: float
    usage: Usage
    lobby_refused: str = ""

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.latencies, default=float("nan")) * 1000


@dataclass
class Negotiation:
    """Every pair's offer/answer/candidates, driven from the participants' sockets."""

    participants: list[Participant]
    candidates: int
    stamper: Stamper = field(default_factory=Stamper)
    latencies: list[float] = field(default_factory=list)
    finished_at: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def expected(self) -> int:
        pairs = len(self.participants) * (len(self.participants) - 1) // 2
        return pairs * (2 + 2 * self.candidates)

    async def _describe(self, sender: Participant, kind: str, to: str) -> None:
        await sender.send(self.stamper.description(kind, to))
        for _ in range(self.candidates):
            await sender.send(self.stamper.candidate(to))

    async def _offer_to_earlier(self, index: int) -> None:
        newcomer = self.participants[index]
        for earlier in self.participants[:index]:
            await self._describe(newcomer, "offer", earlier.id)

    async def _read(self, participant: Participant) -> None:
        async for frame in participant.ws:
            now = time.monotonic()
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            kind = message.get("type")
            if kind in RELAYED:
                self.latencies.append(latency(frame.data, now))
                if len(self.latencies) == self.expected:
                    self.finished_at = now
                    self.done.set()
                if kind == "offer":
                    await self._describe(participant, "answer", message["from"])
            elif kind == "error":
                participant.errors.append(message)

    async def run(self, timeout: float) -> float:
        """Start every offer at once; return the seconds from the first offer to the last delivery."""
        readers = [asyncio.create_task(self._read(p)) for p in self.participants]
        start = time.monotonic()
        try:
            await asyncio.gather(*(self._offer_to_earlier(i) for i in range(len(self.participants))))
            await asyncio.wait_for(self.done.wait(), timeout)
            return self.finished_at - start
        except asyncio.TimeoutError:
            logger.warning("storm: %d of %d messages after %.0f s", len(self.latencies), self.expected, timeout)
            return float("nan")
        finally:
            # Closing (not cancelling) ends the readers: a cancelled receive() makes aiohttp drop the
            # TCP connection right after its close frame, which the server treats as a vanished socket.
            await asyncio.gather(*(p.ws.close() for p in self.participants))
            await asyncio.gather(*readers, return_exceptions=True)


async def _lobby_is_full(pool: AddressPool, server: Server) -> str:
    """Secret-Call must refuse one more lobby socket: say how it did."""
    try:
        ws, _ = await open_socket(pool, server)
    except aiohttp.WSServerHandshakeError as error:
        return f"HTTP {error.status}"
    await ws.close()
    return "accepted (the lobby was not full!)"


async def storm_once(process: ServerProcess, participants: int, candidates: int, timeout: float) -> StormRun:
    """One repetition on fresh sockets."""
    server = process.target
    idle: list[IdleSocket] = []
    async with AddressPool() as pool:
        people = list(await asyncio.gather(*(open_participant(pool, server) for _ in range(participants))))
        try:
            idle += await open_idle(pool, server, LOBBY_CAP - participants)
            refused = await _lobby_is_full(pool, server) if server.has_room else ""
            join_seconds = await join_all(people, server)
            idle += await open_idle(pool, server, participants)
            negotiation = Negotiation(people, candidates)
            meter = UsageMeter(process.pid)
            seconds = await negotiation.run(timeout)
            errors = sum(len(p.errors) for p in people)
            return StormRun(seconds, negotiation.latencies, len(negotiation.latencies), negotiation.expected,
                            errors, join_seconds, meter.stop(), refused)
        finally:
            await close_all(idle)
            await asyncio.gather(*(p.ws.close() for p in people))


def _ms(runs: list[StormRun], value: Callable[[StormRun], float], digits: int = 1) -> str:
    return fmt(median([value(r) * 1000 for r in runs]), digits)


def _ratio(ours: list[StormRun], bare: list[StormRun], value: Callable[[StormRun], float]) -> float:
    return ratio(median([value(r) for r in ours]), median([value(r) for r in bare]))


def storm_table(runs: dict[str, list[StormRun]]) -> Table:
    table = Table(["server", "storm time ms", "range ms", "latency p50 ms", "latency p99 ms", "max ms",
                   "delivered", "error frames", "join (12 at once) ms", "server CPU ms",
                   "load generator CPU ms", "waited for a CPU ms"])
    for kind, kind_runs in runs.items():
        times = [r.seconds * 1000 for r in kind_runs]
        table.add(kind, _ms(kind_runs, lambda r: r.seconds), f"{fmt(min(times))}–{fmt(max(times))}",
                  fmt(median([r.p50_ms for r in kind_runs]), 2), fmt(median([r.p99_ms for r in kind_runs]), 2),
                  fmt(max(r.max_ms for r in kind_runs), 1),
                  f"{min(r.delivered for r in kind_runs)}/{kind_runs[0].expected}", sum(r.errors for r in kind_runs),
                  _ms(kind_runs, lambda r: r.join_seconds) if kind_runs[0].join_seconds else "–",
                  _ms(kind_runs, lambda r: r.usage.server_cpu, 0), _ms(kind_runs, lambda r: r.usage.client_cpu, 0),
                  _ms(kind_runs, lambda r: r.usage.waited, 0))
    ours, bare = runs[SECRET_CALL], runs[BARE]
    table.add("ratio secret-call / bare", fmt(_ratio(ours, bare, lambda r: r.seconds), 2) + "×", "",
              fmt(_ratio(ours, bare, lambda r: r.p50_ms), 2) + "×", fmt(_ratio(ours, bare, lambda r: r.p99_ms), 2)
              + "×", "", "", "", "", fmt(_ratio(ours, bare, lambda r: r.usage.server_cpu), 2) + "×", "", "")
    return table


def storm_notes(runs: dict[str, list[StormRun]], waited: float) -> list[str]:
    """What a reader needs to interpret the table."""
    ours, bare = runs[SECRET_CALL], runs[BARE]
    notes = [contention_note(waited)] if waited > CONTENDED else []
    client_cpu = median([r.usage.client_cpu for r in bare])
    if client_cpu > median([r.usage.server_cpu for r in bare]):
        notes.append(f"The load generator needed more CPU ({client_cpu * 1000:.0f} ms) than the bare relay, so it "
                     "paced both storms: the storm times differ less than the servers' CPU times do, and the CPU "
                     "ratio is the truer comparison of the two servers' cost.")
    bare_p99 = median([r.p99_ms for r in bare])
    if bare_p99 > 20:
        notes.append(f"The bare relay's p99 is {bare_p99:.1f} ms too: in a storm where 1,056 messages leave at "
                     "once, the tail latency is the time to work through the burst.")
    notes.append("Server CPU is the server's CPU time during the storm; waited for a CPU is the time the server "
                 "and the load generator (added up) were runnable but not running: what other work on the shared "
                 "machine took from them. Both from /proc/PID/task/*/schedstat.")
    notes.append(f"A 65th lobby socket was refused by Secret-Call with {ours[0].lobby_refused}, so the lobby "
                 "really was at its cap during the joins.")
    return notes


async def run(options: Options) -> Section:
    reps = options.count(9, 2)
    section = Section("storm", TITLE, __doc__.split("\n", 1)[1].strip() + f"""

The server runs as a subprocess with its default settings (rate limit 50 msg/s, burst 400);
the bare relay (`bench/bare_relay.py`) gets exactly the same sockets and messages. {reps}
repetitions per server, alternating between the two; figures are medians over repetitions.
The storm time runs from the first offer sent to the last of the 2,112 messages received; the
latency of each message is its receive time minus the `time.monotonic()` stamp written into it
just before it was sent. CPU: {options.cpus.describe()}.""", quick=options.quick)
    servers = (secret_call(options.cpus, "--capacity", str(PARTICIPANTS), profile=options.profile_path("storm")),
               bare_relay(options.cpus))
    async with running(*servers):
        with options.cpus.pin_client():
            runs = await alternate(servers, reps, lambda server: storm_once(server, PARTICIPANTS, CANDIDATES, 30))

    section.tables.append(("Storm: 12 participants, 64 idle sockets in the lobby", storm_table(runs)))
    ours, bare = runs[SECRET_CALL], runs[BARE]
    time_ratio = _ratio(ours, bare, lambda r: r.seconds)
    p99 = median([r.p99_ms for r in ours])
    errors = sum(r.errors for r in ours)
    waited = median([r.usage.waited / r.seconds for r in ours + bare])
    busy = waited > CONTENDED
    section.targets += [
        Target("storm time vs bare relay", fmt(time_ratio, 2) + "×", "≤ 1.2×", time_ratio <= 1.2, busy),
        Target("relay latency p99 in the storm", fmt(p99, 2, " ms"), "≤ 20 ms", p99 <= 20, busy),
        Target("nothing rate-limited at default settings", f"{errors} error frames", "0",
               errors == 0 and all(r.delivered == r.expected for r in ours)),
    ]
    section.notes += storm_notes(runs, waited)
    return section.finish()
