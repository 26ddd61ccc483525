"""Wrappers: flat ``Box`` observations, pypownet's minimalist observations, and a ``Discrete``
action space over a curated list of unitary actions with an action mask.
"""

from __future__ import annotations

import itertools
import logging

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .observation import MINIMALIST_AC_KEYS, MINIMALIST_KEYS

logger = logging.getLogger(__name__)

#: Default keys of :class:`FlatObservation`: what changes within an env, in MLP-friendly form.
FLAT_DEFAULT_KEYS = (
    "active_loads", "active_productions", "voltage_productions", "ampere_flows", "lines_status",
    "are_loads_cut", "are_prods_cut", "timesteps_before_lines_reconnectable",
    "timesteps_before_lines_reactionable", "timesteps_before_nodes_reactionable",
    "timesteps_before_planned_maintenance", "planned_active_loads", "planned_active_productions",
    "date_hour", "date_day_of_week", "productions_nodes", "loads_nodes", "lines_or_nodes",
    "lines_ex_nodes",
)


class SubsetObservation(gym.ObservationWrapper):
    """Keep only some keys of the ``Dict`` observation."""

    def __init__(self, env: gym.Env, keys) -> None:
        super().__init__(env)
        self.keys = tuple(keys)
        missing = [k for k in self.keys if k not in env.observation_space.spaces]
        if missing:
            raise ValueError(f"unknown observation keys {missing}")
        self.observation_space = spaces.Dict({k: env.observation_space[k] for k in self.keys})

    def observation(self, observation: dict) -> dict:
        return {k: observation[k] for k in self.keys}


class MinimalistACObservation(SubsetObservation):
    """pypownet's ``MinimalistACObservation``: drops the fields fixed within an environment."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env, MINIMALIST_AC_KEYS)


class MinimalistObservation(SubsetObservation):
    """pypownet's ``MinimalistObservation``: what is meaningful in DC."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env, MINIMALIST_KEYS)


#: Upper bound of the capacity-usage features (ampere flow / thermal limit), clipped above.
USAGE_MAX = 2.0
#: Bound of the injection features (MW relative to the element's nominal), clipped to [-b, b].
INJECTION_MAX = 3.0
#: Bound of the per-unit voltage features, clipped to [0, b].
VOLTAGE_MAX = 2.0
#: Steps (a day of hourly steps) the broken / maintenance countdown is divided by, at least.
RECONNECT_STEPS_MIN = 24


class FlatObservation(gym.ObservationWrapper):
    """A flat float32 ``Box`` of order-1 features for neural policies, with exact bounds.

    The layout is the concatenation of ``keys`` in order (``self.slices[key]`` gives each
    key's slice); every feature is scaled, then clipped to its bounds (``observation_space``'s
    ``low`` / ``high``, so ``observation_space.contains(obs)`` always holds; NaN reads 0):

    ==========================================  ====================================  ==========
    keys                                        feature                               bounds
    ==========================================  ====================================  ==========
    ampere_flows                                capacity usage: A / thermal limit     [0, 2]
    active_loads, planned_active_loads,         MW / the load's nominal MW (the       [-3, 3]
    reactive_loads, planned_reactive_loads      reference case's, at least 1 MW)
    active_productions,                         MW / the production's capacity         [-3, 3]
    planned_active_productions,                 (``prod_p_max_mw``; its reference MW
    reactive_productions                        where unknown, at least 1 MW)
    voltage_loads, voltage_productions,         per-unit voltage                      [0, 2]
    planned_voltage_productions,
    voltage_flows_origin / _extremity
    active/reactive_flows_origin / _extremity   MW / the line's limit in MVA at 1 pu  [-3, 3]
    timesteps_before_lines_reactionable         / line cooldown of the rules          [0, 1]
    timesteps_before_nodes_reactionable         / substation cooldown of the rules    [0, 1]
    timesteps_before_lines_reconnectable        / max(broken durations, 24 steps)     [0, 1]
    timesteps_before_planned_maintenance        / maintenance horizon of the rules    [0, 1]
    date_hour, date_minute, date_day_of_week    / 23, / 59, / 6 (Monday 0)            [0, 1]
    date_month, date_day                        (month - 1) / 11, (day - 1) / 30      [0, 1]
    lines_status, are_loads_cut, are_prods_cut  0 / 1 bits                            [0, 1]
    productions/loads/lines_or/lines_ex_nodes   busbar bits                           [0, 1]
    ==========================================  ====================================  ==========

    The cooldowns and the maintenance horizon come from the env's ``config`` (pypownet's
    ``configuration.yaml``); other keys raise ``ValueError``.
    """

    def __init__(self, env: gym.Env, keys=FLAT_DEFAULT_KEYS) -> None:
        super().__init__(env)
        self.keys = tuple(keys)
        u = env.unwrapped
        grid, cfg = u.grid, u.config
        unknown = [k for k in self.keys if k not in env.observation_space.spaces]
        if unknown:
            raise ValueError(f"unknown observation keys {unknown}")
        load_nom = np.maximum(np.abs(grid.load_p_mw), 1.0)
        cap = np.where(np.isfinite(grid.prod_p_max_mw), grid.prod_p_max_mw,
                       np.abs(grid.prod_p_mw))
        prod_nom = np.maximum(np.abs(cap), 1.0)
        reconnect = max(cfg.n_timesteps_hard_overflow_is_broken,
                        cfg.n_timesteps_soft_overflow_is_broken, RECONNECT_STEPS_MIN)
        counters = {"timesteps_before_lines_reactionable":
                    cfg.n_timesteps_actionned_line_reactionable,
                    "timesteps_before_nodes_reactionable":
                    cfg.n_timesteps_actionned_node_reactionable,
                    "timesteps_before_lines_reconnectable": reconnect,
                    "timesteps_before_planned_maintenance": cfg.n_timesteps_horizon_maintenance}
        dates = {"date_hour": (0, 23), "date_minute": (0, 59), "date_day_of_week": (0, 6),
                 "date_month": (1, 11), "date_day": (1, 30)}
        self._rules: dict[str, tuple] = {}  # key -> (offset, divisor, low, high)
        self.slices: dict[str, slice] = {}
        lows, highs = [], []
        start = 0
        for k in self.keys:
            n = int(np.prod(env.observation_space[k].shape))
            if k == "ampere_flows":
                rule = (0.0, None, 0.0, USAGE_MAX)  # divisor: the step's thermal limits
            elif k.endswith("_loads") and ("active" in k or "reactive" in k):
                rule = (0.0, load_nom, -INJECTION_MAX, INJECTION_MAX)
            elif k.endswith("_productions") and ("active" in k or "reactive" in k):
                rule = (0.0, prod_nom, -INJECTION_MAX, INJECTION_MAX)
            elif k.startswith(("voltage_", "planned_voltage")):
                rule = (0.0, 1.0, 0.0, VOLTAGE_MAX)
            elif k.startswith(("active_flows", "reactive_flows")):
                rule = (0.0, "mva", -INJECTION_MAX, INJECTION_MAX)
            elif k in counters:
                rule = (0.0, float(max(counters[k], 1)), 0.0, 1.0)
            elif k in dates:
                rule = (float(dates[k][0]), float(dates[k][1]), 0.0, 1.0)
            elif k in ("lines_status", "are_loads_cut", "are_prods_cut") or k.endswith(
                    "_nodes"):
                rule = (0.0, 1.0, 0.0, 1.0)
            else:
                raise ValueError(f"FlatObservation has no scaling rule for {k!r}; keys with "
                                 "one are listed in its docstring")
            self._rules[k] = rule
            self.slices[k] = slice(start, start + n)
            lows.append(np.full(n, rule[2], np.float32))
            highs.append(np.full(n, rule[3], np.float32))
            start += n
        self._mva_scale = np.sqrt(3.0) * grid.sub_vn_kv[grid.line_sub_or_idx] / 1000.0
        self.observation_space = spaces.Box(np.concatenate(lows), np.concatenate(highs),
                                            dtype=np.float32)

    def _scale(self, key: str, value: np.ndarray, obs: dict) -> np.ndarray:
        offset, div, low, high = self._rules[key]
        v = np.asarray(value, dtype=np.float64)  # (n,), or (N, n) for a batch
        if div is None or isinstance(div, str):
            lim = np.asarray(obs["thermal_limits"], dtype=np.float64)
            if isinstance(div, str):  # MW / MVA limit: A x sqrt(3) x kV / 1000
                lim = lim * self._mva_scale
            v = np.divide(v, lim, out=np.zeros_like(v), where=lim > 0)
        else:
            v = (v - offset) / div
        return np.clip(np.nan_to_num(v, nan=0.0, posinf=high, neginf=low), low, high)

    def observation(self, observation: dict) -> np.ndarray:
        out = np.empty(self.observation_space.shape, dtype=np.float32)
        for k in self.keys:
            out[self.slices[k]] = self._scale(k, observation[k], observation)
        return out

    def observation_batch(self, observation: dict) -> np.ndarray:
        """:meth:`observation` of a batched ``Dict`` observation (arrays (N, n), the native
        vector env's): a float32 array (N, D), row ``i`` equal to ``observation`` of grid i."""
        n = next(iter(observation.values())).shape[0]
        out = np.empty((n,) + self.observation_space.shape, dtype=np.float32)
        for k in self.keys:
            out[:, self.slices[k]] = self._scale(k, observation[k], observation)
        return out


def substation_configurations(n_elements: int, max_configurations: int | None = None):
    """Distinct busbar assignments of a substation's elements (first element on busbar 0).

    Returns an (m, n_elements) int8 array, the all-zero (reference) configuration first.
    """
    if n_elements <= 1:
        return np.zeros((1, max(n_elements, 0)), dtype=np.int8)
    rows = []
    for bits in itertools.product((0, 1), repeat=n_elements - 1):
        rows.append((0,) + bits)
        if max_configurations is not None and len(rows) >= max_configurations:
            break
    return np.array(rows, dtype=np.int8)


class DiscreteUnitaryActions(gym.ActionWrapper):
    """``Discrete`` actions over a curated list of unitary actions, with an action mask.

    The list: 0 = do-nothing; then one entry per line (toggle its status); then, for each
    substation with at least ``min_elements`` elements, each valid target configuration of its
    busbars (each busbar used holds at least one line end and, if split, at least two elements;
    busbar labels are symmetric so the first element stays on busbar 0), at most
    ``max_configurations_per_substation`` per substation. Targets are converted to switches
    relative to the current topology when the action is taken.

    ``action_masks()`` (sb3-contrib's MaskablePPO convention) marks illegal actions False:
    lines or substations on cooldown, reconnection of a broken / in-maintenance line.
    """

    def __init__(self, env: gym.Env, min_elements: int = 4,
                 max_configurations_per_substation: int = 256) -> None:
        super().__init__(env)
        u = env.unwrapped
        self.helper = u.action_helper
        grid = u.grid
        self._n_nodes = self.helper.offset_status
        self.actions: list[tuple] = [("do_nothing",)]
        for line in range(grid.n_line):
            self.actions.append(("line", line))
        is_line_end = np.concatenate([np.zeros(grid.n_prod + grid.n_load, bool),
                                      np.ones(2 * grid.n_line, bool)])
        for s in range(grid.n_sub):
            pos = self.helper.substation_element_indices(s)
            if len(pos) < min_elements:
                continue
            cfgs = substation_configurations(len(pos), max_configurations_per_substation * 4)
            kept = 0
            for cfg in cfgs[1:]:
                if self._valid(cfg, is_line_end[pos]):
                    self.actions.append(("substation", s, pos, cfg))
                    kept += 1
                    if kept >= max_configurations_per_substation:
                        logger.info("substation %d: kept the first %d configurations", s, kept)
                        break
        self.action_space = spaces.Discrete(len(self.actions))
        self._tables()

    def _tables(self) -> None:
        """Per action: its line (-1), its substation (-1), its switch vector from the
        reference, and for substation targets the nodes it sets (for the batched methods)."""
        n, m, nodes = len(self.actions), self.helper.action_length, self._n_nodes
        self._action_line = np.full(n, -1, np.int64)
        self._action_sub = np.full(n, -1, np.int64)
        self._switches = np.zeros((n, m), np.int8)
        self._target = np.zeros((n, nodes), np.int8)
        self._sets = np.zeros((n, nodes), np.bool_)
        for i, a in enumerate(self.actions):
            if a[0] == "line":
                self._action_line[i] = a[1]
                self._switches[i, self.helper.offset_status + a[1]] = 1
            elif a[0] == "substation":
                self._action_sub[i] = a[1]
                self._target[i, a[2]] = a[3]
                self._sets[i, a[2]] = True
        self._line_rows = np.flatnonzero(self._action_line >= 0)
        self._sub_rows = np.flatnonzero(self._action_sub >= 0)

    @staticmethod
    def _valid(cfg: np.ndarray, line_end: np.ndarray) -> bool:
        for bus in (0, 1):
            on = cfg == bus
            if on.sum() == 0:
                continue
            if on.sum() < 2 or not line_end[on].any():
                return False
        return True

    def describe(self, index: int) -> str:
        a = self.actions[int(index)]
        if a[0] == "do_nothing":
            return "do nothing"
        if a[0] == "line":
            return f"switch line {a[1]}"
        return f"substation {a[1]} -> configuration {''.join(map(str, a[3]))}"

    def action(self, action) -> np.ndarray:
        if not self.action_space.contains(np.int64(action)) and not (
                isinstance(action, (int, np.integer)) and 0 <= int(action) < len(self.actions)):
            raise ValueError(f"action must be an integer in [0, {len(self.actions) - 1}], "
                             f"got {action!r}")
        return self.to_switches(int(action))

    def to_switches(self, index: int) -> np.ndarray:
        """The MultiBinary switch vector realising action ``index`` from the current state."""
        st = self.env.unwrapped.state
        nodes = (np.zeros((1, self._n_nodes), np.int8) if st is None
                 else st.topo[None, :self._n_nodes])
        return self.batch_to_switches(np.array([index]), nodes)[0]

    def batch_to_switches(self, indices: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Switch vectors (N, action length) of actions ``indices`` (N,) from N grids' current
        nodes (N, n_nodes), e.g. the native vector env's ``productions_nodes`` ... rows."""
        idx = np.asarray(indices, dtype=np.int64)
        out = self._switches[idx]
        sets = self._sets[idx]
        out[:, :self._n_nodes] |= np.where(sets, nodes ^ self._target[idx], 0).astype(np.int8)
        return out

    def action_masks(self) -> np.ndarray:
        st = self.env.unwrapped.state
        if st is None:
            return np.ones(len(self.actions), dtype=bool)
        return self.batch_action_masks(st.line_cooldown[None], st.line_status[None],
                                       st.line_unavailable[None], st.sub_cooldown[None])[0]

    def batch_action_masks(self, line_cooldown: np.ndarray, line_status: np.ndarray,
                           line_unavailable: np.ndarray, sub_cooldown: np.ndarray) -> np.ndarray:
        """Masks (N, n_actions) of N grids from their counters (N, n_line) / (N, n_sub): the
        legality rule of :meth:`action_masks` (which calls this with N = 1)."""
        n = line_cooldown.shape[0]
        mask = np.ones((n, len(self.actions)), dtype=bool)
        lines = self._action_line[self._line_rows]
        mask[:, self._line_rows] = ~((line_cooldown[:, lines] > 0) | (
            (line_status[:, lines] == 0) & (line_unavailable[:, lines] > 0)))
        subs = self._action_sub[self._sub_rows]
        mask[:, self._sub_rows] = ~(sub_cooldown[:, subs] > 0)
        return mask
