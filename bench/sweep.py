"""
The invariant sweep (tests/support/sweep.py) over any number of seeds,
for long runs; the suite runs a few hundred (tests/glue/test_sweep.py).

Usage::

    PYTHONPATH=. /tmp/venv/bin/python bench/sweep.py --seeds 2000 [--start 0]
        [--faults] [--steps 24] [--shrink] [--quiet]
    PYTHONPATH=. /tmp/venv/bin/python bench/sweep.py --seed 41 [--faults] [--shrink]

C{--faults} adds partitions of any subset of nodes, heals and restarts of
a primary or a replica. Each failing seed prints its violations and its
reproduction: the command line that replays it and the scenario as a
Python literal (with C{--shrink}, the smallest scenario found that fails
in the same way). The last line sums up: seeds run, seeds failed, and
the kinds of violation with how many seeds showed each.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from tests.support.schedule import Options, generate, shrink
from tests.support.sweep import Result, run


def kinds(result: Result) -> set[str]:
    return {v.split("] ", 1)[-1].split(":", 1)[0] for v in result.violations}


def shrunk(result: Result) -> Result:
    """
    The smallest scenario found that still shows one of the same kinds
    of violation.
    """
    wanted = kinds(result)
    scenario = shrink(result.scenario, lambda s: bool(kinds(run(s)) & wanted))
    return run(scenario)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds")
    parser.add_argument("--start", type=int, default=0, help="the first seed")
    parser.add_argument("--seed", type=int, default=None, help="run this one seed")
    parser.add_argument("--steps", type=int, default=Options.steps, help="steps per seed")
    parser.add_argument("--faults", action="store_true",
                        help="partitions, heals and restarts too")
    parser.add_argument("--shrink", action="store_true", help="shrink each failing seed")
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    args = parser.parse_args(argv)
    options = Options(steps=args.steps, faults=args.faults)
    seeds = [args.seed] if args.seed is not None else range(args.start,
                                                            args.start + args.seeds)
    failed: Counter[str] = Counter()
    bad = 0
    began = time.perf_counter()
    for seed in seeds:
        result = run(generate(seed, options))
        if not result.failed:
            continue
        bad += 1
        failed.update(kinds(result))
        if not args.quiet:
            if args.shrink:
                result = shrunk(result)
            print(result.report(options), end="\n\n", flush=True)
    spent = time.perf_counter() - began
    print(f"{len(seeds)} seeds ({'with' if args.faults else 'without'} faults, "
          f"{args.steps} steps), {bad} failed, {spent:.1f} s; "
          + ", ".join(f"{kind}: {n}" for kind, n in failed.most_common()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
