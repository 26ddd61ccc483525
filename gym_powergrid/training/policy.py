"""SB3 models of the recipe: building, saving, loading, and :class:`PolicyAgent`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..agents.base import Agent
from .config import MODEL_ENV_VAR, TrainConfig, algo_class

logger = logging.getLogger(__name__)


def build_model(cfg: TrainConfig, venv) -> Any:
    """A fresh SB3 model for ``cfg`` on ``venv``."""
    cls = algo_class(cfg.algo)
    common = dict(seed=cfg.seed, verbose=cfg.verbose, device="cpu", gamma=cfg.gamma,
                  learning_rate=cfg.learning_rate,
                  policy_kwargs={"net_arch": list(cfg.net_arch)})
    if cfg.algo == "dqn":
        return cls(cfg.policy, venv, batch_size=cfg.batch_size, buffer_size=50_000,
                   learning_starts=min(1000, max(cfg.timesteps // 10, 1)),
                   exploration_fraction=0.3, **common)
    model = cls(cfg.policy, venv, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                n_epochs=cfg.n_epochs, ent_coef=cfg.ent_coef, **common)
    if (cfg.action_space in ("guarded", "candidates") and cfg.default_prior > 0
            and cfg.algo != "dqn"):
        import torch

        n = int(venv.action_space.n)
        # guarded: the heuristic's and the experts' moves; candidates: slot 0
        k = 1 if cfg.action_space == "candidates" else 1 + len(cfg.expert or ())
        with torch.no_grad():  # softmax(bias): actions < k share default_prior
            model.policy.action_net.bias[:k] += float(
                np.log(cfg.default_prior / k / (1.0 - cfg.default_prior) * max(n - k, 1)))
    return model


def save_recipe(path: str | os.PathLike, cfg: TrainConfig, extra: dict | None = None) -> None:
    """Write ``model.json``: what :class:`PolicyAgent` needs to rebuild the wrappers."""
    d = dataclasses.asdict(cfg)
    d["env_kwargs"] = {k: v for k, v in cfg.env_kwargs.items()
                       if isinstance(v, (str, int, float, bool, type(None)))}
    d.update(extra or {})
    Path(path).write_text(json.dumps(d, indent=2, default=str), encoding="utf-8")


def load_model(path: str | os.PathLike, algo: str | None = None) -> Any:
    """Load a saved model; the algorithm is read from the ``.json`` next to it if not given."""
    path = Path(path)
    if algo is None:
        recipe = read_recipe(path)
        algo = recipe.get("algo", "maskable-ppo")
    return algo_class(algo).load(str(path), device="cpu")


def read_recipe(path: Path) -> dict:
    side = path.with_suffix(".json")
    if side.is_file():
        return json.loads(side.read_text(encoding="utf-8"))
    return {}


class PolicyAgent(Agent):
    """A trained SB3 policy as an :class:`~gym_powergrid.agents.Agent` on the raw env.

    It takes pypownet's ``Dict`` observation, applies the training wrappers' transforms itself
    (flattening, unitary-action list, action mask) and returns a switch vector, so it runs in
    the :class:`~gym_powergrid.runner.Runner` and the agent benchmark like any baseline.

    Args:
        env: the environment (``Dict`` observations, ``MultiBinary`` actions).
        seed: unused (the policy acts deterministically unless ``deterministic=False``).
        path: a saved ``model.zip`` (its ``model.json`` gives the algorithm and wrappers);
            default ``$GYM_POWERGRID_MODEL``.
        model: an SB3 model object instead of ``path``.
        action_space, observation, min_elements, danger_threshold: the training recipe
            (read from ``model.json`` when a path is given; inferred from the model's spaces
            otherwise). With ``"guarded"`` actions the policy runs only in danger states and
            the heuristic plays the others, exactly as in training.
        top_k: the candidates recipe's DC slots (read from ``model.json``, default 4).
        heuristic, expert: the guarded or candidates recipe's agents (from ``model.json``; without
            it, ``heuristic`` defaults to ``"reconnect"`` and ``expert`` to none: give both
            with ``model=`` for a model trained with other ones).
        deterministic: act greedily with respect to the policy.
    """

    name = "sb3"

    def __init__(self, env: Any, seed: int | None = None, path: str | os.PathLike | None = None,
                 model: Any = None, action_space: str | None = None,
                 observation: str | None = None, min_elements: int | None = None,
                 danger_threshold: float | None = None, deterministic: bool = True,
                 heuristic: str | None = None, expert: Any = None,
                 top_k: int | None = None) -> None:
        super().__init__(env, seed)
        recipe: dict = {}
        if model is None:
            path = path or os.environ.get(MODEL_ENV_VAR)
            if not path:
                raise ValueError(f"PolicyAgent needs path= (a saved model .zip), model= or the "
                                 f"{MODEL_ENV_VAR} environment variable")
            recipe = read_recipe(Path(path))
            model = load_model(path, recipe.get("algo"))
        from gymnasium import spaces

        self.model = model
        self.deterministic = bool(deterministic)
        self.action_kind = action_space or recipe.get("action_space") or (
            "discrete" if isinstance(model.action_space, spaces.Discrete) else "multibinary")
        self.observation_kind = observation or recipe.get("observation") or (
            "dict" if isinstance(model.observation_space, spaces.Dict) else "flat")
        n_min = int(min_elements or recipe.get("min_elements", 4))
        self.maskable = type(model).__name__ == "MaskablePPO"
        from ..envs.guard import GuardedActions
        from ..envs.wrappers import DiscreteUnitaryActions, FlatObservation

        self._guard = None
        self._candidates = None
        self.slot_counts: dict[int, int] = {}
        if self.action_kind == "candidates":
            self._candidates = candidates_from_recipe(
                env, recipe, danger_threshold=danger_threshold, min_elements=min_elements,
                heuristic=heuristic, expert=expert, top_k=top_k)
            self._discrete = self._candidates
        elif self.action_kind == "guarded":
            threshold = danger_threshold if danger_threshold is not None else recipe.get(
                "danger_threshold", 0.95)
            self._guard = GuardedActions(env, threshold=float(threshold), min_elements=n_min,
                                         expert=expert or recipe.get("expert"),
                                         heuristic=heuristic or recipe.get("heuristic",
                                                                           "reconnect"))
            self._discrete = self._guard
        else:
            self._discrete = (DiscreteUnitaryActions(env, min_elements=n_min)
                              if self.action_kind == "discrete" else None)
        self._flat = FlatObservation(self._discrete or env) if (
            self.observation_kind == "flat" and self._candidates is None) else None
        inner = self._flat or self._discrete or env
        if inner.action_space != model.action_space:
            raise ValueError(f"the model acts in {model.action_space} but this env's "
                             f"{self.action_kind} actions are {inner.action_space}: was it "
                             "trained on another grid or with another min_elements?")
        self.last_choice = "do nothing"

    def _predict(self, observation: Any, mask: np.ndarray | None = None):
        x = self._flat.observation(observation) if self._flat is not None else observation
        kwargs = {} if mask is None or not self.maskable else {"action_masks": mask}
        a, _ = self.model.predict(x, deterministic=self.deterministic, **kwargs)
        return a

    def act(self, observation: Any) -> np.ndarray:
        if self._candidates is not None:
            move, slot, asked = self._candidates.decide(
                observation, lambda v, m: int(np.asarray(self._predict(v, m)).reshape(-1)[0]))
            if asked:
                self.slot_counts[slot] = self.slot_counts.get(slot, 0) + 1
            self.last_choice = self._candidates.describe(slot)
            return move
        if self._guard is not None:
            index, _ = self._guard.choose(
                observation, lambda o, m: int(np.asarray(self._predict(o, m)).reshape(-1)[0]))
            self.last_choice = self._guard.describe(index)
            return self._guard.to_switches(index, observation)
        mask = self._discrete.action_masks() if self._discrete is not None else None
        a = self._predict(observation, mask)
        if self._discrete is None:
            self.last_choice = "switches"
            return np.asarray(a, dtype=np.int8).reshape(-1)
        index = int(np.asarray(a).reshape(-1)[0])
        self.last_choice = self._discrete.describe(index)
        return self._discrete.to_switches(index)



    @property
    def stats(self) -> dict[str, float]:
        """With candidates: how often each slot was chosen in danger states (``slot_<i>``)."""
        return {f"slot_{i}": float(n) for i, n in sorted(self.slot_counts.items())}


def candidates_from_recipe(env: Any, recipe: dict, danger_threshold: float | None = None,
                           min_elements: int | None = None, heuristic: str | None = None,
                           expert: Any = None, top_k: int | None = None):
    """The :class:`~gym_powergrid.training.candidates.CandidateActions` of a saved recipe
    (``model.json``'s dict; explicit arguments win; a missing recipe gives the defaults)."""
    from .candidates import CandidateActions
    from .config import RECIPE_DEFAULTS

    threshold, _, default_heuristic, default_expert = RECIPE_DEFAULTS["candidates"]
    if expert is None:
        expert = recipe.get("expert", default_expert)
    return CandidateActions(
        env, threshold=float(danger_threshold if danger_threshold is not None
                             else recipe.get("danger_threshold", threshold)),
        min_elements=int(min_elements or recipe.get("min_elements", 4)),
        heuristic=heuristic or recipe.get("heuristic", default_heuristic), expert=expert,
        top_k=int(top_k if top_k is not None else recipe.get("top_k", 4)))
