"""Wall-clock throughput of the training command per vectorised env (native vs subproc).

Trains the same MaskablePPO (discrete unitary actions, ``PowerGrid-case14-hard-v0``, no
evaluation) with ``vec_env="native"`` (every grid in one numba call) and
``vec_env="subproc"`` (one process per env), with the same rollout size (``--rollout`` env
steps per update, split over the envs), side by side in one run, and reports env steps per
second of wall time for the whole ``train()`` call (env creation and learning included) and
their ratio::

    python benchmarks/bench_train_vec_env.py --n-envs 2 8 --json train_vec_env.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

from gym_powergrid.training import TrainConfig, train


def measure(vec_env: str, n_envs: int, timesteps: int, rollout: int, out: str) -> float:
    cfg = TrainConfig(env_id="PowerGrid-case14-hard-v0", action_space="discrete",
                      vec_env=vec_env, n_envs=n_envs, timesteps=timesteps,
                      n_steps=max(rollout // n_envs, 1), batch_size=256, n_epochs=2,
                      evaluate=False, plot=False, progress=False,
                      out=os.path.join(out, f"{vec_env}-{n_envs}"))
    t0 = time.perf_counter()
    train(cfg)
    return timesteps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-envs", type=int, nargs="+", default=[2, 8])
    p.add_argument("--timesteps", type=int, default=8192)
    p.add_argument("--rollout", type=int, default=1024, help="env steps per PPO update")
    p.add_argument("--out", default="runs/bench-train-vec-env")
    p.add_argument("--json", default=None, metavar="PATH")
    args = p.parse_args(argv)
    res: dict[str, float] = {"load_average_1min": os.getloadavg()[0]}
    for n in args.n_envs:
        for vec in ("native", "subproc"):
            res[f"train_{vec}_{n}_env_steps_per_s"] = measure(vec, n, args.timesteps,
                                                              args.rollout, args.out)
        res[f"ratio_native_vs_subproc_{n}"] = (res[f"train_native_{n}_env_steps_per_s"]
                                               / res[f"train_subproc_{n}_env_steps_per_s"])
        print(f"{n} envs: native {res[f'train_native_{n}_env_steps_per_s']:.0f}, subproc "
              f"{res[f'train_subproc_{n}_env_steps_per_s']:.0f} env steps/s "
              f"({res[f'ratio_native_vs_subproc_{n}']:.2f}x)", flush=True)
    res["load_average_1min_end"] = os.getloadavg()[0]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main()
