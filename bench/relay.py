"""Raw relay cost with `--rate-limit 0`: the highest sustained rate, and the latency at a paced 1,000 msg/s.

Throughput: {pairs} sender→receiver pairs of participants; each sender blasts ICE-candidate
messages (about 230 bytes of JSON) to its receiver and keeps at most {window} of them in flight
(sent, not yet received). The rate is what the receivers get per second after a {warmup} s warm-up.
The CPU time of the server and of the load generator over the same interval (from
/proc/PID/task/*/schedstat) gives the server's cost per message, and shows which of the two was
the limit: one that stays below ~100 % of its core was waiting for the other (or for a CPU).

Latency: one pair, one message every millisecond for {paced:.0f} s in rounds of one second; each
message carries the `time.monotonic()` of its sending, read back by the receiver in the same
process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp

from bench.clients import AddressPool, Participant, Stamper, join_all, latency, open_participant
from bench.common import CONTENDED, Options, Usage, UsageMeter, contention_note, median, percentile, ratio
from bench.report import Section, Table, Target, fmt
from bench.servers import BARE, SECRET_CALL, ServerProcess, alternate, bare_relay, running, secret_call

logger = logging.getLogger(__name__)

TITLE = "2. Raw relay cost"
PAIRS = 4
WINDOW = 64
WARMUP = 0.5
PACED_RATE = 1000


@dataclass
class Link:
    """One sender→receiver pair: the receiver counts (and may time) what arrives, the sender reads errors."""

    sender: Participant
    receiver: Participant
    received: int = 0
    sent: int = 0
    unexpected: int = 0
    latencies: list[float] | None = None
    room: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> "Link":
        self.tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._drain_sender())]
        return self

    async def _receive(self) -> None:
        async for frame in self.receiver.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            if self.latencies is not None:
                self.latencies.append(latency(frame.data, time.monotonic()))
            self.received += 1
            self.room.set()

    async def _drain_sender(self) -> None:
        """Anything coming back to the sender (an error, a rate-limit) is counted, never expected."""
        async for frame in self.sender.ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self.unexpected += 1

    async def blast(self, stamper: Stamper, until: float, window: int) -> None:
        """Send as fast as the window allows until the deadline."""
        to = self.receiver.id
        while time.monotonic() < until:
            free = window - (self.sent - self.received)
            if free <= 0:
                self.room.clear()
                await self.room.wait()
                continue
            for _ in range(free):
                await self.sender.send(stamper.candidate(to))
            self.sent += free

    async def paced(self, stamper: Stamper, rate: float, count: int) -> float:
        """Send `count` messages on a fixed schedule; return the achieved rate."""
        to = self.receiver.id
        start = time.monotonic()
        for index in range(count):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.sender.send(stamper.candidate(to))
        self.sent += count
        return count / (time.monotonic() - start)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until everything sent has arrived."""
        deadline = time.monotonic() + timeout
        while self.received < self.sent and time.monotonic() < deadline:
            self.room.clear()
            try:
                await asyncio.wait_for(self.room.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break

    async def close(self) -> None:
        await asyncio.gather(self.sender.ws.close(), self.receiver.ws.close())
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def open_links(pool: AddressPool, server: ServerProcess, pairs: int) -> list[Link]:
    people = list(await asyncio.gather(*(open_participant(pool, server.target) for _ in range(2 * pairs))))
    await join_all(people, server.target)
    return [Link(people[2 * i], people[2 * i + 1]).start() for i in range(pairs)]


@dataclass
class Throughput:
    """One blasting round: messages delivered per second and what the server spent on them."""

    messages: int
    usage: Usage
    unexpected: int

    @property
    def rate(self) -> float:
        return self.messages / self.usage.seconds

    @property
    def server_load(self) -> float:
        """The server's CPU time as a fraction of one core."""
        return self.usage.server_cpu / self.usage.seconds

    @property
    def client_load(self) -> float:
        return self.usage.client_cpu / self.usage.seconds

    @property
    def cpu_us_per_message(self) -> float:
        return self.usage.server_cpu / self.messages * 1e6 if self.messages else float("nan")


async def measure_throughput(server: ServerProcess, seconds: float, pairs: int = PAIRS,
                             window: int = WINDOW) -> Throughput:
    stamper = Stamper()
    async with AddressPool() as pool:
        links = await open_links(pool, server, pairs)
        try:
            until = time.monotonic() + WARMUP + seconds
            senders = asyncio.gather(*(link.blast(stamper, until, window) for link in links))
            await asyncio.sleep(WARMUP)
            before, meter = sum(link.received for link in links), UsageMeter(server.pid)
            await senders
            after, usage = sum(link.received for link in links), meter.stop()
            for link in links:
                await link.settle()
            return Throughput(after - before, usage, sum(link.unexpected for link in links))
        finally:
            await asyncio.gather(*(link.close() for link in links))


@dataclass
class Paced:
    """One paced round: every message's latency."""

    rate: float
    latencies: list[float]
    lost: int
    usage: Usage
    unexpected: int

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


async def measure_paced(server: ServerProcess, seconds: float, rate: float = PACED_RATE) -> Paced:
    stamper = Stamper()
    async with AddressPool() as pool:
        (link,) = await open_links(pool, server, 1)
        link.latencies = []
        try:
            meter = UsageMeter(server.pid)
            achieved = await link.paced(stamper, rate, int(rate * seconds))
            await link.settle()
            return Paced(achieved, link.latencies, link.sent - link.received, meter.stop(), link.unexpected)
        finally:
            await link.close()


def throughput_table(blasts: dict[str, list[Throughput]]) -> tuple[Table, float, float]:
    """The table, the throughput ratio (best rounds) and the CPU-per-message ratio (Secret-Call over bare)."""
    table = Table(["server", "best round msg/s", "median msg/s", "server CPU (1 core = 100 %)",
                   "load generator CPU", "server CPU µs/message", "waited for a CPU", "error frames"])
    for kind, runs in blasts.items():
        table.add(kind, fmt(max(r.rate for r in runs), 0), fmt(median([r.rate for r in runs]), 0),
                  fmt(median([r.server_load * 100 for r in runs]), 0, " %"),
                  fmt(median([r.client_load * 100 for r in runs]), 0, " %"),
                  fmt(median([r.cpu_us_per_message for r in runs]), 1),
                  fmt(median([r.usage.waited / r.usage.seconds * 100 for r in runs]), 0, " %"),
                  sum(r.unexpected for r in runs))
    share = ratio(max(r.rate for r in blasts[SECRET_CALL]), max(r.rate for r in blasts[BARE]))
    cost = ratio(median([r.cpu_us_per_message for r in blasts[SECRET_CALL]]),
                 median([r.cpu_us_per_message for r in blasts[BARE]]))
    table.add("ratio secret-call / bare", fmt(share * 100, 1, " %"),
              fmt(ratio(median([r.rate for r in blasts[SECRET_CALL]]), median([r.rate for r in blasts[BARE]])) * 100,
                  1, " %"), "", "", fmt(cost, 2) + "×", "", "")
    return table, share, cost


def bottleneck_note(runs: list[Throughput]) -> str:
    """What limited the bare relay's rate: itself, the load generator, or the machine."""
    server, client = median([r.server_load for r in runs]), median([r.client_load for r in runs])
    if server >= 0.9 and client >= 0.9:
        limit = "both were busy all the time, so the rate is (close to) the relay's limit"
    elif server >= 0.9:
        limit = "the relay itself was the limit"
    elif client >= 0.9:
        limit = "the load generator (one Python process on one core), not the relay, set the rate"
    else:
        limit = ("neither was busy all the time: they waited for CPUs that other work on the machine held, "
                 "so the rates say as much about that work as about the servers")
    return (f"While blasting, the bare relay used {server:.0%} of its core and the load generator {client:.0%} "
            f"of its own: {limit}. The servers' CPU time per message compares their relay cost directly, "
            "whatever limited the rate; its inverse gives the second throughput target.")


def latency_table(paced: dict[str, list[Paced]]) -> Table:
    table = Table(["server", "achieved msg/s", "p50 ms", "p99 ms", "p99 range ms", "max ms", "lost",
                   "server CPU µs/message", "waited for a CPU", "error frames"])
    for kind, rounds in paced.items():
        p99s = [r.p(99) for r in rounds]
        table.add(kind, fmt(median([r.rate for r in rounds]), 0), fmt(median([r.p(50) for r in rounds]), 2),
                  fmt(median(p99s), 2), f"{fmt(min(p99s), 2)}–{fmt(max(p99s), 2)}",
                  fmt(max(r.p(100) for r in rounds), 2), sum(r.lost for r in rounds),
                  fmt(median([r.usage.server_cpu / len(r.latencies) * 1e6 for r in rounds]), 1),
                  fmt(median([r.usage.waited / r.usage.seconds * 100 for r in rounds]), 1, " %"),
                  sum(r.unexpected for r in rounds))
    return table


async def run(options: Options) -> Section:
    rounds = options.count(3, 1)
    blast_seconds = options.pick(5.0, 1.0)
    paced_rounds = options.count(5, 1)
    paced_seconds = 1.0
    section = Section("relay", TITLE, __doc__.split("\n", 1)[1].format(
        pairs=PAIRS, window=WINDOW, warmup=WARMUP, paced=paced_rounds * paced_seconds).strip() + f"""

Both servers run as subprocesses; per server {rounds} round(s) of {blast_seconds:.0f} s blasting and
{paced_rounds} paced round(s), alternating between the servers; figures are medians over rounds
(a stall caused by other work on the machine spoils one round, not all), except the throughput,
where the best round counts: other work only ever lowers a rate.
"Waited for a CPU" is the time the server and the load generator were runnable but not running
(/proc/PID/schedstat), as a share of the round: what other work on the shared machine took.
CPU: {options.cpus.describe()}.""", quick=options.quick)
    servers = (secret_call(options.cpus, "--capacity", str(2 * PAIRS), "--rate-limit", "0",
                           profile=options.profile_path("relay")),
               bare_relay(options.cpus))
    async with running(*servers):
        with options.cpus.pin_client():
            blasts = await alternate(servers, rounds, lambda server: measure_throughput(server, blast_seconds))
            paced = await alternate(servers, paced_rounds, lambda server: measure_paced(server, paced_seconds))

    table, share, cost = throughput_table(blasts)
    section.tables.append((f"Throughput: {PAIRS} pairs blasting ICE messages, window {WINDOW}", table))
    section.tables.append((f"Latency at a paced {PACED_RATE:,} messages/s", latency_table(paced)))
    p99 = median([r.p(99) for r in paced[SECRET_CALL]])
    blast_wait = median([r.usage.waited / r.usage.seconds for runs in blasts.values() for r in runs])
    paced_wait = median([r.usage.waited / r.usage.seconds for runs in paced.values() for r in runs])
    section.targets += [
        Target("throughput vs bare relay", fmt(share * 100, 1, " %"), "≥ 80 %", share >= 0.8,
               blast_wait > CONTENDED),
        Target("relay capacity vs bare relay (from server CPU per message)", fmt(100 / cost, 1, " %"), "≥ 80 %",
               1 / cost >= 0.8),
        Target("latency p99 at 1,000 msg/s", fmt(p99, 2, " ms"), "≤ 5 ms", p99 <= 5, paced_wait > CONTENDED),
    ]
    if max(blast_wait, paced_wait) > CONTENDED:
        section.notes.append(contention_note(max(blast_wait, paced_wait)))
    section.notes.append(bottleneck_note(blasts[BARE]))
    return section.finish()
