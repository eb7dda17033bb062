"""`python -m bench [storm relay setup_time startup mesh voice] [--quick] [--output FILE]`: run and report."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from bench.common import ROOT, CpuPlan, Options
from bench.report import Section, write

logger = logging.getLogger(__name__)

# Report order; each name is a module of this package with TITLE and `async def run(Options) -> Section`.
BENCHMARKS = ("storm", "relay", "setup_time", "startup", "mesh", "voice")
DEFAULT_OUTPUT = ROOT / "BENCHMARKS.md"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Measure Secret-Call; write BENCHMARKS.md.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about a minute)")
    parser.add_argument("--output", help="where to write the results (default BENCHMARKS.md; with --quick, "
                                         "nothing is written unless this is given; '-' writes nothing)")
    parser.add_argument("--profile", metavar="DIR", type=Path,
                        help="run Secret-Call under cProfile, keep DIR/<benchmark>.prof and print the top")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the benchmarks do")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.names = [name for name in BENCHMARKS if name in args.names] or list(BENCHMARKS)
    return args


def output_path(args: argparse.Namespace) -> Path | None:
    if args.output == "-" or (args.output is None and args.quick):
        return None
    return Path(args.output) if args.output else DEFAULT_OUTPUT


async def run_all(names: Sequence[str], options: Options) -> list[Section]:
    sections = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"-- {module.TITLE} …", flush=True)
        section = await module.run(options)
        print(section.console(), flush=True)
        sections.append(section)
    return sections


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level="INFO" if args.verbose else "WARNING",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = Options(quick=args.quick, cpus=CpuPlan.detect(), profile_dir=args.profile)
    started = time.monotonic()
    sections = asyncio.run(run_all(args.names, options))
    path = output_path(args)
    if path is not None:
        titles = {name: importlib.import_module(f"bench.{name}").TITLE for name in BENCHMARKS}
        write(path, sections, BENCHMARKS, titles)
        print(f"wrote {path}")
    missed = [t.name for s in sections for t in s.targets if t.met is False]
    print(f"done in {time.monotonic() - started:.0f} s; targets missed: {', '.join(missed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
