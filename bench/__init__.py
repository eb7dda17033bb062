"""Secret-Call benchmarks: `python -m bench [names] [--quick]` measures and writes BENCHMARKS.md."""
