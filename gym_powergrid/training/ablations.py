"""Ablations of the candidates recipe: agents that choose among the same slots without learning.

:class:`CandidateAgent` plays the decision process of
:class:`~gym_powergrid.training.candidates.CandidateActions` (same slots, same danger rule, the
heuristic outside danger) with a fixed choice rule instead of the trained policy:

* ``"uniform"``: a slot drawn uniformly among the valid ones (seeded by the agent's seed);
* ``"slot-<i>"``: always slot ``i`` when it is valid, else slot 0;
* ``"rule"``: a hand-written rule on the slots' AC features: slot 0 while its simulated
  maximum usage stays below 1 without a game over, else the valid slot with the lowest simulated
  maximum usage (a game over counts as the worst).

With ``path`` (a saved ``model.zip``), the slots are those of its ``model.json`` recipe, so
the ablations play exactly the trained policy's choices.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..agents.base import Agent
from .candidates import FEATURES
from .policy import candidates_from_recipe, read_recipe

RULES = ("uniform", "rule")
_MAX = FEATURES.index("max_usage")
_GAME_OVER = FEATURES.index("game_over")


def check_rule(rule: str) -> str:
    """``rule`` if known (``uniform``, ``rule``, ``slot-<i>``), else a ValueError."""
    if rule in RULES or (rule.startswith("slot-") and rule[5:].isdigit()):
        return rule
    raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)} or slot-<i>")


class CandidateAgent(Agent):
    """A fixed choice among the candidate slots (see the module docstring).

    Args:
        env: the environment (``Dict`` observations, ``MultiBinary`` actions).
        seed: seed of the uniform choice.
        rule: ``"uniform"``, ``"slot-<i>"`` or ``"rule"``.
        path: a saved ``model.zip`` whose ``model.json`` gives the slots (None: defaults).
        danger_threshold, top_k: override the recipe's.
    """

    name = "candidates"

    def __init__(self, env: Any, seed: int | None = None, rule: str = "uniform",
                 path: str | os.PathLike | None = None, danger_threshold: float | None = None,
                 top_k: int | None = None) -> None:
        super().__init__(env, seed)
        self.rule = check_rule(rule)
        recipe = read_recipe(Path(path)) if path else {}
        self.candidates = candidates_from_recipe(env, recipe, danger_threshold=danger_threshold,
                                                 top_k=top_k)
        if self.rule.startswith("slot-") and int(self.rule[5:]) >= self.candidates.n_slots:
            raise ValueError(f"{self.rule}: there are {self.candidates.n_slots} slots")
        self._rng = np.random.default_rng(seed)
        self.slot_counts: dict[int, int] = {}
        self.last_choice = "do nothing"

    def choose(self, vector: np.ndarray, mask: np.ndarray) -> int:
        """The slot the rule picks given the observation vector and the valid slots."""
        if self.rule == "uniform":
            return int(self._rng.choice(np.flatnonzero(mask)))
        if self.rule.startswith("slot-"):
            slot = int(self.rule[5:])
            return slot if mask[slot] else 0
        f = self.candidates.features
        if f[0, _MAX] < 1.0 and not f[0, _GAME_OVER]:
            return 0
        worst = np.where(f[:, _GAME_OVER] > 0, np.inf, f[:, _MAX])
        return int(np.argmin(np.where(mask, worst, np.inf)))

    def act(self, observation: Any) -> np.ndarray:
        move, slot, asked = self.candidates.decide(observation, self.choose)
        if asked:
            self.slot_counts[slot] = self.slot_counts.get(slot, 0) + 1
        self.last_choice = self.candidates.describe(slot)
        return move

    @property
    def stats(self) -> dict[str, float]:
        """How often each slot was chosen in danger states (``slot_<i>``)."""
        return {f"slot_{i}": float(n) for i, n in sorted(self.slot_counts.items())}
