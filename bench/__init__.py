"""Benchmarks: python -m bench.NAME prints key=value figures."""
