"""Compare agents on the same chronics and seeds (same as ``gym-powergrid bench``).

Every agent (the baselines by default, or any ``--agents NAME|module:Class``) plays one episode
per (chronic, seed) until its first game over or the step budget, in parallel processes. Prints
one table per env (survival mean/median, cumulative reward, game overs and reasons, actions
taken, ms per step, look-ahead candidates per second); ``--output`` saves ``episodes.csv``,
``agents.csv`` and ``survival.png``; ``--json`` writes a flat object of named numbers
(documented in ``benchmarks/README_compare_agents.md``).

Examples::

    python benchmarks/compare_agents.py --quick
    python benchmarks/compare_agents.py PowerGrid-case14-v0 PowerGrid-case30-v0 \\
        --agents do-nothing reconnect greedy mypkg.agents:MyAgent --output results/agents
"""

from __future__ import annotations

import argparse
import sys

from gym_powergrid.cli import BENCH_EPILOG, add_bench_arguments, cmd_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="compare_agents.py", description=__doc__.split("\n\n")[0], epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_arguments(parser)
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
