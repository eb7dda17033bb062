"""Child processes in a process group of their own: spawn one, and end the whole group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence

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
