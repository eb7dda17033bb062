"""What every benchmark shares: run options, CPU pinning, /proc readings, statistics and the machine."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-Ключ"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) SecretCallBench/1"


@dataclass(frozen=True)
class CpuPlan:
    """Which CPU the server and the load generator run on (None: wherever the kernel likes)."""

    server: int | None
    client: int | None

    @classmethod
    def detect(cls) -> "CpuPlan":
        """Server on CPU 0 and load generator on CPU 1, when taskset exists and there are two CPUs."""
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2 and shutil.which("taskset"):
            return cls(server=cpus[0], client=cpus[1])
        return cls(server=None, client=None)

    def server_prefix(self) -> list[str]:
        """The command prefix that pins a server subprocess."""
        return ["taskset", "-c", str(self.server)] if self.server is not None else []

    @contextlib.contextmanager
    def pin_client(self) -> Iterator[None]:
        """Pin this process (the load generator) for the duration of the block."""
        if self.client is None:
            yield
            return
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.client})
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (taskset missing or a single CPU)"
        return f"server pinned to CPU {self.server} (taskset), load generator to CPU {self.client}"


@dataclass(frozen=True)
class Options:
    """How hard to run (`quick` is a short smoke run), where, and whether to profile Secret-Call."""

    quick: bool
    cpus: CpuPlan
    profile_dir: Path | None = None

    def profile_path(self, name: str) -> Path | None:
        """Where Secret-Call's cProfile output goes for this benchmark, if profiling was asked for."""
        if self.profile_dir is None:
            return None
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        return self.profile_dir / f"{name}.prof"

    def pick(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def count(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


@dataclass(frozen=True)
class Conditions:
    """How busy the shared machine was at one moment."""

    load: tuple[float, float, float]
    pressure: str

    @classmethod
    def now(cls) -> "Conditions":
        return cls(load_average(), cpu_pressure())

    def describe(self) -> str:
        return f"load average {' / '.join(f'{v:.2f}' for v in self.load)}, CPU pressure {self.pressure}"


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status (VmRSS, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _schedstat(pid: int, field: int) -> float:
    """A /proc/PID/task/*/schedstat field summed over the process's threads, in seconds (ns precision)."""
    total = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread may end while we read
            total += int(path.read_text().split()[field])
    return total / 1e9


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used, all threads (first field of schedstat: time on a CPU)."""
    return _schedstat(pid, 0)


def cpu_wait(pid: int) -> float:
    """Seconds the process spent runnable but waiting for a CPU (second field of schedstat).

    On a shared machine this is the footprint of everybody else's work on our measurements.
    """
    return _schedstat(pid, 1)


def cpu_pressure() -> str:
    """The kernel's CPU pressure (PSI `some avg10`: % of the last 10 s someone waited for a CPU)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1] + " %"
    return "n/a"


@dataclass(frozen=True)
class Usage:
    """Over one interval: the CPU time of the server and of the load generator (this process), and
    how long each waited for a CPU while runnable (time taken from them by other work on the machine)."""

    seconds: float
    server_cpu: float
    server_wait: float
    client_cpu: float
    client_wait: float

    @property
    def waited(self) -> float:
        return self.server_wait + self.client_wait


CONTENDED = 0.10  # above this share of waiting for a CPU, wall-clock figures say more about the machine


def contention_note(share: float) -> str:
    return (f"Other work on the machine kept the server and the load generator waiting for a CPU (added up) "
            f"{share:.0%} of the wall time (median): the wall-clock figures (times, rates, latencies) are "
            "inflated by it and vary from run to run; the CPU-time figures (server CPU per message) are not.")


class UsageMeter:
    """Reads Usage between its creation and stop()."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float, float]:
        client = os.getpid()
        return (time.monotonic(), cpu_seconds(self.server_pid), cpu_wait(self.server_pid), cpu_seconds(client),
                cpu_wait(client))

    def stop(self) -> Usage:
        end = self._read()
        return Usage(*(b - a for a, b in zip(self._start, end, strict=True)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("nan")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_facts() -> list[tuple[str, str]]:
    """The machine and software the figures were measured on."""
    import aiohttp

    facts = [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", cpu_model()),
        ("Kernel", platform.release()),
        ("Python", sys.version.split()[0]),
        ("aiohttp", aiohttp.__version__),
    ]
    with contextlib.suppress(ImportError):
        import aiortc

        facts.append(("aiortc", aiortc.__version__))
    facts.append(("Chromium", chromium_version()))
    return facts


def chromium_version() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        return "not installed"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=15)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return chromium
