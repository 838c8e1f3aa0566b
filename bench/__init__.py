"""Benchmarks of issue 8: `make bench` (python -m bench); figures in docs/performance.md."""
