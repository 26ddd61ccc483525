"""Native vector env: N grids stepped in one numba call, parallel over the grids.

``gymnasium.make_vec("PowerGrid-case14-v0", num_envs=64, vectorization_mode="vector_entry_point")``
returns a :class:`PowerGridVectorEnv`. Each grid has its own chronic, seed and state and plays
exactly the episodes of a single env ``gymnasium.make(id)`` reset with the same seed (grid
``i`` takes ``seed + i``, as Gymnasium's ``SyncVectorEnv``).

How it works: the vector env holds N ordinary :class:`PowerGridEnv` objects for what is rare
(construction, seeding, chronic choice, ``reset()`` with its cascade step) and owns the stacked
hot-path arrays (topology, counters, warm-start voltages, power-flow workspaces, output
buffers). A step is one :func:`~gym_powergrid.core.vector_kernel.vector_step` call running the
single env's :func:`~gym_powergrid.core.step_kernel.env_step` on every row, then vectorised
numpy for rewards, termination and ``info``. After a sub-env resets, its state is copied into
its row; each sub-env's ``state`` is a view of its row, so per-env helpers (action masks, the
discrete actions' switches) read the live state.

* **Observations**: a ``Dict`` of (N, n) arrays, views into three buffers (float32, int32,
  int8). With ``copy=True`` (default) each step returns fresh arrays; with ``copy=False`` the
  arrays are views of buffers the next ``step``/``reset`` overwrites (copy what you keep):
  the same view objects every step, in a new dict.
* **Autoreset**: ``autoreset_mode`` ``"NextStep"`` (default), ``"SameStep"`` (the reset
  observation is returned at once; ``info["final_obs"]`` / ``info["final_info"]``) or
  ``"Disabled"`` (reset ended grids with ``reset(options={"reset_mask": mask})``).
* **Rewards**: the built-in ``survival`` reward is computed for all grids at once; any other
  reward is computed grid by grid with the single env's code (slower, same values).
* ``terminated`` / ``truncated`` as the single env, with the registered ``TimeLimit``
  (``max_episode_steps``).
* ``info``: :mod:`gym_powergrid.envs.vector_info` (every key of the single env's, with masks).

Needs the numba backends (``loadflow_backend`` ``numba`` or ``pypower``); no rendering and no
co-simulation hook (use ``vectorization_mode="sync"`` for those).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..core.game_rules import (
    EV_HAZARD,
    EV_ILLEGAL_RECONNECTION,
    EV_LINE_COOLDOWN,
    EV_MAINTENANCE,
    EV_SUB_COOLDOWN,
    FLAG_NONE,
)
from ..core.obs_kernel import N_FEATURES, obs_layout
from ..core.rules import GameState
from ..core.step_kernel import N_REPORT, RP_FLAG, RP_REPLACED
from ..core.vector_kernel import event_counts, vector_step
from ..errors import ConfigurationError
from .actions import ActionError
from .fast_path import pack_rules
from .powergrid_env import GAME_OVER_REASONS, PowerGridEnv
from .rewards import (
    FLAG_ILLEGAL,
    FLAG_TOO_MANY_SWITCHES,
    SurvivalReward,
    batch_costs_from_features,
)
from .vector_info import FLAG_REASONS, build_step_info, drop_row, row_info

logger = logging.getLogger(__name__)

MODES = {AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED}


def _autoreset_mode(mode) -> AutoresetMode:
    try:
        m = AutoresetMode(mode)
    except ValueError:
        m = None
    if m not in MODES:
        raise ConfigurationError(f"autoreset_mode must be one of {[x.value for x in MODES]} "
                                 f"(gymnasium.vector.AutoresetMode), got {mode!r}")
    return m


class PowerGridVectorEnv(VectorEnv):
    """N ``PowerGridEnv`` grids stepped together (see the module docstring).

    Args:
        num_envs: number of grids N.
        max_episode_steps: the ``TimeLimit`` of the registered ids (None: none).
        autoreset_mode: a :class:`gymnasium.vector.AutoresetMode` or its value.
        copy: return fresh observation arrays each step (False: reused buffers).
        num_threads: threads of the step kernel (None: numba's default, every core; 1 can
            be faster on a machine other jobs keep busy).
        **env_kwargs: :class:`PowerGridEnv`'s arguments (``parameters``, ``level``,
            ``reward``, configuration overrides...), the same for every grid.
    """

    def __init__(self, num_envs: int = 1, *, max_episode_steps: int | None = None,
                 autoreset_mode=AutoresetMode.NEXT_STEP, copy: bool = True,
                 render_mode: str | None = None, num_threads: int | None = None,
                 **env_kwargs: Any) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigurationError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None:
            raise ConfigurationError("the native vector env does not render; use "
                                     "gymnasium.make_vec(..., vectorization_mode='sync') with "
                                     "render_mode")
        mode = _autoreset_mode(autoreset_mode)
        if num_threads is not None:
            import numba

            if not isinstance(num_threads, (int, np.integer)) or not (
                    1 <= num_threads <= numba.config.NUMBA_NUM_THREADS):
                raise ConfigurationError(f"num_threads must be None or an integer in [1, "
                                         f"{numba.config.NUMBA_NUM_THREADS}], got "
                                         f"{num_threads!r}")
        self.num_threads = None if num_threads is None else int(num_threads)
        self.num_envs = n = int(num_envs)
        self.envs = [PowerGridEnv(**env_kwargs) for _ in range(n)]
        e = self.envs[0]
        if not e.uses_step_kernel:
            raise ConfigurationError(
                f"the native vector env needs loadflow_backend 'numba' or 'pypower', got "
                f"{e.config.loadflow_backend!r}; use gymnasium.make_vec(..., "
                "vectorization_mode='sync') for the pandapower backend")
        self.metadata = {"autoreset_mode": mode, "render_modes": []}
        self.render_mode = None
        self.autoreset_mode = mode
        self.copy = bool(copy)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.single_observation_space = e.observation_space
        self.single_action_space = e.action_space
        self.observation_space = batch_space(e.observation_space, n)
        self.action_space = batch_space(e.action_space, n)
        self._a_len = e.action_helper.action_length
        g = e.grid
        self._grid = g
        pf = e.powerflow
        self._pf_args = (pf.ac_mode if e.ac else 0, pf.max_iter, pf.tol_pu, pf.grid_i, pf.grid_f)
        self._rules_i, self._rules_f = pack_rules(e.config)
        self._node_switch_sub = e.action_helper.node_switch_sub
        n_topo = g.n_prod + g.n_load + 3 * g.n_line
        self._topo = np.zeros((n, n_topo), np.int8)
        self._unavail, self._over, self._lcd = (np.zeros((n, g.n_line), np.int32)
                                                for _ in range(3))
        self._scd = np.zeros((n, g.n_sub), np.int32)
        self._bus_v = np.zeros((n,) + pf.bus_v.shape)
        self._ws_i = np.zeros((n,) + pf.ws_i.shape, pf.ws_i.dtype)
        self._ws_f = np.zeros((n,) + pf.ws_f.shape, pf.ws_f.dtype)
        for i, env in enumerate(self.envs):
            self._ws_i[i] = env.powerflow.ws_i
            self._ws_f[i] = env.powerflow.ws_f
        self._limits = np.zeros((n, g.n_line))
        self._t = np.zeros(n, np.int64)
        self._n_steps = np.ones(n, np.int64)
        self._elapsed = np.zeros(n, np.int64)
        sz = pf.sizes
        self._out_mask = np.zeros((n, sz.mask_len), np.bool_)
        self._out_res = np.zeros((n, sz.res_len))
        self._applied = np.zeros((n, self._a_len), np.int8)
        self._line_event = np.zeros((n, g.n_line), np.int8)
        self._sub_event = np.zeros((n, g.n_sub), np.int8)
        self._broken = np.zeros((n, max(g.n_line, 1)), np.int32)
        self._report = np.zeros((n, N_REPORT), np.int64)
        self._counts = np.zeros((n, 5), np.int64)
        layout, lengths = obs_layout(g.n_sub, g.n_prod, g.n_load, g.n_line)
        self._layout = tuple((k, layout[k]) for k in e.observation_space.spaces)
        self._bufs = tuple(np.zeros((n, m), dt) for m, dt in zip(
            lengths, (np.float32, np.int32, np.int8)))
        self._slices = {k: sl for k, (_, sl) in self._layout}
        self._buffer_keys = tuple(tuple(k for k, (b, _) in self._layout if b == j)
                                  for j in range(3))
        #: views into the buffers, made once: copy=False hands out a new dict of these
        self._views = {k: self._bufs[b][:, sl] for k, (b, sl) in self._layout}
        self._feats = np.zeros((n, N_FEATURES))
        self._names = np.full(n, None, dtype=object)
        self._chronics: list = [None] * n
        self._dt_strings: list = [None] * n
        self._rows: list = [None] * n  # per grid: its chronic's kernel arrays
        self._lists = None  # numba typed lists of those, built at the first reset
        self._autoreset = np.zeros(n, np.bool_)
        self._survival = type(e.reward_fn) is SurvivalReward
        self.closed = False

    # ------------------------------------------------------------------ sub-env <-> rows
    def _adopt(self, i: int, obs: dict) -> None:
        """Copy sub-env ``i``'s state after its reset into row ``i``; its state becomes a view."""
        env = self.envs[i]
        st, pf = env.state, env.powerflow
        self._topo[i], self._unavail[i], self._over[i] = (st.topo, st.line_unavailable,
                                                          st.line_overflow_steps)
        self._lcd[i], self._scd[i] = st.line_cooldown, st.sub_cooldown
        env.state = GameState(self._topo[i], self._unavail[i], self._over[i], self._lcd[i],
                              self._scd[i], st.n_prod, st.n_load, st.step, st.extra)
        self._t[i] = st.step
        self._elapsed[i] = 0
        self._bus_v[i] = pf.bus_v
        if pf.ws_i.shape != self._ws_i.shape[1:] or pf.ws_f.shape != self._ws_f.shape[1:]:
            raise RuntimeError("a power-flow workspace changed size; the native vector env "
                               "cannot follow it (use vectorization_mode='sync')")
        self._ws_i[i], self._ws_f[i] = pf.ws_i, pf.ws_f
        self._limits[i] = env.limits_a
        c = env.current_chronic
        self._n_steps[i] = c.n_steps
        if self._chronics[i] is not c:
            self._chronics[i] = c
            self._names[i] = c.name
            arrays = env.chronic_arrays(c)
            self._dt_strings[i] = arrays.date_strings
            row = (arrays.realised, arrays.planned, c.maintenance, c.hazards, arrays.maint_fc,
                   arrays.dates)
            self._rows[i] = tuple(np.ascontiguousarray(a) for a in row)
            if self._lists is not None:
                for lst, a in zip(self._lists, self._rows[i]):
                    lst[i] = a
        for b, keys in enumerate(self._buffer_keys):
            base = obs[keys[0]].base  # the single env's observation: views of 3 flat buffers
            if base is not None and base.shape == self._bufs[b].shape[1:] and all(
                    obs[k].base is base for k in keys):
                self._bufs[b][i] = base  # the same layout (obs_layout): one copy per buffer
            else:
                for k in keys:
                    self._bufs[b][i, self._slices[k]] = obs[k]

    def _reset_one(self, i: int, seed, options: dict) -> dict:
        env = self.envs[i]
        if env.state is not None:  # the row holds the live state: hand it to the sub-env
            env.state.step = int(self._t[i])
            pf = env.powerflow
            pf.ws_i[:] = self._ws_i[i]
            pf.ws_f[:] = self._ws_f[i]
        obs, info = env.reset(seed=seed, options=options or None)
        self._adopt(i, obs)
        return info

    def _build_lists(self) -> None:
        from numba.typed import List

        lists = tuple(List() for _ in range(6))
        for row in self._rows:
            for lst, a in zip(lists, row):
                lst.append(a)
        self._lists = lists

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed=None, options: dict | None = None):
        super().reset(seed=seed if isinstance(seed, (int, np.integer)) else None)
        n = self.num_envs
        if seed is None:
            seeds = [None] * n
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"reset(seed=...) takes None, an int or {n} seeds, got "
                                 f"{len(seeds)}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            rows = np.arange(n)
        else:
            mask = np.asarray(mask)
            if mask.shape != (n,) or mask.dtype != np.bool_:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},), "
                                 f"got {mask.dtype} {mask.shape}")
            if self._lists is None and not mask.all():
                raise RuntimeError("the first reset() must reset every grid")
            rows = np.flatnonzero(mask)
        infos: dict = {}
        for i in rows:
            infos = self._add_info(infos, self._reset_one(int(i), seeds[i], options), int(i))
            self._autoreset[i] = False
        if self._lists is None:
            self._build_lists()
        return self._observation(), infos

    def _check_actions(self, actions) -> np.ndarray:
        n, m = self.num_envs, self._a_len
        a = np.asarray(actions)
        if a.shape != (n, m):
            raise ActionError(f"actions must be an array of shape (num_envs, action length) = "
                              f"({n}, {m}) of 0/1 (one pypownet switch vector per grid), got "
                              f"shape {a.shape}")
        if not (a.dtype == bool or np.issubdtype(a.dtype, np.number)):
            raise ActionError(f"actions must hold numbers 0/1, got dtype {a.dtype}")
        if a.dtype != bool and ((a != 0) & (a != 1)).any():
            bad = np.argwhere((a != 0) & (a != 1))[0]
            raise ActionError(f"actions must hold only 0 and 1; grid {bad[0]} has "
                              f"{a[tuple(bad)]!r} at index {bad[1]}")
        return np.ascontiguousarray(a, dtype=np.int8)

    def step(self, actions):
        if self._lists is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_actions(actions)
        mode = self.autoreset_mode
        if mode == AutoresetMode.NEXT_STEP:
            resetting = self._autoreset.copy()
        else:
            if mode == AutoresetMode.DISABLED and self._autoreset.any():
                raise RuntimeError(
                    f"grids {np.flatnonzero(self._autoreset).tolist()} have ended; with "
                    "autoreset_mode Disabled, reset them first: reset(options={'reset_mask': "
                    "mask})")
            resetting = np.zeros(self.num_envs, np.bool_)
        active = ~resetting
        ac, max_iter, tol, grid_i, grid_f = self._pf_args
        inj_l, planned_l, maint_l, hazard_l, fc_l, dates_l = self._lists
        if self.num_threads is not None:
            import numba

            before = numba.get_num_threads()
            numba.set_num_threads(self.num_threads)
        vector_step(active, self._t, self._n_steps, a, self._topo, self._unavail, self._over,
                    self._lcd, self._scd, self._node_switch_sub, self._rules_i, self._rules_f,
                    self._limits, ac, max_iter, tol, grid_i, grid_f, self._bus_v, self._ws_i,
                    self._ws_f, inj_l, planned_l, maint_l, hazard_l, fc_l, dates_l,
                    self._out_mask, self._out_res, self._applied, self._line_event,
                    self._sub_event, self._broken, self._report, *self._bufs, self._feats)
        if self.num_threads is not None:
            numba.set_num_threads(before)
        event_counts(self._line_event, self._sub_event, EV_ILLEGAL_RECONNECTION,
                     EV_LINE_COOLDOWN, EV_SUB_COOLDOWN, EV_MAINTENANCE, EV_HAZARD, self._counts)
        flag = self._report[:, RP_FLAG]
        terminated = active & (flag != FLAG_NONE)
        ended = terminated | (active & (self._t >= self._n_steps - 1))
        truncated = ended & ~terminated
        self._elapsed[active] += 1
        if self.max_episode_steps is not None:
            truncated |= active & (self._elapsed >= self.max_episode_steps)
        obs = self._views  # internal: the final observations, a reward computed per grid
        rewards, comps = self._rewards(active, flag, obs)
        costs = batch_costs_from_features(self._feats)
        cost = (costs["overloaded_lines"] + costs["loads_cut"] + costs["prods_cut"]).astype(
            np.float64)
        info = build_step_info(active, self._chronics, self._names, self._t, self._dt_strings,
                               self._applied, self._report, self._line_event, self._sub_event,
                               self._broken, self._counts, GAME_OVER_REASONS, comps, costs,
                               cost)
        for i in np.flatnonzero(ended):  # the sub-env's episode-end bookkeeping
            env = self.envs[i]
            env.state.step = int(self._t[i])
            env.end_episode(bool(terminated[i]))
        done = terminated | truncated
        if mode == AutoresetMode.SAME_STEP:
            for i in np.flatnonzero(done):
                i = int(i)
                final = ({k: v[i].copy() for k, v in obs.items()}, row_info(info, i))
                drop_row(info, i)
                info = self._add_info(info, {"final_obs": final[0], "final_info": final[1]}, i)
                info = self._add_info(info, self._reset_one(i, None, {}), i)
            self._autoreset[:] = False
        else:
            for i in np.flatnonzero(resetting):
                info = self._add_info(info, self._reset_one(int(i), None, {}), int(i))
            self._autoreset[:] = done
        rewards[resetting] = 0.0
        return (self._observation(), rewards, terminated, truncated, info)

    def _observation(self) -> dict:
        if not self.copy:
            return dict(self._views)
        bufs = tuple(b.copy() for b in self._bufs)
        return {k: bufs[b][:, sl] for k, (b, sl) in self._layout}

    def _rewards(self, active: np.ndarray, flag: np.ndarray, obs: dict):
        """Rewards (N,) and components (dict of (N,) arrays) of the grids stepped."""
        c = self._counts
        replaced = self._report[:, RP_REPLACED] != 0
        n_illegal = np.where(replaced, 0, c[:, 0] + c[:, 1] + c[:, 2])
        game_over = flag != FLAG_NONE
        if self._survival:
            comps = self.envs[0].reward_fn.batch_from_features(
                self._feats, game_over, replaced & ~game_over, n_illegal)
            total = np.zeros(self.num_envs)
            for v in comps.values():
                total = total + v
            return np.where(active, total, 0.0), comps
        rewards = np.zeros(self.num_envs)
        comps: dict = {}
        for i in np.flatnonzero(active):
            env = self.envs[i]
            f = FLAG_REASONS[flag[i]]
            if f is None and replaced[i]:
                f = FLAG_TOO_MANY_SWITCHES
            elif f is None and n_illegal[i]:
                f = FLAG_ILLEGAL
            fn = env.reward_fn
            if hasattr(fn, "from_features"):
                one = fn.from_features(self._feats[i], f, int(n_illegal[i]))
            else:
                env.state.step = int(self._t[i])
                one = {k: float(v) for k, v in fn({k: v[i] for k, v in obs.items()},
                                                   self._applied[i].copy(), f, env,
                                                   n_illegal_reconnections=int(n_illegal[i])
                                                   ).items()}
            rewards[i] = float(sum(one.values()))
            for k, v in one.items():
                comps.setdefault(k, np.zeros(self.num_envs))[i] = v
        return rewards, comps

    # ------------------------------------------------------------------ helpers
    @property
    def states(self) -> list[GameState]:
        """Each grid's :class:`GameState` (views of the stacked arrays; ``step`` as of the
        last reset or episode end: read :attr:`timesteps` for the current rows)."""
        return [e.state for e in self.envs]

    @property
    def timesteps(self) -> np.ndarray:
        """Each grid's current row of its chronic (a copy)."""
        return self._t.copy()

    @property
    def topologies(self) -> np.ndarray:
        """Each grid's topology (N, n_prod + n_load + 3 n_line), pypownet's layout: nodes then
        line status (a read-only view of the live array)."""
        v = self._topo.view()
        v.flags.writeable = False
        return v

    def counters(self) -> dict[str, np.ndarray]:
        """Each grid's counters (read-only views, (N, n_line) or (N, n_sub)):
        ``line_cooldown``, ``line_unavailable``, ``line_overflow_steps``, ``sub_cooldown``."""
        out = {"line_cooldown": self._lcd, "line_unavailable": self._unavail,
               "line_overflow_steps": self._over, "sub_cooldown": self._scd}
        for k, a in out.items():
            out[k] = a.view()
            out[k].flags.writeable = False
        return out

    def sync_states(self) -> None:
        """Bring each sub-env's ``state.step`` up to date (per-env helpers that read it)."""
        for i, e in enumerate(self.envs):
            e.state.step = int(self._t[i])

    def close_extras(self, **kwargs) -> None:
        for e in self.envs:
            e.close()
