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


class FlatObservation(gym.ObservationWrapper):
    """A flat float32 ``Box`` observation for MLP policies.

    Values are scaled to be O(1): powers are divided by the grid's total reference load,
    ampere flows by thermal limits (so they read as capacity usage), counters by 10, the hour by
    24 and the weekday by 7. The layout is the concatenation of ``keys`` in order;
    ``self.slices[key]`` gives each key's slice.
    """

    def __init__(self, env: gym.Env, keys=FLAT_DEFAULT_KEYS) -> None:
        super().__init__(env)
        self.keys = tuple(keys)
        grid = env.unwrapped.grid
        self._p_scale = float(max(np.sum(np.abs(grid.load_p_mw)), 1.0)) / max(grid.n_load, 1)
        self.slices: dict[str, slice] = {}
        start = 0
        for k in self.keys:
            n = int(np.prod(env.observation_space[k].shape))
            self.slices[k] = slice(start, start + n)
            start += n
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(start,), dtype=np.float32)
        self._buf = np.zeros(start, dtype=np.float32)

    def _scale(self, key: str, value: np.ndarray, obs: dict) -> np.ndarray:
        v = np.asarray(value, dtype=np.float32)
        if key == "ampere_flows":
            lim = np.asarray(obs["thermal_limits"], dtype=np.float32)
            return np.divide(v, lim, out=np.zeros_like(v), where=lim > 0)
        if key.startswith(("active_", "reactive_", "planned_active", "planned_reactive")):
            return v / self._p_scale
        if key.startswith("timesteps_"):
            return v / 10.0
        if key == "date_hour":
            return v / 24.0
        if key == "date_day_of_week":
            return v / 7.0
        if key == "date_month":
            return v / 12.0
        return v

    def observation(self, observation: dict) -> np.ndarray:
        out = np.empty_like(self._buf)
        for k in self.keys:
            out[self.slices[k]] = self._scale(k, observation[k], observation).ravel()
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
        a = self.actions[index]
        out = self.helper.do_nothing()
        if a[0] == "line":
            out[self.helper.offset_status + a[1]] = 1
        elif a[0] == "substation":
            st = self.env.unwrapped.state
            current = st.nodes()[a[2]]
            out[a[2]] = current ^ a[3]
        return out

    def action_masks(self) -> np.ndarray:
        st = self.env.unwrapped.state
        mask = np.ones(len(self.actions), dtype=bool)
        if st is None:
            return mask
        for i, a in enumerate(self.actions):
            if a[0] == "line":
                line = a[1]
                if st.line_cooldown[line] > 0 or (
                        not st.line_status[line] and st.line_unavailable[line] > 0):
                    mask[i] = False
            elif a[0] == "substation" and st.sub_cooldown[a[1]] > 0:
                mask[i] = False
        return mask
