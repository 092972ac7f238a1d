"""Benchmarks: `make bench`, or `python benchmarks/NAME.py --help`; figures in docs/benchmarks.md."""
