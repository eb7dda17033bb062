"""Child processes in a process group of their own: spawn one, and end the whole group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence

logger = logging.getLogger(__name__)

READ_SIZE = 4096
KILL_AFTER = 2.0  # seconds between SIGTERM and SIGKILL


def signal_group(pid: int, signum: int) -> None:
    """Send `signum` to the process group led by `pid`, if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


async def spawn_group(command: Sequence[str], env: Mapping[str, str] | None = None) -> asyncio.subprocess.Process:
    """Start `command` as the leader of a new process group, its stdout and stderr on one pipe.

    Raises OSError when it cannot be started. Cancelled midway, it still ends what it started.
    """
    creating = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, so ending it reaches its children
            env=env,
        )
    )
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        # Cancelling asyncio's process creation midway can leave it waiting on a pipe
        # that a child of the new process holds; let it finish, then end that group.
        with contextlib.suppress(OSError):
            await end_process_group(await creating)
        raise


async def keep_running(proc: asyncio.subprocess.Process | None, *,
                       spawn: Callable[[], Awaitable[asyncio.subprocess.Process]],
                       watch: Callable[[asyncio.subprocess.Process], Awaitable[tuple[str, bool]]],
                       backoff: Sequence[float], spawn_errors: tuple[type[Exception], ...],
                       restarting: Callable[[str, float], None], restarted: Callable[[], None]) -> None:
    """Keep a child process running until cancelled: watch it until it ends, then spawn it again after
    the next delay of `backoff`.

    `watch(proc)` returns why the run ended and whether it was stable (a stable run starts the delays
    over); `spawn()` may fail with one of `spawn_errors`, whose text is the reason. `restarting(reason,
    delay)` is told before each wait, `restarted()` after it.
    """
    failures = 0
    while True:
        if proc is None:
            try:
                proc = await spawn()
            except spawn_errors as error:
                reason = str(error)
        if proc is not None:
            reason, stable = await watch(proc)
            proc = None
            if stable:
                failures = 0
        delay = backoff[min(failures, len(backoff) - 1)]
        failures += 1
        restarting(reason, delay)
        await asyncio.sleep(delay)
        restarted()


async def end_process_group(proc: asyncio.subprocess.Process, kill_after: float = KILL_AFTER) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after a grace period, and reap the process."""
    assert proc.stdout is not None
    for signum in (signal.SIGTERM, signal.SIGKILL):
        signal_group(proc.pid, signum)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(kill_after):
                # The pipe closes once no member of the group holds it any more.
                while await proc.stdout.read(READ_SIZE):
                    pass
                await proc.wait()
    if proc.returncode is None:
        logger.warning("process %d did not exit after SIGKILL", proc.pid)
