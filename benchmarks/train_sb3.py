"""Train a stable-baselines3 agent on case14 and compare it with do-nothing and greedy.

A thin wrapper around :mod:`gym_powergrid.training` (same options; also
``python -m gym_powergrid.training``). The README's numbers come from::

    nice -n 10 python benchmarks/train_sb3.py --algo maskable-ppo --env PowerGrid-case14-v0 \\
        --timesteps 200000 --n-envs 2 --out runs/case14-maskable-ppo \\
        --json runs/case14-maskable-ppo.json

Run ``python benchmarks/train_sb3.py --help`` for every option.
"""

from __future__ import annotations

import sys

from gym_powergrid.training import main

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/train_sb3.py"))
