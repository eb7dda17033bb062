"""Results as Markdown: each benchmark returns a Section, and BENCHMARKS.md keeps one block per section.

A run that measures only some benchmarks replaces only their blocks; the summary of targets at
the top is rebuilt from every block in the file (each block carries its targets as a JSON comment).
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from bench.common import Conditions, machine_facts

logger = logging.getLogger(__name__)

TARGETS_MARK = "<!-- targets: "


@dataclass
class Table:
    """A Markdown table."""

    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Target:
    """One goal of issue #8: what was measured against what was wanted; `met` None means not measured."""

    name: str
    measured: str
    goal: str
    met: bool | None
    contended: bool = False  # a wall-clock figure taken while other work kept our processes waiting

    @property
    def verdict(self) -> str:
        verdict = {True: "met", False: "**missed**", None: "not run"}[self.met]
        return verdict + " (machine busy: unreliable)" if self.contended and self.met is not None else verdict


@dataclass
class Section:
    """One benchmark's results."""

    key: str
    title: str
    method: str
    tables: list[tuple[str, Table]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quick: bool = False
    before: Conditions = field(default_factory=Conditions.now)
    after: Conditions | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def finish(self) -> "Section":
        """Note how long it took and how busy the machine was at the end."""
        self.seconds = time.monotonic() - self.started
        self.after = Conditions.now()
        return self

    def markdown(self) -> str:
        stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        parts = [f"## {self.title}", "", TARGETS_MARK + json.dumps([asdict(t) for t in self.targets],
                                                                   ensure_ascii=False) + " -->", "",
                 f"*Measured {stamp}{' (quick smoke run)' if self.quick else ''} in {self.seconds:.0f} s. "
                 f"Before: {self.before.describe()}. After: {(self.after or self.before).describe()}. "
                 "(Load average over 1/5/15 min; CPU pressure is the kernel's PSI `some avg10`.)*",
                 "", self.method.strip(), ""]
        for caption, table in self.tables:
            parts += [f"**{caption}**", "", table.markdown(), ""]
        if self.targets:
            goals = Table(["target", "measured", "goal", "verdict"])
            for target in self.targets:
                goals.add(target.name, target.measured, target.goal, target.verdict)
            parts += ["**Targets**", "", goals.markdown(), ""]
        parts += [f"- {note}" for note in self.notes]
        return "\n".join(parts).rstrip() + "\n"

    def console(self) -> str:
        lines = [f"== {self.title} ({self.seconds:.0f} s)"]
        for caption, table in self.tables:
            lines += [f"  {caption}", *("    " + line for line in table.markdown().splitlines())]
        lines += [f"  TARGET {t.verdict.replace('*', '').upper():8} {t.name}: {t.measured} (goal {t.goal})"
                  for t in self.targets]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def fmt(value: float, digits: int = 1, unit: str = "") -> str:
    """A number for a table; n/a when it could not be measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


# -- BENCHMARKS.md --------------------------------------------------------------------------------

HEADER = """# Secret-Call benchmarks

Written by `python -m bench` (or `make bench`); do not edit by hand. `python -m bench storm relay`
measures only those and replaces only their sections here; `python -m bench --quick` is a short
smoke run that prints its figures and writes nothing unless `--output` is given.
Benchmarks: {names}.

Targets are those of issue #8. Figures are medians unless a column says otherwise. The machine is
shared: other people's work running at the same time slows the wall-clock figures down, so every
section states the load average and the kernel's CPU pressure before and after it ran, and the
signaling benchmarks also report how long the server and the load generator waited for a CPU
(from /proc/PID/schedstat) and the server's CPU time per message, which that waiting does not
inflate.
"""


def _block(key: str, body: str) -> str:
    return f"<!-- bench:{key} -->\n{body.rstrip()}\n<!-- /bench:{key} -->"


def _blocks(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"<!-- bench:(\w+) -->\n(.*?)\n<!-- /bench:\1 -->",
                                                        text, re.S)}


def _summary(bodies: dict[str, str], order: Sequence[str]) -> str:
    table = Table(["benchmark", "target", "measured", "goal", "verdict"])
    for key in order:
        body = bodies.get(key, "")
        title = next((line[3:] for line in body.splitlines() if line.startswith("## ")), key)
        mark = next((line for line in body.splitlines() if line.startswith(TARGETS_MARK)), None)
        targets = json.loads(mark[len(TARGETS_MARK):-len(" -->")]) if mark else []
        for item in targets:
            target = Target(**item)
            table.add(title, target.name, target.measured, target.goal, target.verdict)
    return "## Summary of targets\n\n" + (table.markdown() if table.rows else "Nothing measured yet.")


def _machine() -> str:
    table = Table(["", ""])
    for name, value in machine_facts():
        table.add(name, value)
    return "## Machine\n\n" + table.markdown()


def write(path: Path, sections: list[Section], order: Sequence[str], titles: dict[str, str]) -> None:
    """Replace the measured sections in `path`, keep the others, and rebuild the summary."""
    bodies = _blocks(path.read_text(encoding="utf-8")) if path.exists() else {}
    for section in sections:
        bodies[section.key] = section.markdown()
    out = [HEADER.format(names=", ".join(order)).rstrip(), _block("summary", _summary(bodies, order)),
           _block("machine", _machine())]
    for key in order:
        out.append(_block(key, bodies.get(key) or f"## {titles[key]}\n\nNot run yet."))
    path.write_text("\n\n".join(out) + "\n", encoding="utf-8")
