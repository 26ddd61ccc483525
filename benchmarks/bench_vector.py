"""Native vector env speed: N grids in one numba call, side by side with the alternatives.

Measures, in one run on the same machine:

* the native vector env (``gymnasium.make_vec(id, num_envs=N,
  vectorization_mode="vector_entry_point")``), N = 64 by default, case14 and case118 (AC),
  do-nothing and random legal actions: grid-steps/s (N x vector steps per second);
* the single env (``gymnasium.make``) on the same ids and policies;
* Grid2Op + lightsim2grid, single env: ``l2rpn_case14_sandbox`` next to case14 and
  ``rte_case118_example`` next to case118 (its bundled test data), when installed;
* with ``--sb3``: SB3 PPO training throughput (env steps/s of ``learn``) on the training
  recipe's envs (flat observations, discrete unitary actions) with
  :class:`~gym_powergrid.integrations.sb3.PowerGridSB3VecEnv` against ``SubprocVecEnv(2)``
  over ``make_training_env``, the same rollout size (1024 samples per update).

Prints a table and the ratios; ``--json PATH`` writes a flat JSON object of named numbers
(documented in benchmarks/README.md). Timings on a shared machine are noisy: note the load.

    python benchmarks/bench_vector.py            # full run
    python benchmarks/bench_vector.py --quick    # fewer steps
    python benchmarks/bench_vector.py --quick --sb3 --num-envs 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_env import bench_grid2op, legal_random_action  # noqa: E402

GRID2OP_NAMES = {"case14": "l2rpn_case14_sandbox", "case118": "rte_case118_example"}


def vector_random_actions(venv, rng) -> np.ndarray:
    """Per grid, :func:`bench_env.legal_random_action`'s policy on the stacked state: a legal
    line switch (10 %), a node switch of a substation not on cooldown (10 %), or nothing."""
    u = venv.unwrapped
    e = u.envs[0]
    helper, n_line = e.action_helper, e.grid.n_line
    n, off = u.num_envs, helper.offset_status
    c = u.counters()
    status = u.topologies[:, off:]
    a = np.zeros((n, helper.action_length), np.int8)
    r = rng.random(n)
    rows = np.arange(n)
    line = rng.integers(n_line, size=n)
    ok = (r < 0.1) & (c["line_cooldown"][rows, line] == 0) & (
        (status[rows, line] != 0) | (c["line_unavailable"][rows, line] == 0))
    a[rows[ok], off + line[ok]] = 1
    pos = rng.integers(off, size=n)
    ok = (r >= 0.1) & (r < 0.2) & (c["sub_cooldown"][rows, helper.node_switch_sub[pos]] == 0)
    a[rows[ok], pos[ok]] = 1
    return a


def bench_vector(env_id: str, policy: str, num_envs: int, n_steps: int, seed: int = 0,
                 num_threads: int | None = None):
    """Grid-steps/s of the native vector env over ``n_steps`` vector steps, game overs and CPU
    time per grid-step in µs (``time.process_time``: every kernel thread counted)."""
    import gymnasium as gym

    import gym_powergrid  # noqa: F401

    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        copy=False, num_threads=num_threads)
    venv.reset(seed=seed)
    rng = np.random.default_rng(seed)
    dn = np.zeros(venv.action_space.shape, np.int8)
    for _ in range(3):  # warm-up: numba caches load on first use
        venv.step(dn)
    venv.reset(seed=seed)
    overs = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_steps):
        a = dn if policy == "do-nothing" else vector_random_actions(venv, rng)
        _, _, term, _, _ = venv.step(a)
        overs += int(term.sum())
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    venv.close()
    return n_steps * num_envs / dt, overs, 1e6 * dc / (n_steps * num_envs)


def bench_single(env_id: str, policy: str, n_steps: int, seed: int = 0):
    """Steps/s of ``gymnasium.make(env_id)`` (resets included) and CPU µs per step."""
    import gymnasium as gym

    import gym_powergrid  # noqa: F401

    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    dn = env.unwrapped.action_helper.do_nothing()
    for _ in range(3):
        env.step(dn)
    env.reset(seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_steps):
        a = dn if policy == "do-nothing" else legal_random_action(env, rng)
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    env.close()
    return n_steps / dt, 1e6 * dc / n_steps


def bench_sb3(env_id: str, which: str, num_envs: int, timesteps: int) -> float:
    """Env steps/s of MaskablePPO.learn on the training recipe's envs."""
    from sb3_contrib import MaskablePPO

    if which == "vector":
        from gym_powergrid.integrations.sb3 import PowerGridSB3VecEnv

        venv = PowerGridSB3VecEnv(env_id, num_envs)
    else:
        import functools

        from stable_baselines3.common.vec_env import SubprocVecEnv

        from gym_powergrid.training import make_training_env

        venv = SubprocVecEnv([functools.partial(make_training_env, env_id)] * num_envs)
    venv.seed(0)
    n_steps = max(1024 // num_envs, 8)
    model = MaskablePPO("MlpPolicy", venv, n_steps=n_steps, batch_size=256, n_epochs=4,
                        seed=0, device="cpu", policy_kwargs={"net_arch": [64, 64]})
    model.learn(n_steps * num_envs)  # warm-up: compile/cache loads, torch
    t0 = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    dt = time.perf_counter() - t0
    venv.close()
    return timesteps / dt


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps")
    p.add_argument("--num-envs", type=int, default=64, help="grids of the vector env (64)")
    p.add_argument("--num-threads", type=int, default=None,
                   help="threads of the vector kernel (default: every core)")
    p.add_argument("--cases", nargs="+", default=["case14", "case118"])
    p.add_argument("--sb3", action="store_true", help="also SB3 PPO training throughput")
    p.add_argument("--no-grid2op", action="store_true", help="skip Grid2Op + lightsim2grid")
    p.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = p.parse_args(argv)
    n = args.num_envs
    vec_steps = 30 if args.quick else 150
    single_steps = 500 if args.quick else 3000
    g2o_steps = 300 if args.quick else 1000
    results: dict[str, float] = {"num_envs": n, "load_average_1min": os.getloadavg()[0]}
    if args.num_threads is not None:
        results["num_threads"] = args.num_threads
    rows = []
    for case in args.cases:
        env_id = f"PowerGrid-{case}-v0"
        for policy in ("do-nothing", "random"):
            pk = policy.replace("-", "_")
            sps, overs, cpu = bench_vector(env_id, policy, n, vec_steps,
                                           num_threads=args.num_threads)
            results[f"{case}_{pk}_vector_steps_per_s"] = sps
            results[f"{case}_{pk}_vector_game_overs"] = overs
            results[f"{case}_{pk}_vector_cpu_us_per_grid_step"] = cpu
            rows.append((f"gym_powergrid vector N={n}", case, policy, sps, cpu))
            single, cpu = bench_single(env_id, policy, single_steps)
            results[f"{case}_{pk}_single_steps_per_s"] = single
            results[f"{case}_{pk}_single_cpu_us_per_step"] = cpu
            rows.append(("gym_powergrid single", case, policy, single, cpu))
            results[f"ratio_{case}_{pk}_vector_vs_single"] = sps / single
            g = None if args.no_grid2op else bench_grid2op(policy, g2o_steps,
                                                           name=GRID2OP_NAMES[case])
            if g is not None:
                results[f"grid2op_lightsim_{case}_{pk}_steps_per_s"] = g[0]
                rows.append((f"grid2op+lightsim2grid {GRID2OP_NAMES[case]}", case, policy,
                             g[0], g[2]))
                results[f"ratio_{case}_{pk}_vector_vs_grid2op_lightsim"] = sps / g[0]
                results[f"ratio_{case}_{pk}_single_vs_grid2op_lightsim"] = single / g[0]
                results[f"grid2op_lightsim_{case}_{pk}_cpu_us_per_step"] = g[2]
                # CPU time per step (process_time): steadier than wall time on a busy machine
                results[f"ratio_{case}_{pk}_single_vs_grid2op_lightsim_cpu"] = g[2] / cpu
    if args.sb3:
        ts = 2048 if args.quick else 8192
        for which, k in (("vector", n), ("subproc", 2)):
            sps = bench_sb3("PowerGrid-case14-v0", which, k, ts)
            results[f"sb3_ppo_case14_{which}_{k}_steps_per_s"] = sps
            rows.append((f"SB3 MaskablePPO, {which} ({k} envs)", "case14", "discrete", sps,
                         None))
        results["ratio_sb3_ppo_vector_vs_subproc2"] = (
            results[f"sb3_ppo_case14_vector_{n}_steps_per_s"]
            / results["sb3_ppo_case14_subproc_2_steps_per_s"])
    results["load_average_1min_end"] = os.getloadavg()[0]
    print(f"{'system':40s} {'case':8s} {'policy':11s} {'steps/s':>10s} {'CPU us/step':>12s}")
    for r in rows:
        cpu = "" if r[4] is None else f"{r[4]:12.1f}"
        print(f"{r[0]:40s} {r[1]:8s} {r[2]:11s} {r[3]:10.1f} {cpu}")
    for k, v in results.items():
        if k.startswith("ratio_"):
            print(f"{k}: {v:.2f}x")
    print(f"load average (1 min): {results['load_average_1min']:.2f} at start, "
          f"{results['load_average_1min_end']:.2f} at end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    return results


if __name__ == "__main__":
    main()
