"""Start-up time and memory: process start to the first 200 on /, and the RSS each idle socket costs.

Start-up: the benchmark starts `main.py --headless` ({runs} times) and polls `GET /` every 5 ms
from the moment the process is spawned until it answers 200. `python -c pass` is timed the same
way for scale, and `python -X importtime main.py --help` shows which imports the start-up pays for.

Memory: the server's VmRSS (/proc/PID/status) before and after opening idle authenticated
sockets: 64 in the lobby (its cap); then, with `--capacity 50`, 50 participants who joined plus
64 in the lobby, {sockets} in all, spread over source addresses 127.0.0.1, 127.0.0.2, … to stay under the
32-per-address cap. The bare relay gets the same number of (idle) sockets. Eight sockets are
opened and closed first, so that one-time allocations do not count as per-socket cost.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.clients import AddressPool, IdleSocket, close_all, join_all, open_idle, open_participant
from bench.common import ROOT, Options, median, rss_kib
from bench.report import Section, Table, Target, fmt
from bench.servers import BARE, SECRET_CALL, ServerProcess, bare_relay, secret_call

logger = logging.getLogger(__name__)

TITLE = "4. Start-up and memory"
CAPACITY = 50
LOBBY_CAP = 64
WARM_UP_SOCKETS = 8


async def time_start(server: ServerProcess) -> float:
    """Seconds from spawning the server to its first 200 on /."""
    try:
        await server.start(ready_path="/", interval=0.005)
        return server.ready_at - server.started_at
    finally:
        await server.stop()


def time_interpreter() -> float:
    """Seconds to start and exit a bare `python -c pass`, for scale."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - start


def import_costs(runs: int = 3, top: int = 6) -> list[tuple[str, float]]:
    """main.py's slowest top-level imports (median cumulative ms over `runs`), from `python -X importtime`."""
    costs: dict[str, list[float]] = {}
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-X", "importtime", "main.py", "--help"], cwd=ROOT,
                                capture_output=True, text=True, check=True)
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or line.count("|") != 2:
                continue
            _, cumulative, name = line[len("import time:"):].split("|")
            name, cumulative = name[1:], cumulative.strip()  # nested imports are indented further
            if cumulative.isdigit() and not name.startswith(" "):
                costs.setdefault(name, []).append(int(cumulative) / 1000)
    medians = {name: median(values) for name, values in costs.items()}
    return sorted(medians.items(), key=lambda item: -item[1])[:top]


@dataclass
class Memory:
    """The server's RSS before, with, and after `sockets` idle sockets."""

    sockets: int
    before_kib: int
    after_kib: int
    closed_kib: int

    @property
    def per_socket_kib(self) -> float:
        return (self.after_kib - self.before_kib) / self.sockets


async def measure_memory(server: ServerProcess, participants: int, lobby: int) -> Memory:
    """RSS before and after opening `participants` joined sockets (if the server has a room) plus `lobby` idle ones."""
    async with AddressPool() as pool:
        await close_all(await open_idle(pool, server.target, WARM_UP_SOCKETS))
    await server.wait_idle()
    await asyncio.sleep(0.2)
    before = rss_kib(server.pid)
    async with AddressPool() as pool:
        people = list(await asyncio.gather(*(open_participant(pool, server.target) for _ in range(participants))))
        await join_all(people, server.target, timeout=30)
        sockets = [IdleSocket(p.ws).start() for p in people] + await open_idle(pool, server.target, lobby)
        try:
            await asyncio.sleep(0.5)
            after = rss_kib(server.pid)
        finally:
            await close_all(sockets)
    await server.wait_idle()
    await asyncio.sleep(0.2)
    return Memory(len(sockets), before, after, rss_kib(server.pid))


async def run(options: Options) -> Section:
    runs = options.count(7, 3)
    sockets = CAPACITY + LOBBY_CAP
    section = Section("startup", TITLE, __doc__.split("\n", 1)[1].format(runs=runs, sockets=sockets).strip()
                      + f"\n\nCPU: {options.cpus.describe()}; medians of {runs} runs.",
                      quick=options.quick)
    starts = [await time_start(secret_call(options.cpus)) for _ in range(runs)]
    interpreter = [time_interpreter() for _ in range(runs)]
    start_table = Table(["what", "median ms", "range ms"])
    for name, values in (("Secret-Call: spawn → first 200 on /", starts), ("python -c pass", interpreter)):
        millis = [v * 1000 for v in values]
        start_table.add(name, fmt(median(millis), 0), f"{fmt(min(millis), 0)}–{fmt(max(millis), 0)}")
    section.tables.append(("Start-up", start_table))
    imports = Table(["module imported by main.py", "cumulative import ms (median of 3)"])
    for module, cost in import_costs():
        imports.add(f"`{module}`", fmt(cost, 1))
    section.tables.append(("Where the start-up goes (python -X importtime)", imports))

    cases = (
        (f"{SECRET_CALL}, lobby only", secret_call(options.cpus), 0, LOBBY_CAP),
        (f"{SECRET_CALL}, {CAPACITY} joined + {LOBBY_CAP} in the lobby",
         secret_call(options.cpus, "--capacity", str(CAPACITY)), CAPACITY, LOBBY_CAP),
        (BARE, bare_relay(options.cpus), 0, sockets),
    )
    memory_table = Table(["server", "idle sockets", "RSS before MiB", "RSS with them MiB", "KiB per socket",
                          "RSS once all closed MiB"])
    with options.cpus.pin_client():
        for name, server, participants, lobby in cases:
            async with server:
                result = await measure_memory(server, participants, lobby)
            memory_table.add(name, result.sockets, fmt(result.before_kib / 1024, 1),
                             fmt(result.after_kib / 1024, 1), fmt(result.per_socket_kib, 1),
                             fmt(result.closed_kib / 1024, 1))
    section.tables.append(("Memory per idle socket", memory_table))

    start_ms = median(starts) * 1000
    section.targets.append(Target("start-up to first 200 on /", fmt(start_ms, 0, " ms"), "≤ 1,000 ms",
                                  start_ms <= 1000))
    section.notes.append(f"With {CAPACITY} joined, each join sent the growing roster (up to about 3 KB) to "
                         "every socket, encoded once per recipient. RSS is a high-water mark: what those "
                         "broadcasts allocated stays in the heap after every socket has closed (last column), so "
                         "the per-socket figure with joins is mostly that churn, not the sockets themselves.")
    return section.finish()
