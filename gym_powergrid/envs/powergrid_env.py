"""PowerGridEnv: pypownet's power-grid game as a Gymnasium environment.

## Description
A transmission grid is driven hour by hour by load and production time series ("chronics"),
with planned maintenance and random hazards. The agent operates it by **switches**: it may
move each production, load and line end between the two busbars of its substation (node
splitting) and switch lines on or off. Overloaded lines break: a hard overflow at once, a soft
one after ``n_timesteps_consecutive_soft_overflow_breaks`` steps; each break triggers a new
power flow (cascade) until the grid is stable.

## Action space
``MultiBinary(n_prod + n_load + 3 * n_line)``, pypownet's layout (see
:mod:`gym_powergrid.envs.actions`): prod node switches, load node switches, line origin node
switches, line extremity node switches, line status switches. A 1 toggles. Build actions with
``env.unwrapped.action_helper``.

## Observation space
A ``Dict`` with pypownet's fields (table in :mod:`gym_powergrid.envs.observation`).

Arrays are never reused between steps: every ``reset``/``step``/``simulate`` returns fresh
arrays (with the numba backends, views into three buffers allocated for that step, one per
dtype), so keeping a previous observation (``obs_prev = obs``) is safe and writing into one does
not change any other. ``info["action_applied"]`` and ``env.last_result`` are fresh as well;
only the step kernel's internal output buffers (events, report, power-flow result, reward
features) are allocated once per backend and reused.

## Rewards
``reward="survival"`` (default of the registered ids: bounded, 0.3 to 1 per surviving step, -1
at game over), ``"pypownet"`` (five sub-rewards, all <= 0; the default of a parameter folder
used directly, from its ``configuration.yaml``), ``"zero"``, ``"file"`` (the folder's
``reward_signal.py``) or any callable; see :mod:`gym_powergrid.envs.rewards`.
``info["reward_components"]`` holds the named parts, ``info["constraint_costs"]`` and
``info["cost"]`` the per-step constraint costs (overloaded lines, isolated loads/productions).
A ``reward_signal.py`` is Python code: it runs only when the caller asks for it
(``reward="file"``, ``allow_reward_file=True``, or ``--reward file`` on the command line); a
folder whose own ``configuration.yaml`` says ``reward: file`` is refused otherwise, so that
loading a downloaded folder never executes its code.

## Episode end
``terminated=True`` at game over: the power flow diverges or more loads / productions are
isolated than ``max_number_loads_game_over`` / ``max_number_prods_game_over``.
``truncated=True`` at the last step of the chronic. ``game_over_mode``:

* ``"soft"`` (default, pypownet's): after a game over, the next ``reset()`` continues the same
  chronic from the next step with the reference topology;
* ``"hard"``: the next ``reset()`` starts the next chronic from its first step;
* ``"easy"``: as soft, but overflowed lines never break.

## Arguments
``PowerGridEnv(parameters="case14", level=None, backend=None, render_mode=None, chronics=None,
reward=None, allow_reward_file=False, **config_overrides)``: ``parameters`` is a shipped env
name, a pypownet parameter folder or a pandapower net (with ``chronics``); any
``configuration.yaml`` key can be overridden by keyword (e.g. ``loadflow_mode="DC"``).
``reset(options=...)`` accepts ``chronic`` (name or index) and ``start_step``.

## Version history
* v0: first release.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..core.obs_kernel import obs_layout
from ..core.pf_kernel import pack_grid
from ..core.results import PowerFlowResult
from ..core.rules import ActionLimits, GameState, LegalityReport
from ..errors import ConfigurationError
from .actions import ActionHelper, validate_action
from .fast_path import KernelCall
from .horizon import check_horizon, simulate_horizon
from .observation import observation_space
from .reference_path import reference_observation, reference_transition
from .rewards import (
    FLAG_ILLEGAL,
    FLAG_TOO_MANY_SWITCHES,
    constraint_costs,
    costs_from_features,
    make_reward,
)
from .sources import resolve_source
from .step_context import NOTHING_REFUSED, ChronicTables, StepContext, StepScratch, pack_rules

logger = logging.getLogger(__name__)

F32, I32, I8 = np.float32, np.int32, np.int8
GAME_OVER_REASONS = {
    "diverged": "the power flow did not converge",
    "too_many_loads_cut": "too many loads isolated",
    "too_many_prods_cut": "too many productions isolated",
}


_INT8 = np.dtype(np.int8)


def as_action(action, length: int) -> np.ndarray:
    """:func:`~.actions.validate_action` with a shortcut for what agents pass most (a 1-D int8
    array of 0/1, e.g. ``action_space.sample()``): a fresh int8 copy either way."""
    if (type(action) is np.ndarray and action.dtype is _INT8 and action.shape == (length,)
            and not action.tobytes().translate(None, b"\x00\x01")):
        return action.copy()
    return validate_action(action, length)


def reward_flag(flag: str | None, report: LegalityReport, n_illegal: int) -> str | None:
    """The reward's flag: the game-over reason, else an action over the limits, else refused
    switches (pypownet's three kinds of illegal moves), else None."""
    if flag is None and report.replaced_by_do_nothing:
        return FLAG_TOO_MANY_SWITCHES
    if flag is None and n_illegal:
        return FLAG_ILLEGAL
    return flag


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


class PowerGridEnv(gym.Env):
    """pypownet's power-grid game as a Gymnasium env (see the module docstring for the spec)."""

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 4}

    def __init__(self, parameters: Any = "case14", level: str | None = None,
                 backend: str | None = None, render_mode: str | None = None, chronics=None,
                 reward=None, allow_reward_file: bool = False,
                 **config_overrides: Any) -> None:
        allow_reward_file = bool(allow_reward_file) or "file" in (
            reward, config_overrides.get("reward"))  # the caller asked for it by name
        if backend is not None:
            config_overrides["loadflow_backend"] = backend
        if reward is not None and isinstance(reward, str):
            config_overrides["reward"] = reward
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            modes = self.metadata["render_modes"]
            raise ConfigurationError(f"render_mode must be one of {modes} or None, "
                                     f"got {render_mode!r}")
        src = resolve_source(parameters, level, chronics, config_overrides)
        self.name = src.name
        self.grid = grid = src.grid
        self.config = cfg = src.config
        self.chronics = src.chronics
        self.parameters_folder = src.folder
        self._net_factory = src.net_factory  # the pandapower net: only its backend needs it
        self.render_mode = render_mode
        if not callable(reward) and cfg.reward == "file" and not allow_reward_file:
            raise ConfigurationError(
                f"the configuration of {self.name!r} asks for reward: file, which would execute "
                f"{src.reward_file or 'the folder reward_signal.py'} as Python code; a folder's "
                "own configuration cannot switch that on. If you trust the file, pass "
                "reward='file' (or allow_reward_file=True); on the command line, --reward file")
        self.reward_fn = make_reward(reward if callable(reward) else cfg.reward, grid.n_sub,
                                     src.reward_file)
        self.action_helper = ActionHelper(grid)
        self._action_length = self.action_helper.action_length
        self.action_space = spaces.MultiBinary(self._action_length)
        self.observation_space = observation_space(grid)
        self.limits = ActionLimits(
            cfg.max_number_actionned_substations, cfg.max_number_actionned_lines,
            cfg.max_number_actionned_total, cfg.n_timesteps_actionned_line_reactionable,
            cfg.n_timesteps_actionned_node_reactionable)
        self.ac = cfg.loadflow_mode.upper() == "AC"
        self._pf = self._make_backend(cfg.loadflow_backend)
        layout, self._obs_lengths = obs_layout(grid.n_sub, grid.n_prod, grid.n_load, grid.n_line)
        self._obs_layout_items = tuple((k, layout[k]) for k in self.observation_space.spaces)
        self._tables = ChronicTables(grid.prod_q_mvar, cfg.n_timesteps_horizon_maintenance)
        self._scratch: dict[int, tuple] = {}  # id(backend) -> (backend, StepScratch)
        self._calls: dict[int, KernelCall] = {}  # id(backend) -> its transitions on self._ctx
        self._call: KernelCall | None = None  # the main backend's, for step()
        self._ctx: StepContext | None = None
        #: numba backend: the whole transition runs in one kernel call (core/step_kernel.py)
        self._fast = cfg.loadflow_backend in ("numba", "pypower")
        self._rules_i, self._rules_f = pack_rules(cfg)
        self._grid_i = pack_grid(grid)[0]
        self._zero_lines = np.zeros(grid.n_line, np.int32)
        self._pf_sim: dict[bool, Any] = {}
        self._static = {
            "substations_ids": _ro(np.arange(grid.n_sub, dtype=I32)),
            "loads_substations_ids": _ro(grid.load_sub_idx.astype(I32)),
            "prods_substations_ids": _ro(grid.prod_sub_idx.astype(I32)),
            "lines_or_substations_ids": _ro(grid.line_sub_or_idx.astype(I32)),
            "lines_ex_substations_ids": _ro(grid.line_sub_ex_idx.astype(I32)),
            "initial_productions_nodes": _ro(np.zeros(grid.n_prod, I8)),
            "initial_loads_nodes": _ro(np.zeros(grid.n_load, I8)),
            "initial_lines_or_nodes": _ro(np.zeros(grid.n_line, I8)),
            "initial_lines_ex_nodes": _ro(np.zeros(grid.n_line, I8)),
        }
        self._injection_hook = None
        self._renderer = None
        self._chronic = None
        self.state: GameState | None = None
        self._result_value: PowerFlowResult | None = None
        self._result_thunk = None
        self._continue_at: int | None = None
        self._needs_reset = True
        self._last_obs: dict | None = None
        self._last_info: dict = {}
        self._last_action = self.action_helper.do_nothing()
        self._prev_obs = None
        self.cumulative_reward = 0.0

    # ------------------------------------------------------------------ set-up helpers
    def _make_backend(self, name: str):
        if name in ("numba", "pypower"):
            from ..core.jit_cache import warn_if_cold
            from ..core.pf_layout import AC_FAST_DECOUPLED, AC_NEWTON, DC
            from ..core.powerflow import PYPOWER_MAX_ITER, PYPOWER_TOL_PU, NumbaPowerFlow
            from ..core.step_kernel import ENV_STEP_BY_MODE

            mode = (AC_FAST_DECOUPLED if name == "pypower" else AC_NEWTON) if self.ac else DC
            warn_if_cold(ENV_STEP_BY_MODE[mode])  # the kernel fast_path will call

            if name == "pypower":  # pypownet's solver on the numba core (core/fdpf.py)
                return NumbaPowerFlow(self.grid, PYPOWER_TOL_PU, PYPOWER_MAX_ITER,
                                      algorithm="fast_decoupled")
            return NumbaPowerFlow(self.grid)
        if name == "pandapower":
            from ..grid.pandapower_backend import PandapowerPowerFlow

            return PandapowerPowerFlow(self.grid, self._net_factory())
        raise ConfigurationError(f"unknown loadflow_backend {name!r}; use 'numba', 'pypower' or "
                                 "'pandapower'")

    def set_injection_hook(self, fn) -> None:
        """Install ``fn(step, load_p_mw, load_q_mvar, prod_p_mw, prod_v_pu) -> dict | None``.

        Called before each step's power flow with writable float64 copies of the chronic's
        injections; it may overwrite them in place (co-simulation). Its return value is merged
        into ``info["cosim"]``. Pass None to remove it.
        """
        self._injection_hook = fn
        if self._ctx is not None:
            self._set_context(dataclasses.replace(self._ctx, injection_hook=fn))

    def _set_context(self, ctx: StepContext) -> None:
        self._ctx = ctx
        self._calls.clear()
        self._call = None

    def _make_context(self, chronic) -> StepContext:
        limits_a = np.array(chronic.line_limit_a, dtype=np.float64)  # writable: one signature
        g = self.grid
        return StepContext(
            chronic=chronic, arrays=self._tables(chronic), rules_i=self._rules_i,
            rules_f=self._rules_f, node_switch_sub=self.action_helper.node_switch_sub,
            limits_a=limits_a, limits32=_ro(limits_a.astype(F32)),
            obs_lengths=self._obs_lengths, obs_layout_items=self._obs_layout_items,
            static_obs=self._static, game_over_mode=self.config.game_over_mode,
            n_prod=g.n_prod, n_load=g.n_load, zero_lines=self._zero_lines,
            injection_hook=self._injection_hook, n_steps=chronic.n_steps)

    @property
    def step_context(self) -> StepContext | None:
        """What a transition reads for the current chronic (None before the first reset):
        packed rules, thermal limits, per-chronic tables, observation layout (do not modify
        its arrays)."""
        return self._ctx

    def kernel_call(self, pf, ac: bool) -> KernelCall:
        """The :class:`~.fast_path.KernelCall` of backend ``pf`` on the current chronic
        (numba backends; built once per context and backend)."""
        call = self._calls.get(id(pf))
        if call is None or call.pf is not pf or call.ac != ac or call.ctx is not self._ctx:
            call = self._calls[id(pf)] = KernelCall(self._ctx, self.scratch_for(pf), pf, ac)
        return call

    def scratch_for(self, pf) -> StepScratch:
        """The reused output buffers of the step kernel for backend ``pf``."""
        hit = self._scratch.get(id(pf))
        if hit is None or hit[0] is not pf:
            hit = self._scratch[id(pf)] = (pf, StepScratch(pf.sizes, self.grid.n_line,
                                                           self.grid.n_sub))
        return hit[1]

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:  # a seeded reset replays the same sequence of episodes
            self.chronics.restart()
            self._continue_at = None
        options = dict(options or {})
        unknown = set(options) - {"chronic", "start_step"}
        if unknown:
            raise ConfigurationError(f"unknown reset option(s) {sorted(unknown)}; allowed: "
                                     "'chronic' (name or index) and 'start_step'")
        continuing = False
        if "chronic" in options or "start_step" in options:
            chronic, start = self.chronics.select(self.np_random, options.get("chronic"),
                                                  options.get("start_step", 0))
        elif self._continue_at is not None and self._chronic is not None:
            chronic, start = self._chronic, self._continue_at
            continuing = True
        else:
            chronic, start = self.chronics.select(self.np_random)
        carried = (self.state.line_overflow_steps.copy()
                   if continuing and self.state is not None else None)
        self._continue_at = None
        self._chronic = chronic
        self._set_context(self._make_context(chronic))
        self.limits_a = self._ctx.limits_a
        g = self.grid
        do_nothing = self.action_helper.do_nothing()
        t = start
        while True:
            # the same reset gives the same episode, whatever came before: a flat start, or
            # with pypownet's solver the grid file's voltages, as pypownet's reset (each try)
            self._pf.reset_voltages()
            if self.config.loadflow_backend == "pypower" and "bus_v0" in g.extra:
                self._pf.set_initial_voltages(*g.extra["bus_v0"])
            # pypownet's reset: the reference topology, counters at zero (overflow counters kept
            # after a game over), then the step is played with do-nothing, cascade included
            state = GameState.initial(g.n_prod, g.n_load, g.n_line, g.n_sub, g.line_in_service)
            state.step = t - 1
            if carried is not None:
                state.line_overflow_steps[:] = carried
            rows = self._reset_outages(chronic, t, continuing)
            state, result, flag, step_info_, _, obs, _ = self._transition(
                state, do_nothing, self._pf, self.ac, simulate=False, outage_rows=rows)
            step_info_.pop("_report")
            if flag != "diverged" or t >= chronic.n_steps - 1:
                break
            logger.warning("reset: the grid has no solution at step %d of chronic %s (%s); "
                           "starting at the next step, as pypownet does", t, chronic.name,
                           step_info_["power_flow_status"])
            t += 1
        self.state = state
        self._result = result  # built on demand (pickling builds it: __getstate__)
        extra = step_info_.get("cosim")
        self._needs_reset = False
        self.cumulative_reward = 0.0
        self._last_action = do_nothing
        info = {k: step_info_[k] for k in ("chronic_name", "timestep", "datetime",
                                           "power_flow_status", "lines_broken",
                                           "cascade_depth", "lines_maintenance_started",
                                           "lines_hazards_started")}
        if extra:
            info["cosim"] = extra
        self._last_obs, self._last_info = obs, info
        self._prev_obs = None
        if self._renderer is not None:
            self._renderer.reset_history()
        self._record_frame()
        return obs, info

    def _reset_outages(self, chronic, t: int, after_game_over: bool):
        """Maintenance and hazard rows a reset at step ``t`` plays: the outages starting at
        ``t`` after a game over with ``outages_after_game_over="forget"`` (pypownet: its reset
        brings every line back), else every outage still running at ``t``."""
        if after_game_over and self.config.outages_after_game_over == "forget":
            return chronic.maintenance[t], chronic.hazards[t]
        from ..chronics.events import unavailable_steps

        lo = max(0, t - 400)
        dtype = chronic.maintenance.dtype
        return (unavailable_steps(chronic.maintenance[lo:t + 1])[-1].astype(dtype),
                unavailable_steps(chronic.hazards[lo:t + 1])[-1].astype(dtype))

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("call reset() before step(): the episode has ended or not started")
        a = as_action(action, self._action_length)
        if not self._fast:
            return self._step_generic(a)
        # the numba path, lean: one kernel call, then only what the caller receives
        call = self._call
        if call is None:
            call = self._call = self.kernel_call(self._pf, self.ac)
        st, result, flag, info, applied, legality, obs, feats = call(self.state, a)
        self._result_value, self._result_thunk = None, result
        if flag is not None:
            info["game_over_reason"] = flag
            info["game_over_message"] = GAME_OVER_REASONS[flag]
        from_features = getattr(self.reward_fn, "from_features", None)
        if from_features is None:
            comps = self._reward(obs, applied, flag, info, legality)
        else:
            n_illegal = 0 if legality is NOTHING_REFUSED else legality.n_refused
            comps = from_features(feats, reward_flag(flag, legality, n_illegal), n_illegal)
        return self._finish_step(obs, comps, costs_from_features(feats), info, applied)

    def _step_generic(self, a: np.ndarray):
        """A step on any backend (the reference path: pandapower)."""
        new_state, result, flag, info, applied, obs, feats = self._transition(
            self.state, a, self._pf, self.ac, simulate=False)
        self.state, self._result = new_state, result
        comps = self._reward(obs, applied, flag, info, info.pop("_report"), feats)
        costs = constraint_costs(obs) if feats is None else costs_from_features(feats)
        return self._finish_step(obs, comps, costs, info, applied)

    def _finish_step(self, obs: dict, comps: dict, costs: dict, info: dict, applied):
        reward = float(sum(comps.values()))
        info["reward_components"] = comps
        info["constraint_costs"] = costs
        info["cost"] = float(sum(costs.values()))
        terminated = info["game_over_reason"] is not None
        truncated = (not terminated) and self.state.step >= self._ctx.n_steps - 1
        if terminated or truncated:
            self.end_episode(terminated)
        self.cumulative_reward += reward
        self._last_action = applied
        self._prev_obs = self._last_obs
        self._last_obs, self._last_info = obs, info
        if self.render_mode is not None:
            self._record_frame()
        return obs, reward, terminated, truncated, info

    def simulate(self, action, loadflow_mode: str = "DC", *, horizon: int | None = None,
                 policy=None):
        """Look-ahead on the planned injections, without changing the env's state.

        Args:
            action: a binary action vector.
            loadflow_mode: ``"DC"`` (default, fast) or ``"AC"``.
            horizon: None or 1: one step (the 4-tuple below); ``h > 1``: the action then
                ``policy`` over ``h`` planned steps (:mod:`gym_powergrid.envs.horizon`),
                ``1 <= h <= `` the steps left in the chronic.
            policy: follow-up after the first step: None (do-nothing), a callable
                ``observation -> action`` or an object with ``act(observation)``.

        Returns:
            ``(observation, reward, terminated, info)`` predicted for the next step, or with
            ``horizon > 1`` a :class:`~gym_powergrid.envs.horizon.HorizonResult`.
        """
        if self.state is None:
            raise RuntimeError("call reset() before simulate()")
        mode = str(loadflow_mode).upper() if isinstance(loadflow_mode, str) else None
        if mode not in ("AC", "DC"):
            raise ConfigurationError(f"simulate: loadflow_mode must be 'AC' or 'DC', got "
                                     f"{loadflow_mode!r}")
        a = validate_action(action, self.action_helper.action_length)
        ac = mode == "AC"
        if ac not in self._pf_sim:
            self._pf_sim[ac] = self._make_backend(self.config.loadflow_backend)
        step = functools.partial(self._simulated_step, pf=self._pf_sim[ac], ac=ac)
        h = 1 if horizon is None else check_horizon(self, horizon)
        if h > 1:
            return simulate_horizon(step, self.state, a, h, self.action_helper, policy)
        return step(self.state, a)[1:]

    def _simulated_step(self, state: GameState, a: np.ndarray, pf, ac: bool):
        st, res, flag, info, applied, obs, feats = self._transition(state, a, pf, ac,
                                                                    simulate=True)
        comps = self._reward(obs, applied, flag, info, info.pop("_report"), feats)
        info["reward_components"] = comps
        return st, obs, float(sum(comps.values())), info["game_over_reason"] is not None, info

    # ------------------------------------------------------------------ mechanics
    def _transition(self, state: GameState, action: np.ndarray, pf, ac: bool, simulate: bool,
                    outage_rows=None):
        """Apply an action and advance one step; returns new state, result, flag, info."""
        ctx = self._ctx
        if self._fast:
            st, result, flag, info, applied, report, obs, feats = self.kernel_call(pf, ac)(
                state, action, simulate, outage_rows)
        else:
            st, result, flag, info, applied, report = reference_transition(
                ctx, self.grid, self._grid_i, state, action, pf, ac, simulate, outage_rows)
            obs = reference_observation(ctx, self.observation_space.spaces, st, result)
            feats = None
        if flag is not None:
            info["game_over_reason"] = flag
            info["game_over_message"] = GAME_OVER_REASONS[flag]
        info["_report"] = report
        return st, result, flag, info, applied, obs, feats

    def _reward(self, obs: dict, applied: np.ndarray, flag: str | None, info: dict,
                report: LegalityReport, feats: np.ndarray | None = None) -> dict:
        n_illegal = report.n_refused  # refused switches, pypownet's three kinds of illegal moves
        flag = reward_flag(flag, report, n_illegal)
        if feats is not None and hasattr(self.reward_fn, "from_features"):
            return self.reward_fn.from_features(feats, flag, n_illegal)
        comps = self.reward_fn(obs, applied, flag, self, n_illegal_reconnections=n_illegal)
        return {k: float(v) for k, v in comps.items()}

    def __getstate__(self) -> dict:
        """Pickle with the last power-flow result built (it is kept as a closure until read)."""
        state = self.__dict__.copy()
        state["_result_value"], state["_result_thunk"] = self._result, None
        state["_calls"], state["_call"] = {}, None  # rebuilt on demand (keyed by id)
        return state

    # ------------------------------------------------------------------ helpers for agents
    @property
    def current_chronic(self):
        return self._chronic

    @property
    def _result(self) -> PowerFlowResult | None:
        if self._result_value is None and self._result_thunk is not None:
            self._result_value = self._result_thunk()
            self._result_thunk = None
        return self._result_value

    @_result.setter
    def _result(self, value) -> None:
        if callable(value):
            self._result_value, self._result_thunk = None, value
        else:
            self._result_value, self._result_thunk = value, None

    @property
    def last_result(self) -> PowerFlowResult | None:
        """The power-flow result behind the last observation."""
        return self._result

    def get_lines_capacity_usage(self) -> np.ndarray:
        r = self._result
        return np.divide(r.line_a_or, self.limits_a, out=np.zeros_like(self.limits_a),
                         where=self.limits_a > 0)

    # ------------------------------------------------------------------ native vector env
    def end_episode(self, terminated: bool) -> None:
        """Episode end after the step to ``state.step``: the next :meth:`reset` continues the
        chronic after a game over in soft/easy mode. :meth:`step` calls it; so does the native
        vector env (:mod:`gym_powergrid.envs.vector`), which plays steps outside ``step()``."""
        if terminated:
            nxt = self.state.step + 1
            if self.config.game_over_mode in ("soft", "easy") and nxt < self._chronic.n_steps:
                self._continue_at = nxt
        self._needs_reset = True

    @property
    def powerflow(self):
        """The power-flow backend (``NumbaPowerFlow`` on the numba backends: its ``bus_v``
        warm start and ``ws_i``/``ws_f`` workspace carry over from step to step)."""
        return self._pf

    @property
    def uses_step_kernel(self) -> bool:
        """True when a step is one :func:`~gym_powergrid.core.step_kernel.env_step` call."""
        return self._fast

    def chronic_arrays(self, chronic=None):
        """The :class:`~.step_context.ChronicArrays` of ``chronic`` (default: the current one):
        injections, planned injections, maintenance forecast and dates in the step kernel's
        layout, and the dates as ``info`` strings; computed once per chronic, read-only."""
        return self._tables(self._chronic if chronic is None else chronic)

    # ------------------------------------------------------------------ rendering
    def _get_renderer(self):
        if self._renderer is None:
            from ..render import GridRenderer

            self._renderer = GridRenderer(self.grid, render_mode=self.render_mode)
        return self._renderer

    def _render_args(self) -> dict:
        info = dict(self._last_info)
        info.setdefault("chronic_name", self._chronic.name if self._chronic else "")
        if self._chronic is not None and self.state is not None:
            from ..chronics.events import unavailable_steps

            t = self.state.step
            lo = max(0, t - 400)
            running = unavailable_steps(self._chronic.maintenance[lo:t + 1])[-1] > 0
            info["lines_in_maintenance"] = running & (self.state.line_status == 0)
        words = None
        try:
            from ..render import describe_action

            words = describe_action(self.grid, self._last_action, self._prev_obs)
        except Exception:  # noqa: BLE001 - text is cosmetic
            words = None
        return dict(obs=self._last_obs, info=info, cumulative_reward=self.cumulative_reward,
                    reward_components=info.get("reward_components"), last_action_text=words,
                    game_over=info.get("game_over_message"))

    def _record_frame(self) -> None:
        """Feed the renderer's history at every step (drawn or not); draw in human mode."""
        if self.render_mode is None or self._last_obs is None:
            return
        if self.render_mode == "human":
            self._get_renderer().render(**self._render_args())
        else:
            self._get_renderer().record(self._last_obs, self._last_info)

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode="
                            "'rgb_array' or 'human' to the constructor")
            return None
        if self._last_obs is None:
            raise RuntimeError("call reset() before render()")
        return self._get_renderer().render(**self._render_args())

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
