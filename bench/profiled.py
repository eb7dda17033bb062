"""Run a script under cProfile timing CPU time, not wall time: `python -m bench.profiled OUT SCRIPT [ARGS…]`.

On a shared machine a wall-clock profile charges other processes' time slices to whatever
function happened to be running; the thread's CPU time does not.
"""

from __future__ import annotations

import cProfile
import logging
import runpy
import sys
import time
from typing import Sequence

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    out, script, *args = sys.argv[1:] if argv is None else argv
    sys.argv = [script, *args]
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
