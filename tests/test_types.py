"""The type hints and // @ts-check annotations are checked, not only written: mypy over the Python
modules and the benchmarks (mypy.ini), the TypeScript compiler over the page's JavaScript (tsconfig.json)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, require_tool


def test_mypy_finds_no_type_errors() -> None:
    files = sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("*.py"))
    result = subprocess.run([sys.executable, "-m", "mypy", *files, "bench"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_typescript_finds_no_type_errors_in_the_page() -> None:
    tsc = require_tool(str(ROOT / "node_modules" / ".bin" / "tsc"))
    result = subprocess.run([tsc, "-p", "tsconfig.json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
