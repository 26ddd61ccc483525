"""Agents for the Ray executor tests, given to the benchmark as import paths."""

from __future__ import annotations

import os
from pathlib import Path

from gym_powergrid.agents import DoNothing


class DieOnce(DoNothing):
    """Do-nothing that kills its own process the first time it is built with seed 0
    (``marker`` missing)."""

    def __init__(self, env, seed=None, marker: str = "") -> None:
        super().__init__(env, seed=seed)
        if marker and seed == 0 and not Path(marker).exists():
            Path(marker).write_text("died once\n")
            os._exit(3)  # what a lost worker looks like: no exception, the process is gone


class Raises(DoNothing):
    """Do-nothing whose constructor raises (an episode that fails on its own)."""

    def __init__(self, env, seed=None) -> None:
        raise ValueError("this agent refuses to play")
