"""CPU time of one single-env step: ``gymnasium.make(id)``, do-nothing, no reset inside a round.

Made for A/B runs of two checkouts, one process each, run alternately (``PYTHONPATH`` picks the
checkout); figures are ``time.process_time`` per step, min and median over the rounds, each
round ``--steps`` steps from ``reset(seed=0)`` (fewer than a chronic: no reset is timed).

    python benchmarks/bench_single_step.py                       # case14 and case118, AC
    python benchmarks/bench_single_step.py --steps 600 --rounds 7 --json single_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def step_cpu_us(env_id: str, steps: int, rounds: int) -> list[float]:
    """CPU µs per do-nothing step of ``gymnasium.make(env_id)``, one figure per round."""
    import gymnasium as gym

    import gym_powergrid  # noqa: F401

    env = gym.make(env_id)
    dn = env.unwrapped.action_helper.do_nothing()
    env.reset(seed=0)
    for _ in range(3):  # first calls: caches, lazy imports
        env.step(dn)
    out = []
    for _ in range(rounds):
        env.reset(seed=0)
        c0 = time.process_time()
        for _ in range(steps):
            _, _, term, trunc, _ = env.step(dn)
            if term or trunc:
                raise RuntimeError(f"{env_id}: the episode ended within {steps} steps; "
                                   "use fewer --steps")
        out.append(1e6 * (time.process_time() - c0) / steps)
    env.close()
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("env_ids", nargs="*", default=["PowerGrid-case14-v0", "PowerGrid-case118-v0"])
    p.add_argument("--steps", type=int, default=600, help="steps per round (600)")
    p.add_argument("--rounds", type=int, default=7, help="rounds per id (7)")
    p.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = p.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        p.error("--steps and --rounds must be >= 1")
    results: dict[str, float] = {"load_average_1min": os.getloadavg()[0]}
    for env_id in args.env_ids:
        t = step_cpu_us(env_id, args.steps, args.rounds)
        results[f"{env_id}_cpu_us_min"] = min(t)
        results[f"{env_id}_cpu_us_median"] = statistics.median(t)
        print(f"{env_id:28s} CPU us/step min {min(t):7.2f} median {statistics.median(t):7.2f}")
    results["load_average_1min_end"] = os.getloadavg()[0]
    print(f"load average (1 min): {results['load_average_1min']:.2f} at start, "
          f"{results['load_average_1min_end']:.2f} at end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
