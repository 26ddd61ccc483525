"""Reward signals and per-step constraint costs.

A reward is a callable ``reward(obs, action, flag, env) -> dict[str, float]`` returning named
components; the env's scalar reward is their sum and ``info["reward_components"]`` holds the
dict. ``flag`` is None or one of :data:`FLAGS` (why the step is special).

Shipped rewards (selectable by name with ``reward=...``):

* ``"survival"`` (the default of every registered ``PowerGrid-*`` id): learning-friendly and
  bounded. Each surviving step is worth ``0.5`` (component ``survival``) plus
  ``0.5 * margin`` (``margin``: the mean of ``1 - usage`` over in-service lines, clipped to
  [0, 1]; ``usage`` = ampere flow / thermal limit) minus the action cost
  (``action_cost``: ``0.25 x`` pypownet's switch cost, 0.1 per node switch, 0.2 per line switch
  and per refused switch, capped at 0.2; an action over the limits costs the cap). A
  surviving step is therefore worth between :data:`SURVIVAL_STEP_MIN` (0.3) and
  :data:`SURVIVAL_STEP_MAX` (1.0); the game-over step is worth :data:`SURVIVAL_GAME_OVER`
  (-1) and ends the episode, so a game over is always worth less than surviving, whatever
  the agent would have collected afterwards.
* ``"pypownet"``: pypownet's five sub-rewards of its ``defaultXX`` environments (loads cut,
  productions cut, action cost, distance to the reference topology, line capacity usage),
  scaled by the grid size, with pypownet's flag rewards at game over; the default of parameter
  folders used directly (``PowerGridEnv(parameters=...)``, ``reward: pypownet`` in their
  ``configuration.yaml``). **Gymnasium pitfall**: its sum is always <= 0 and a game over
  costs only about ``-n_substations`` once, after which the episode ends and so does the stream
  of negative rewards; a return-maximising learner therefore learns to end episodes as early
  as possible. Use it for pypownet-comparable scores, not for training.
* ``"zero"``: pypownet's default template (always 0).

Constraint costs (:func:`constraint_costs`), for constrained RL (Lagrangian PPO and the like):
every ``step`` puts ``info["constraint_costs"] = {"overloaded_lines": n, "loads_cut": n,
"prods_cut": n}`` (counts after the step: in-service lines above their thermal limit, isolated
loads, isolated productions) and ``info["cost"]``, their sum (Safety-Gymnasium's key),
whatever the reward.

A custom reward is any callable with the signature above, or a pypownet ``reward_signal.py``
file in the parameter folder (its ``CustomRewardSignal.compute_reward(observation, action,
flag)`` is called with an attribute-style observation). Such files are executed as trusted
Python code: only use parameter folders you trust.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..core.obs_kernel import (
    FT_DISTANCE,
    FT_LINE_SWITCHES,
    FT_LOADS_CUT,
    FT_MEAN_MARGIN,
    FT_N_ON,
    FT_NODE_SWITCHES,
    FT_OVERLOADED,
    FT_PRODS_CUT,
    FT_SUM_SQ_USAGE,
)

logger = logging.getLogger(__name__)

FLAG_DIVERGED = "diverged"
FLAG_TOO_MANY_LOADS_CUT = "too_many_loads_cut"
FLAG_TOO_MANY_PRODS_CUT = "too_many_prods_cut"
#: some switches were refused (cooldown, line not reconnectable); ``n_illegal_reconnections``
#: then counts every refused switch (pypownet's three kinds of illegal moves)
FLAG_ILLEGAL = "illegal_action"
#: the action touched more than the limits allow and was replaced by do-nothing
FLAG_TOO_MANY_SWITCHES = "too_many_switches"
FLAGS = (FLAG_DIVERGED, FLAG_TOO_MANY_LOADS_CUT, FLAG_TOO_MANY_PRODS_CUT, FLAG_ILLEGAL,
         FLAG_TOO_MANY_SWITCHES)

COMPONENTS = ("loads_cut", "prods_cut", "action_cost", "distance_to_reference", "line_usage")

RewardFn = Callable[..., dict]


def _switch_counts(action: np.ndarray, n_line: int) -> tuple[int, int]:
    a = np.asarray(action)
    return int(a[:-n_line].sum()), int(a[-n_line:].sum())


def _distance(obs: dict) -> int:
    d = 0
    for cur, ini in (("productions_nodes", "initial_productions_nodes"),
                     ("loads_nodes", "initial_loads_nodes"),
                     ("lines_or_nodes", "initial_lines_or_nodes"),
                     ("lines_ex_nodes", "initial_lines_ex_nodes")):
        d += int(np.count_nonzero(obs[cur] != obs[ini]))
    return d


def _usage(obs: dict) -> np.ndarray:
    lim = obs["thermal_limits"]
    return np.divide(obs["ampere_flows"], lim, out=np.zeros_like(lim), where=lim > 0)


class PypownetReward:
    """pypownet's ``defaultXX`` reward signal, scaled with the number of substations."""

    def __init__(self, n_sub: int) -> None:
        c = float(n_sub)
        self.line_usage_factor = -1.0
        self.distance_factor = -0.02
        self.loads_cut_factor = -c / 5.0
        self.prods_cut_factor = -c / 10.0
        self.game_over_reward = -c
        self.illegal_reconnection_factor = -c / 100.0  # per refused switch
        self.too_many_switches_reward = -5.0 * c  # action over the limits (pypownet: -5 c)
        self.line_switch_cost = 0.2
        self.node_switch_cost = 0.1

    def _illegal(self, flag: str | None, n_refused: int) -> float:
        """pypownet's penalty for illegal moves, added to the action cost."""
        if flag == FLAG_TOO_MANY_SWITCHES:
            return self.too_many_switches_reward
        return self.illegal_reconnection_factor * n_refused

    def action_cost(self, action: np.ndarray, n_line: int) -> float:
        nodes, lines = _switch_counts(action, n_line)
        return self.node_switch_cost * nodes + self.line_switch_cost * lines

    def __call__(self, obs: dict, action: np.ndarray, flag: str | None, env=None,
                 n_illegal_reconnections: int = 0) -> dict:
        n_line = obs["lines_status"].shape[0]
        out = dict.fromkeys(COMPONENTS, 0.0)
        if flag == FLAG_DIVERGED:
            out["action_cost"] = -self.action_cost(action, n_line)
            out["distance_to_reference"] = self.game_over_reward
            return out
        if flag == FLAG_TOO_MANY_LOADS_CUT:
            out["loads_cut"] = self.game_over_reward
            return out
        if flag == FLAG_TOO_MANY_PRODS_CUT:
            out["prods_cut"] = self.game_over_reward
            return out
        out["loads_cut"] = self.loads_cut_factor * float(np.sum(obs["are_loads_cut"]))
        out["prods_cut"] = self.prods_cut_factor * float(np.sum(obs["are_prods_cut"]))
        out["action_cost"] = (-self.action_cost(action, n_line)
                              + self._illegal(flag, n_illegal_reconnections))
        out["distance_to_reference"] = self.distance_factor * _distance(obs)
        out["line_usage"] = self.line_usage_factor * float(np.sum(np.square(_usage(obs))))
        return out


    def from_features(self, f: np.ndarray, flag: str | None, n_illegal: int = 0) -> dict:
        """Same components from the kernel's reward features (numba fast path)."""
        f = f.tolist()  # Python floats: the same doubles, cheaper arithmetic
        out = dict.fromkeys(COMPONENTS, 0.0)
        cost = (self.node_switch_cost * f[FT_NODE_SWITCHES]
                + self.line_switch_cost * f[FT_LINE_SWITCHES])
        if flag == FLAG_DIVERGED:
            out["action_cost"] = -float(cost)
            out["distance_to_reference"] = self.game_over_reward
            return out
        if flag == FLAG_TOO_MANY_LOADS_CUT:
            out["loads_cut"] = self.game_over_reward
            return out
        if flag == FLAG_TOO_MANY_PRODS_CUT:
            out["prods_cut"] = self.game_over_reward
            return out
        out["loads_cut"] = self.loads_cut_factor * float(f[FT_LOADS_CUT])
        out["prods_cut"] = self.prods_cut_factor * float(f[FT_PRODS_CUT])
        out["action_cost"] = float(-cost + self._illegal(flag, n_illegal))
        out["distance_to_reference"] = self.distance_factor * float(f[FT_DISTANCE])
        out["line_usage"] = self.line_usage_factor * float(f[FT_SUM_SQ_USAGE])
        return out


#: Bounds of the ``"survival"`` reward: any surviving step, and the game-over step.
SURVIVAL_STEP_MIN, SURVIVAL_STEP_MAX, SURVIVAL_GAME_OVER = 0.3, 1.0, -1.0
_GAME_OVER_FLAGS = (FLAG_DIVERGED, FLAG_TOO_MANY_LOADS_CUT, FLAG_TOO_MANY_PRODS_CUT)


class SurvivalReward:
    """Bounded learning reward: 0.5 + 0.5 x line margin - action cost per step; -1 at game over.

    See the module docstring for the exact definition and bounds.
    """

    survival = 0.5
    margin_weight = 0.5
    cost_weight = 0.25
    max_action_cost = 0.2
    game_over_reward = SURVIVAL_GAME_OVER

    def __init__(self, n_sub: int = 0) -> None:
        self.cost = PypownetReward(n_sub)

    def _components(self, flag: str | None, mean_margin: float, switch_cost: float,
                    n_illegal: int) -> dict:
        if flag in _GAME_OVER_FLAGS:
            return {"survival": self.game_over_reward, "margin": 0.0, "action_cost": 0.0}
        cost = switch_cost + self.cost.line_switch_cost * n_illegal
        if flag == FLAG_TOO_MANY_SWITCHES:
            cost = self.max_action_cost / self.cost_weight
        return {"survival": self.survival,
                "margin": self.margin_weight * min(max(float(mean_margin), 0.0), 1.0),
                "action_cost": -min(self.max_action_cost, self.cost_weight * float(cost))}

    def __call__(self, obs: dict, action: np.ndarray, flag: str | None, env=None,
                 n_illegal_reconnections: int = 0) -> dict:
        n_line = obs["lines_status"].shape[0]
        on = obs["lines_status"].astype(bool)
        usage = _usage(obs)[on]
        margin = float(np.mean(1.0 - usage)) if usage.size else 0.0
        return self._components(flag, margin, self.cost.action_cost(action, n_line),
                                n_illegal_reconnections)

    def from_features(self, f: np.ndarray, flag: str | None, n_illegal: int = 0) -> dict:
        f = f.tolist()  # Python floats: the same doubles, cheaper arithmetic
        margin = float(f[FT_MEAN_MARGIN]) if f[FT_N_ON] > 0 else 0.0
        cost = (self.cost.node_switch_cost * f[FT_NODE_SWITCHES]
                + self.cost.line_switch_cost * f[FT_LINE_SWITCHES])
        return self._components(flag, margin, float(cost), n_illegal)

    def batch_from_features(self, f: np.ndarray, game_over: np.ndarray, too_many: np.ndarray,
                            n_illegal: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`from_features` of N steps at once (the native vector env): ``f`` is (N, 8),
        the flags and counts (N,); row ``i`` equals ``from_features(f[i], ...)``."""
        margin = np.where(f[:, FT_N_ON] > 0, f[:, FT_MEAN_MARGIN], 0.0)
        cost = (self.cost.node_switch_cost * f[:, FT_NODE_SWITCHES]
                + self.cost.line_switch_cost * f[:, FT_LINE_SWITCHES])
        cost = cost + self.cost.line_switch_cost * n_illegal
        cost = np.where(too_many, self.max_action_cost / self.cost_weight, cost)
        return {"survival": np.where(game_over, self.game_over_reward, self.survival),
                "margin": np.where(game_over, 0.0,
                                   self.margin_weight * np.clip(margin, 0.0, 1.0)),
                "action_cost": np.where(game_over, 0.0, -np.minimum(
                    self.max_action_cost, self.cost_weight * cost))}


def constraint_costs(obs: dict) -> dict[str, int]:
    """Per-step constraint costs: overloaded in-service lines, isolated loads and productions."""
    on = np.asarray(obs["lines_status"]) != 0
    over = int(np.count_nonzero((_usage(obs) > 1.0) & on))
    # the cut flags are 0/1: counting them is their sum
    return {"overloaded_lines": over, "loads_cut": int(np.count_nonzero(obs["are_loads_cut"])),
            "prods_cut": int(np.count_nonzero(obs["are_prods_cut"]))}


def costs_from_features(f: np.ndarray) -> dict[str, int]:
    """:func:`constraint_costs` from the kernel's reward features (numba fast path): the same
    counts, computed by the observation kernel from the same float32 values."""
    f = f.tolist()
    return {"overloaded_lines": int(f[FT_OVERLOADED]), "loads_cut": int(f[FT_LOADS_CUT]),
            "prods_cut": int(f[FT_PRODS_CUT])}


def batch_costs_from_features(f: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`costs_from_features` of N steps (``f`` (N, n_features)): int64 arrays (N,)."""
    return {"overloaded_lines": f[:, FT_OVERLOADED].astype(np.int64),
            "loads_cut": f[:, FT_LOADS_CUT].astype(np.int64),
            "prods_cut": f[:, FT_PRODS_CUT].astype(np.int64)}


def batch_constraint_costs(obs: dict) -> dict[str, np.ndarray]:
    """:func:`constraint_costs` of a batched observation (arrays (N, n)): int64 arrays (N,)."""
    on = np.asarray(obs["lines_status"]) != 0
    over = np.count_nonzero((_usage(obs) > 1.0) & on, axis=-1).astype(np.int64)
    return {"overloaded_lines": over,
            "loads_cut": np.sum(obs["are_loads_cut"], axis=-1, dtype=np.int64),
            "prods_cut": np.sum(obs["are_prods_cut"], axis=-1, dtype=np.int64)}


class ZeroReward:
    """pypownet's template reward: always 0."""

    def __init__(self, n_sub: int = 0) -> None:
        pass

    def __call__(self, obs, action, flag, env=None, n_illegal_reconnections: int = 0) -> dict:
        return {"reward": 0.0}


REWARDS: dict[str, type] = {"pypownet": PypownetReward, "survival": SurvivalReward,
                            "zero": ZeroReward}


class PypownetRewardFile:
    """Adapter for a pypownet ``reward_signal.py`` (trusted code) defining CustomRewardSignal."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        spec = importlib.util.spec_from_file_location(f"_reward_signal_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        _install_pypownet_shim()
        spec.loader.exec_module(module)  # trusted code, documented
        if not hasattr(module, "CustomRewardSignal"):
            raise ValueError(f"{path} defines no CustomRewardSignal class; pypownet reward files "
                             "must define one with a compute_reward(observation, action, flag)")
        self.signal = module.CustomRewardSignal()
        self.path = path
        logger.info("loaded reward signal from %s (executed as trusted code)", path)

    def __call__(self, obs: dict, action: np.ndarray, flag: str | None, env=None,
                 n_illegal_reconnections: int = 0) -> dict:
        o = SimpleNamespace(**obs)
        o.are_productions_cut = obs["are_prods_cut"]
        helper = env.action_helper if env is not None else None
        act = _PypownetActionView(action, helper) if helper is not None else action
        values = self.signal.compute_reward(o, act, _flag_exception(flag, n_illegal_reconnections))
        values = np.atleast_1d(np.asarray(values, dtype=float))
        names = COMPONENTS if len(values) == len(COMPONENTS) else [
            f"r{i}" for i in range(len(values))]
        return {n: float(v) for n, v in zip(names, values)}


class _PypownetActionView:
    """Minimal pypownet Action look-alike for reward files."""

    def __init__(self, action: np.ndarray, helper) -> None:
        self._parts = helper.split(np.asarray(action))
        self.as_array = lambda: np.asarray(action)

    def get_prods_switches_subaction(self):
        return self._parts["prods"]

    def get_loads_switches_subaction(self):
        return self._parts["loads"]

    def get_lines_or_switches_subaction(self):
        return self._parts["lines_or"]

    def get_lines_ex_switches_subaction(self):
        return self._parts["lines_ex"]

    def get_lines_status_subaction(self):
        return self._parts["lines_status"]


def _install_pypownet_shim() -> None:
    """Make ``import pypownet.environment / pypownet.reward_signal`` work inside reward files."""
    import sys
    import types

    if "pypownet" in sys.modules:
        return
    pkg = types.ModuleType("pypownet")
    env_mod = types.ModuleType("pypownet.environment")
    rs_mod = types.ModuleType("pypownet.reward_signal")
    for name in ("DivergingLoadflowException", "TooManyProductionsCut", "TooManyConsumptionsCut",
                 "IllegalActionException"):
        setattr(env_mod, name, type(name, (Exception,), {}))

    class RewardSignal:
        def __init__(self):
            pass

        def compute_reward(self, observation, action, flag):
            return [0.0]

    rs_mod.RewardSignal = RewardSignal
    pkg.environment = env_mod
    pkg.reward_signal = rs_mod
    sys.modules.update({"pypownet": pkg, "pypownet.environment": env_mod,
                        "pypownet.reward_signal": rs_mod})


def _flag_exception(flag: str | None, n_illegal: int):
    if flag is None:
        return None
    import sys

    env_mod = sys.modules["pypownet.environment"]
    cls = {FLAG_DIVERGED: "DivergingLoadflowException",
           FLAG_TOO_MANY_LOADS_CUT: "TooManyConsumptionsCut",
           FLAG_TOO_MANY_PRODS_CUT: "TooManyProductionsCut",
           FLAG_ILLEGAL: "IllegalActionException",
           FLAG_TOO_MANY_SWITCHES: "IllegalActionException"}[flag]
    exc = getattr(env_mod, cls)(flag)
    exc.illegal_lines_reconnections = np.ones(n_illegal)
    # pypownet's IllegalActionException API, as its reward_signal.py files read it
    too_many = flag == FLAG_TOO_MANY_SWITCHES
    exc.get_has_too_much_activations = lambda: too_many
    exc.get_illegal_broken_lines_reconnections = lambda: np.ones(n_illegal)
    exc.get_illegal_oncoolown_lines_switches = lambda: None
    exc.get_illegal_oncoolown_substations_switches = lambda: None
    return exc


def make_reward(spec, n_sub: int, reward_file: Path | None = None) -> RewardFn:
    """Resolve a reward: a name, a callable, or ``"file"`` for the folder's reward_signal.py."""
    if callable(spec):
        return spec
    if spec == "file":
        if reward_file is None:
            raise ValueError("reward='file' needs a reward_signal.py in the parameter folder")
        return PypownetRewardFile(reward_file)
    if spec not in REWARDS:
        raise ValueError(f"unknown reward {spec!r}; choose one of {sorted(REWARDS)}, 'file' "
                         "(the parameter folder's reward_signal.py) or pass a callable")
    return REWARDS[spec](n_sub)
