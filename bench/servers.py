"""The servers under test, each in its own subprocess: Secret-Call (main.py) and the bare relay."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import pstats
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, AsyncIterator, Awaitable, Callable, Sequence, TypeVar
from urllib.parse import quote

import aiohttp

from bench.common import ROOT, TOKEN, CpuPlan, free_port

logger = logging.getLogger(__name__)

T = TypeVar("T")

SECRET_CALL = "secret-call"
BARE = "bare relay"


@dataclass
class Target:
    """Where a running server listens, and whether it speaks the full protocol (joins, rosters)."""

    kind: str
    port: int
    token: str = TOKEN

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def invite(self) -> str:
        return f"{self.origin}/#token={quote(self.token, safe='')}"

    @property
    def has_room(self) -> bool:
        """Secret-Call needs `name` before relaying; the bare relay relays from the first frame."""
        return self.kind == SECRET_CALL


@dataclass
class ServerProcess:
    """A server subprocess: started, waited for until /healthz answers, stopped with SIGTERM."""

    argv: list[str]
    target: Target
    env: dict[str, str] | None = None
    profile: Path | None = None
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    ready_at: float = 0.0
    _log: IO[bytes] = field(default_factory=lambda: tempfile.TemporaryFile())

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    async def start(self, timeout: float = 15.0, ready_path: str = "/healthz",
                    interval: float = 0.02) -> "ServerProcess":
        """Start the process and return once GET `ready_path` answers 200 (polled every `interval` s)."""
        async with aiohttp.ClientSession() as session:
            self.started_at = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, cwd=ROOT, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=self._log)
            await self._wait_ready(session, timeout, ready_path, interval)
        return self

    async def _wait_ready(self, session: aiohttp.ClientSession, timeout: float, path: str, interval: float) -> None:
        deadline = self.started_at + timeout
        while True:
            assert self.process is not None
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.target.kind} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                async with session.get(f"{self.target.origin}{path}") as response:
                    if response.status == 200:
                        self.ready_at = time.monotonic()
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.target.kind} did not answer within {timeout} s: {self.log_tail()}")
            await asyncio.sleep(interval)

    async def status(self) -> dict[str, Any]:
        """GET /status: Secret-Call's counters (ADMIN_STATUS=1), or the bare relay's socket count."""
        async with aiohttp.ClientSession() as session, session.get(f"{self.target.origin}/status") as response:
            response.raise_for_status()
            return dict(await response.json())

    async def wait_status(self, field: str, value: int, timeout: float = 10.0) -> None:
        """Wait until /status reports `field` equal to `value`."""
        deadline = time.monotonic() + timeout
        while (await self.status())[field] != value:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.target.kind}: {field} is not {value} after {timeout} s")
            await asyncio.sleep(0.02)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the server has closed every socket of the previous round."""
        await self.wait_status("connections", 0, timeout)

    def log_tail(self, chars: int = 2000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._log.close()
        if self.profile is not None and self.profile.exists():
            print_profile(self.profile)

    async def __aenter__(self) -> "ServerProcess":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def running(*servers: ServerProcess) -> AsyncIterator[None]:
    """Start every server; stop them all at the end, whatever happens."""
    try:
        for server in servers:
            await server.start()
        yield
    finally:
        for server in servers:
            await server.stop()


async def alternate(servers: Sequence[ServerProcess], rounds: int,
                    measure: Callable[[ServerProcess], Awaitable[T]]) -> dict[str, list[T]]:
    """`rounds` measurements per server, taking turns, each once the previous round's sockets are closed.

    Taking turns spreads any disturbance from other work on the machine over both servers.
    """
    results: dict[str, list[T]] = {server.target.kind: [] for server in servers}
    for _ in range(rounds):
        for server in servers:
            await server.wait_idle()
            results[server.target.kind].append(await measure(server))
    return results


def secret_call(cpus: CpuPlan, *args: str, port: int | None = None, profile: Path | None = None) -> ServerProcess:
    """Secret-Call as a user runs it: `main.py --headless`, pinned to the server CPU.

    ADMIN_STATUS=1 turns on /status (loopback only), which wait_idle() reads between rounds.
    With `profile`, the server runs under cProfile (CPU time), which writes there when SIGTERM stops it.
    """
    target = Target(SECRET_CALL, port or free_port())
    profiler = ["-m", "bench.profiled", str(profile)] if profile else []
    argv = [*cpus.server_prefix(), sys.executable, *profiler, "main.py", "--headless", "--port", str(target.port),
            "--token", target.token, "--log-level", "warning", *args]
    return ServerProcess(argv, target, env={**os.environ, "ADMIN_STATUS": "1"}, profile=profile)


def bare_relay(cpus: CpuPlan, port: int | None = None) -> ServerProcess:
    """The reference: bench/bare_relay.py, pinned to the same CPU."""
    target = Target(BARE, port or free_port())
    argv = [*cpus.server_prefix(), sys.executable, "-m", "bench.bare_relay", "--port", str(target.port)]
    return ServerProcess(argv, target)


def print_profile(path: Path, lines: int = 25) -> None:
    """The functions where the profiled server spent its own time, most first."""
    out = io.StringIO()
    pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(lines)
    print(f"-- profile of Secret-Call ({path}), by own time:\n{out.getvalue()}", flush=True)
