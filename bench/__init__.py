"""Benchmarks: python -m bench.NAME prints key=value figures.

Every bench takes ``--smoke``: the same code paths at tiny sizes (a few streams or learners, windows
of a second or two), so the test suite can run each one in seconds (tests/bench/test_bench_smoke.py).
A smoke run prints ``smoke=1`` first; its figures only show that the bench runs, not what it measures.
"""
from __future__ import annotations

import argparse

SMOKE_HELP = ("a short run at tiny sizes (the test suite's smoke run, tests/bench): the same code paths, "
              "figures that only show the bench runs; options given explicitly still apply")


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None, smoke: dict) -> argparse.Namespace:
    """Parse ``argv`` with ``--smoke`` added; under ``--smoke`` the ``smoke`` values become the
    defaults (an option given on the command line still wins)."""
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args(argv)
    if args.smoke:
        unknown = set(smoke) - set(vars(args))
        if unknown:
            raise ValueError(f"smoke settings for options the parser does not have: {sorted(unknown)}")
        parser.set_defaults(**smoke)
        args = parser.parse_args(argv)
    return args
