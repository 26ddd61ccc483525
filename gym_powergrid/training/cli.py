"""The command line: ``python -m gym_powergrid.training`` and ``gym-powergrid train``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import CHOICES, TrainConfig, _require_sb3
from .results import format_evaluation
from .run import chronic_split

logger = logging.getLogger("gym_powergrid.training")

_HELP = {
    "algo": "SB3 algorithm", "action_space": "discrete: unitary actions; multibinary: switches",
    "observation": "flat: MlpPolicy; dict: MultiInputPolicy",
    "min_elements": "substations with this many elements get configuration actions",
    "vec_env": "subproc: one process per env; native: every grid in one numba call (discrete "
               "or multibinary actions; their default); default: subproc for candidates and "
               "guarded", "seed": "seed of the model and the envs",
    "out": "output folder", "torch_threads": "torch threads of the learner",
    "env_id": "registered env id", "reward": "training reward (survival, pypownet...)",
    "timesteps": "training budget (steps over all envs)", "n_envs": "parallel environments",
    "n_heldout": "N chronics, drawn at random with --split-seed, are held out for evaluation",
    "split_seed": "seed of the random held-out draw",
    "danger_threshold": "candidates or guarded actions: the policy acts when a line's usage "
                        "reaches this (default 0.95)",
    "reward_scale": "factor of the decisions' rewards (default: 0.01 candidates, else 1)",
    "top_k": "candidates: slots for the DC look-ahead's best moves",
    "ablations": "candidates: agents evaluated to show what was learnt (untrained, uniform, "
                 "slot-<i>, slots = every slot, rule)",
    "eval_seeds": "every held-out chronic is played once per seed",
    "default_prior": "candidates (slot 0) or guarded actions: initial probability of the "
                     "heuristic's (and guarded: experts') moves (default: 0 / 0.95)",
    "heuristic": "candidates or guarded actions: agent playing outside danger states, slot or "
                 "action 0 (default: reconnect candidates, greedy guarded)",
    "expert": "candidates or guarded actions: agents whose moves are slots or actions 1..k, "
              "e.g. greedy 'greedy[horizon=6]' (default: greedy candidates, none guarded)",
    "n_steps": "PPO rollout length per env", "net_arch": "hidden layer sizes",
    "start_method": "start method of the SubprocVecEnv workers; None: SB3's (forkserver)",
    "random_start": "start new training episodes at a random step of their chronic",
    "baselines": "agents evaluated next to the policy",
    "eval_max_steps": "step budget per held-out chronic (default: the whole chronic)",
    "train_chronics": "training chronics (default: all but the held-out ones)",
    "heldout_chronics": "held-out chronics (default: N drawn at random)",
    "eval_workers": "processes of the held-out evaluation",
}
#: Types of the options whose default is None or a tuple ("+": one or more values).
_TYPES: dict[str, tuple[Any, str | None]] = {
    "start_method": (str, None), "expert": (str, "*"), "train_chronics": (str, "+"),
    "heldout_chronics": (str, "+"), "eval_max_steps": (int, None), "net_arch": (int, "+"),
    "baselines": (str, "*"), "eval_seeds": (int, "+"), "danger_threshold": (float, None),
    "default_prior": (float, None), "reward_scale": (float, None), "heuristic": (str, None),
    "ablations": (str, "*")}


def build_parser(prog: str = "python -m gym_powergrid.training") -> argparse.ArgumentParser:
    """The command-line parser (shared with ``gym-powergrid train``): one option per
    :class:`TrainConfig` field (``--n-envs``...), ``--env``, ``--parameters`` and ``--json``."""
    p = argparse.ArgumentParser(
        prog=prog, description="Train a stable-baselines3 agent on a gym_powergrid env, save it, "
        "plot its learning curve and compare it with baselines on held-out chronics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parameters", default=None,
                   help="a pypownet-style parameter folder to use instead of the env's own")
    for f in dataclasses.fields(TrainConfig):
        name, default = f.name, TrainConfig.__dataclass_fields__[f.name].default
        flag = "--env" if name == "env_id" else "--" + name.replace("_", "-")
        text = _HELP.get(name, name.replace("_", " "))
        if name in ("env_kwargs", "verbose"):
            continue
        if name in ("evaluate", "plot", "progress"):
            skip = {"evaluate": ("eval", "held-out evaluation"),
                    "plot": ("plot", "learning-curve PNG"),
                    "progress": ("progress", "progress bar")}[name]
            p.add_argument(f"--no-{skip[0]}", dest=name, action="store_false",
                           default=argparse.SUPPRESS, help=f"skip the {skip[1]}")
        elif isinstance(default, bool):
            p.add_argument(flag, dest=name, action="store_true", default=argparse.SUPPRESS,
                           help=text)
        elif name in CHOICES:
            p.add_argument(flag, dest=name, choices=[c for c in CHOICES[name] if c],
                           default=default, help=text)
        elif name in _TYPES:
            kind, nargs = _TYPES[name]
            p.add_argument(flag, dest=name, type=kind, nargs=nargs, help=text,
                           metavar="NAME" if kind is str and nargs else None,
                           default=argparse.SUPPRESS if default is None else list(default)
                           if isinstance(default, tuple) else default)
        else:
            p.add_argument(flag, dest=name, type=type(default), default=default, help=text)
    p.add_argument("--json", default=None, metavar="PATH",
                   help="write the results as a flat JSON of named numbers")
    p.add_argument("--framework", choices=("sb3", "rllib"), default="sb3",
                   help="stable-baselines3, or RLlib's PPO (gym_powergrid.integrations.rllib, "
                        "needs gym-powergrid[rllib])")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --framework rllib: a running Ray cluster ('auto', HOST:6379); "
                        "default a local Ray")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: progress logs and SB3's training table")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A :class:`TrainConfig` from parsed command-line arguments."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if hasattr(args, f.name) and f.name != "verbose"}
    for name, value in values.items():
        if isinstance(value, list):
            values[name] = tuple(value)
    return TrainConfig(env_kwargs={"parameters": args.parameters} if args.parameters else {},
                       verbose=min(args.verbose, 2), **values)


def _say(text: str) -> None:
    """The command line's output (stdout)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = build_parser(prog or "python -m gym_powergrid.training").parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logger.setLevel(logging.INFO)
    if args.framework == "rllib":
        from ..integrations.rllib import cli_main

        return cli_main(args, config_from_args, _say)
    try:
        cfg = config_from_args(args)
        _require_sb3(cfg.algo)
        tr, held = chronic_split(cfg)
    except (ValueError, ImportError) as exc:  # gym_powergrid's input errors are ValueErrors
        _say(f"error: {exc}")
        return 2
    _say(f"held-out chronics (drawn with --split-seed {cfg.split_seed}): {', '.join(held)}; "
         f"training on {len(tr)} chronics")
    import gym_powergrid.training as package  # the public name, which callers may patch

    result = package.train(cfg)
    say = _say
    say(f"trained {cfg.algo} on {cfg.env_id} for {cfg.timesteps:,} steps in "
        f"{result.train_seconds:.0f} s ({cfg.timesteps / result.train_seconds:,.0f} steps/s, "
        f"{cfg.n_envs} envs); chronics: train {', '.join(result.train_chronics)}; held out "
        f"{', '.join(result.heldout_chronics)}")
    say(f"model: {result.model_path}")
    if result.curve_path is not None:
        say(f"learning curve: {result.curve_path}")
    if result.evaluation is not None:
        say("")
        say(f"held-out chronics ({', '.join(result.heldout_chronics)}), episodes end at the "
            "first game over (env's own reward):")
        say(format_evaluation(result.evaluation))
        say(f"evaluation: {Path(cfg.out) / 'evaluation'}/ (episodes.csv, agents.csv, "
            "survival.png)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.metrics(), indent=2), encoding="utf-8")
        say(f"metrics: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
