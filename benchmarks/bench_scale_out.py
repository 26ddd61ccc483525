"""Scale-out engines side by side: agent-benchmark episodes/s on the local executor vs Ray, and
training env steps/s of RLlib PPO vs stable-baselines3 PPO, on the same machine in one run.

    python benchmarks/bench_scale_out.py [--quick] [--workers 2] [--no-rllib] [--json PATH]

Keys (see benchmarks/README.md, section "bench_scale_out.py"):
``executor_local_episodes_per_s``, ``executor_ray_episodes_per_s`` (episodes over the wall time
of ``compare_agents``, Ray's start-up and shutdown included), ``executor_ray_warm_episodes_per_s``
(a second run on an already started Ray), ``executor_ray_startup_s``,
``executor_inprocess_warm_episodes_per_s`` (one process, env and kernels already loaded),
``ratio_executor_ray_over_local``, ``ratio_executor_ray_warm_over_local``,
``ratio_executor_ray_warm_over_inprocess_warm``, ``executor_rows_identical``,
``executor_episodes``;
``train_sb3_env_steps_per_s``, ``train_rllib_env_steps_per_s`` (training steps over training
wall time, model/algorithm construction excluded), ``train_rllib_build_s``, ``train_sb3_build_s``,
``ratio_rllib_over_sb3``, ``train_timesteps``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from gym_powergrid.agents.compare import compare_agents  # noqa: E402
from gym_powergrid.runner import format_table  # noqa: E402

ENV = "PowerGrid-case14-v0"
AGENTS = ["do-nothing", "random-switch", "reconnect"]


def bench_executors(quick: bool, workers: int) -> dict[str, float]:
    import ray

    kwargs = dict(n_chronics=2 if quick else 4, seeds=(0, 1), max_steps=96 if quick else 288,
                  workers=workers, progress=False)
    out: dict[str, float] = {}
    compare_agents([ENV], AGENTS[:1], **{**kwargs, "workers": 1, "n_chronics": 1})  # warm-up
    t0 = time.perf_counter()  # this process, env built and kernels loaded: the episodes alone
    compare_agents([ENV], AGENTS, **{**kwargs, "workers": 1})
    n = len(AGENTS) * kwargs["n_chronics"] * len(kwargs["seeds"])
    out["executor_inprocess_warm_episodes_per_s"] = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    local = compare_agents([ENV], AGENTS, **kwargs)
    out["executor_local_episodes_per_s"] = len(local) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    on_ray = compare_agents([ENV], AGENTS, executor="ray", **kwargs)
    out["executor_ray_episodes_per_s"] = len(on_ray) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    out["executor_ray_startup_s"] = time.perf_counter() - t0
    try:
        compare_agents([ENV], AGENTS[:1], executor="ray", **{**kwargs, "n_chronics": 1})
        t0 = time.perf_counter()  # workers up, numba kernels loaded: Ray's per-task overhead
        warm = compare_agents([ENV], AGENTS, executor="ray", **kwargs)
        out["executor_ray_warm_episodes_per_s"] = len(warm) / (time.perf_counter() - t0)
    finally:
        ray.shutdown()
    same = local.drop(columns=["seconds", "seconds_per_step", "candidates_per_second"],
                      errors="ignore").equals(on_ray.drop(
                          columns=["seconds", "seconds_per_step", "candidates_per_second"],
                          errors="ignore"))
    out["executor_rows_identical"] = float(same)
    out["executor_episodes"] = float(len(local))
    out["ratio_executor_ray_over_local"] = (out["executor_ray_episodes_per_s"]
                                            / out["executor_local_episodes_per_s"])
    out["ratio_executor_ray_warm_over_local"] = (out["executor_ray_warm_episodes_per_s"]
                                                 / out["executor_local_episodes_per_s"])
    out["ratio_executor_ray_warm_over_inprocess_warm"] = (
        out["executor_ray_warm_episodes_per_s"] / out["executor_inprocess_warm_episodes_per_s"])
    return out


def bench_training(quick: bool, workers: int) -> dict[str, float]:
    import torch

    from gym_powergrid.integrations.rllib import ppo_config
    from gym_powergrid.training import TrainConfig, build_model, make_vec_env

    torch.set_num_threads(1)  # as the SB3 recipe does (TrainConfig.torch_threads); both learners
    steps = 1024 if quick else 4096
    # the guarded env of the recipe before issue 11's last change (reconnect plays, action 1 =
    # greedy's move): cheap env steps, so the figure stays about the learners' throughput
    cfg = TrainConfig(algo="maskable-ppo", timesteps=steps, n_envs=workers, n_steps=256,
                      batch_size=64, n_epochs=4, net_arch=(64, 64), heuristic="reconnect",
                      expert=("greedy",),
                      out=tempfile.mkdtemp(prefix="bench-scale-out-"), evaluate=False,
                      plot=False, vec_env="subproc" if workers > 1 else "dummy")
    out: dict[str, float] = {"train_timesteps": float(steps)}
    t0 = time.perf_counter()
    venv = make_vec_env(cfg, None)
    model = build_model(cfg, venv)
    out["train_sb3_build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    out["train_sb3_env_steps_per_s"] = steps / (time.perf_counter() - t0)
    venv.close()

    import ray

    ray.init(num_cpus=workers + 1, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    try:
        t0 = time.perf_counter()
        algo = ppo_config(cfg).build_algo()
        out["train_rllib_build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        done = 0
        while done < steps:
            result = algo.train()
            done = int(result.get("num_env_steps_sampled_lifetime", done + cfg.n_steps * workers))
        out["train_rllib_env_steps_per_s"] = done / (time.perf_counter() - t0)
        algo.stop()
    finally:
        ray.shutdown()
    out["ratio_rllib_over_sb3"] = (out["train_rllib_env_steps_per_s"]
                                   / out["train_sb3_env_steps_per_s"])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small run")
    p.add_argument("--workers", type=int, default=2, help="processes / Ray CPUs / env runners")
    p.add_argument("--no-rllib", action="store_true", help="skip the training comparison")
    p.add_argument("--json", default=None, metavar="PATH")
    args = p.parse_args()
    res = bench_executors(args.quick, args.workers)
    local_rate = res["executor_local_episodes_per_s"]
    rows = [["one process, warm (no parallelism, no start-up)",
             f"{res['executor_inprocess_warm_episodes_per_s']:.2f}",
             f"{res['executor_inprocess_warm_episodes_per_s'] / local_rate:.2f}"],
            ["local processes (spawned per run)", f"{res['executor_local_episodes_per_s']:.2f}",
             "1.00"],
            ["agent benchmark, Ray (start-up included)",
             f"{res['executor_ray_episodes_per_s']:.2f}",
             f"{res['ratio_executor_ray_over_local']:.2f}"],
            ["agent benchmark, Ray already running",
             f"{res['executor_ray_warm_episodes_per_s']:.2f}",
             f"{res['ratio_executor_ray_warm_over_local']:.2f}"]]
    print(f"{res['executor_episodes']:.0f} episodes of {', '.join(AGENTS)} on {ENV}, "
          f"{args.workers} workers; Ray start-up {res['executor_ray_startup_s']:.1f} s; rows "
          f"identical: {bool(res['executor_rows_identical'])}")
    print(format_table(["engine", "episodes/s", "x local"], rows))
    if not args.no_rllib:
        tr = bench_training(args.quick, args.workers)
        res.update(tr)
        print(f"\nmasked PPO training, {tr['train_timesteps']:.0f} env steps, {args.workers} "
              "envs (SB3 SubprocVecEnv vs RLlib EnvRunners)")
        print(format_table(["engine", "env steps/s", "build s", "x SB3"], [
            ["SB3 MaskablePPO", f"{tr['train_sb3_env_steps_per_s']:.0f}",
             f"{tr['train_sb3_build_s']:.1f}", "1.00"],
            ["RLlib PPO (masked)", f"{tr['train_rllib_env_steps_per_s']:.0f}",
             f"{tr['train_rllib_build_s']:.1f}", f"{tr['ratio_rllib_over_sb3']:.2f}"]]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2, sort_keys=True)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
