"""What one transition reads, passed explicitly: the :class:`StepContext` of the current chronic,
the per-chronic tables (:class:`ChronicTables`), the reused scratch buffers of a power-flow
backend (:class:`StepScratch`), the packed rules and the ``info`` builder shared by both
backends (:func:`step_info`).

:class:`~gym_powergrid.envs.PowerGridEnv` builds a new :class:`StepContext` at each ``reset``
(and when the injection hook changes) and exposes it as ``env.step_context``; the transitions
(:mod:`.fast_path`, :mod:`.reference_path`) read nothing else of the env.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..chronics.events import steps_to_next_event
from ..core.obs_kernel import N_FEATURES
from ..core.rules import LegalityReport
from ..core.status import PFStatus
from ..core.step_kernel import (
    EV_HAZARD,
    EV_ILLEGAL_RECONNECTION,
    EV_LINE_COOLDOWN,
    EV_MAINTENANCE,
    EV_SUB_COOLDOWN,
    FLAG_DIVERGED,
    FLAG_LOADS,
    FLAG_PRODS,
    N_REPORT,
    N_RULES_I,
    R_EASY,
    R_HARD_BROKEN,
    R_LINE_CD,
    R_MAX_LINES,
    R_MAX_LOADS_CUT,
    R_MAX_PRODS_CUT,
    R_MAX_SUBS,
    R_MAX_TOTAL,
    R_N_SOFT,
    R_NODE_CD,
    R_SOFT_BROKEN,
)

FLAG_NAMES = {FLAG_DIVERGED: "diverged", FLAG_LOADS: "too_many_loads_cut",
              FLAG_PRODS: "too_many_prods_cut"}
STATUS_NAMES = {int(s): s.name for s in PFStatus}
REPLACED_REASON = "action touches more substations/lines than allowed"
REFUSED_REASON = "some switches were refused (cooldown or unavailable line)"
#: the report of a step that refused nothing: read by the reward, never handed out or mutated
NOTHING_REFUSED = LegalityReport()


def pack_rules(config) -> tuple[np.ndarray, np.ndarray]:
    """``(rules_i, rules_f)`` of the step kernel from a :class:`GameConfig`."""
    r = np.zeros(N_RULES_I, dtype=np.int64)
    r[R_MAX_SUBS] = config.max_number_actionned_substations
    r[R_MAX_LINES] = config.max_number_actionned_lines
    r[R_MAX_TOTAL] = config.max_number_actionned_total
    r[R_LINE_CD] = config.n_timesteps_actionned_line_reactionable
    r[R_NODE_CD] = config.n_timesteps_actionned_node_reactionable
    r[R_N_SOFT] = config.n_timesteps_consecutive_soft_overflow_breaks
    r[R_HARD_BROKEN] = config.n_timesteps_hard_overflow_is_broken
    r[R_SOFT_BROKEN] = config.n_timesteps_soft_overflow_is_broken
    r[R_EASY] = 1 if config.game_over_mode == "easy" else 0
    r[R_MAX_LOADS_CUT] = config.max_number_loads_game_over
    r[R_MAX_PRODS_CUT] = config.max_number_prods_game_over
    return r, np.array([float(config.hard_overflow_coefficient)])


@dataclass(frozen=True, eq=False)
class ChronicArrays:
    """Arrays of one chronic computed once: packed injections in the kernel's float64 layout
    ``[prod_p | prod_q | prod_v | load_p | load_q]`` (realised and planned, read-only), the
    maintenance forecast (T, L), the date parts (T, 7), the dates as ``info`` strings and
    read-only views of the chronic's maintenance and hazard tables (T, L)."""

    realised: np.ndarray
    planned: np.ndarray
    maint_fc: np.ndarray
    dates: np.ndarray
    date_strings: list
    maintenance: np.ndarray
    hazards: np.ndarray


class ChronicTables:
    """A small per-env cache of :class:`ChronicArrays`, by chronic name."""

    def __init__(self, prod_q_mvar: np.ndarray, maintenance_horizon: int, size: int = 4) -> None:
        self._prod_q = np.asarray(prod_q_mvar, dtype=np.float64)
        self._horizon = maintenance_horizon
        self._size = size
        self._cache: dict[str, ChronicArrays] = {}

    def __call__(self, chronic) -> ChronicArrays:
        hit = self._cache.get(chronic.name)
        if hit is not None:
            return hit
        packed = []
        for pp, pv, lp, lq in (
                (chronic.prod_p_mw, chronic.prod_v_pu, chronic.load_p_mw, chronic.load_q_mvar),
                (chronic.prod_p_planned_mw, chronic.prod_v_planned_pu, chronic.load_p_planned_mw,
                 chronic.load_q_planned_mvar)):
            p = np.asarray(pp, dtype=np.float64)
            # pypownet: a production with V <= 0 is off; the power flow reads V <= 0 so
            v = np.maximum(np.asarray(pv, dtype=np.float64), 0.0)
            q = np.broadcast_to(self._prod_q[None, :], p.shape)
            arr = np.ascontiguousarray(np.concatenate(
                [p, q, v, np.asarray(lp, np.float64), np.asarray(lq, np.float64)], axis=1))
            arr.flags.writeable = False
            packed.append(arr)
        fc = np.ascontiguousarray(steps_to_next_event(chronic.maintenance, self._horizon),
                                  dtype=np.int32)
        dates = np.array([[d.year, d.month, d.day, d.hour, d.minute, d.second, d.weekday()]
                          for d in chronic.datetimes.astype("datetime64[s]").tolist()],
                         dtype=np.int32).reshape(-1, 7)
        strings = np.datetime_as_string(np.asarray(chronic.datetimes)).tolist()
        outages = []
        for table in (chronic.maintenance, chronic.hazards):
            view = table.view()  # the same dtype and layout: the kernel's one signature
            view.flags.writeable = False
            outages.append(view)
        out = ChronicArrays(packed[0], packed[1], fc, dates, strings, *outages)
        if len(self._cache) >= self._size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[chronic.name] = out
        return out


@dataclass(frozen=True, eq=False)
class StepContext:
    """Everything a transition reads besides the game state and the backend, for one chronic.

    Attributes:
        chronic: the current :class:`~gym_powergrid.chronics.Chronic`.
        arrays: its :class:`ChronicArrays`.
        rules_i, rules_f: packed rules (:func:`pack_rules`).
        node_switch_sub: substation of each node switch (``ActionHelper.node_switch_sub``).
        limits_a: thermal limits of the chronic (A, float64); ``limits32`` the float32 copy.
        obs_lengths, obs_layout_items: the numba observation buffers' lengths and, for each
            key of the observation space in order, ``(key, (buffer, slice))``.
        static_obs: the observation fields that never change (read-only arrays).
        game_over_mode: the configuration's ``game_over_mode``.
        injection_hook: the co-simulation hook (see ``PowerGridEnv.set_injection_hook``).
        n_steps: the chronic's number of steps.
    """

    chronic: object
    arrays: ChronicArrays
    rules_i: np.ndarray
    rules_f: np.ndarray
    node_switch_sub: np.ndarray
    limits_a: np.ndarray
    limits32: np.ndarray
    obs_lengths: tuple[int, int, int]
    obs_layout_items: tuple
    static_obs: dict
    game_over_mode: str
    n_prod: int
    n_load: int
    zero_lines: np.ndarray
    injection_hook: Callable | None = None
    n_steps: int = 0

    def inj_row(self, t: int, planned: bool = False) -> tuple[np.ndarray, dict | None]:
        """Packed injections of step ``t`` (after the co-simulation hook, if any)."""
        row = (self.arrays.planned if planned else self.arrays.realised)[t]
        extra = None
        if self.injection_hook is not None and not planned:
            row = row.copy()
            p, d = self.n_prod, self.n_load
            extra = self.injection_hook(t, row[3 * p:3 * p + d], row[3 * p + d:],
                                        row[:p], row[2 * p:3 * p])
        return row, extra

    def outage_rows(self, t: int, simulate: bool) -> tuple[np.ndarray, np.ndarray]:
        """The maintenance and hazard rows a step to ``t`` plays (no hazard when simulated)."""
        a = self.arrays
        return a.maintenance[t], (self.zero_lines if simulate else a.hazards[t])


class StepScratch:
    """Output buffers of the step kernel for one backend, allocated once and reused.

    Only what is read before the next step goes here: events, report, the power-flow result
    (copied when a :class:`~gym_powergrid.core.results.PowerFlowResult` is built from it) and
    the reward features. The observation buffers and ``applied`` are fresh at every step: they
    are handed to the caller.
    """

    def __init__(self, sizes, n_line: int, n_sub: int) -> None:
        self.line_event = np.empty(n_line, np.int8)
        self.sub_event = np.empty(n_sub, np.int8)
        self.broken_seq = np.empty(max(n_line, 1), np.int32)
        self.report = np.empty(N_REPORT, np.int64)
        self.out_mask = np.empty(sizes.mask_len, np.bool_)
        self.out_res = np.empty(sizes.res_len)
        self.feats = np.empty(N_FEATURES)


def step_info(chronic, date_string: str, t: int, applied: np.ndarray, replaced: bool,
              line_event: np.ndarray, sub_event: np.ndarray, broken: np.ndarray, depth: int,
              status: int, flag: str | None, n_loads_cut: int, n_prods_cut: int,
              extra: dict | None):
    """The :class:`LegalityReport` and the ``info`` dict of a step, from the rules' events
    (one builder for both backends)."""
    # "any event" as a bytes test: a fraction of ndarray.any()'s cost on these short arrays
    events = bool(line_event.tobytes().strip(b"\x00"))
    if replaced:
        legality = LegalityReport(replaced_by_do_nothing=True, reason=REPLACED_REASON)
    elif events or sub_event.tobytes().strip(b"\x00"):
        legality = LegalityReport(
            illegal_reconnections=np.flatnonzero(line_event & EV_ILLEGAL_RECONNECTION),
            lines_on_cooldown=np.flatnonzero(line_event & EV_LINE_COOLDOWN),
            substations_on_cooldown=np.flatnonzero(sub_event & EV_SUB_COOLDOWN))
        if legality.n_refused:
            legality.reason = REFUSED_REASON
    else:
        legality = NOTHING_REFUSED
    if events:
        maint = np.flatnonzero(line_event & EV_MAINTENANCE).tolist()
        hazard = np.flatnonzero(line_event & EV_HAZARD).tolist()
    else:
        maint, hazard = [], []
    if legality is NOTHING_REFUSED:
        illegal = {"replaced_by_do_nothing": False, "reason": None, "illegal_reconnections": [],
                   "lines_on_cooldown": [], "substations_on_cooldown": []}
    else:
        illegal = legality.as_dict()
    info = {
        "chronic_name": chronic.name, "timestep": t, "datetime": date_string,
        "illegal": illegal, "action_applied": applied,
        "lines_broken": broken.tolist(), "cascade_depth": depth,
        "lines_maintenance_started": maint, "lines_hazards_started": hazard,
        "power_flow_status": STATUS_NAMES[status], "game_over_reason": None,
    }
    if extra:
        info["cosim"] = extra
    if flag != "diverged":
        info["n_loads_cut"] = n_loads_cut
        info["n_prods_cut"] = n_prods_cut
    return legality, info
