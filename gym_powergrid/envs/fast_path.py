"""The numba-backend transition: one :func:`~gym_powergrid.core.step_kernel.env_step` call.

It reads only its arguments: the :class:`~.step_context.StepContext` of the chronic, the
backend and its reused :class:`~.step_context.StepScratch` buffers. A :class:`KernelCall` packs
what stays the same from step to step once (the env keeps one per chronic and backend), so a
step builds only the state's, the action's and the step's arguments; :func:`fast_transition`
is the one-off form.
"""

from __future__ import annotations

import numpy as np

from ..core.powerflow import result_from_buffers as _build_result
from ..core.results import PowerFlowResult
from ..core.rules import GameState
from ..core.step_kernel import (
    ENV_STEP_BY_MODE,
    RP_DEPTH,
    RP_FLAG,
    RP_ITER,
    RP_LOADS_CUT,
    RP_N_BROKEN,
    RP_PRODS_CUT,
    RP_REPLACED,
    RP_STATUS,
)
from .step_context import FLAG_NAMES, StepContext, StepScratch, pack_rules, step_info

__all__ = ["FLAG_NAMES", "OBS_DTYPES", "KernelCall", "fast_transition", "pack_rules",
           "result_from_buffers", "step_info"]

F32, I32, I8 = np.float32, np.int32, np.int8
OBS_DTYPES = (F32, I32, I8)


def result_from_buffers(pf, status: int, n_iter: int, bus_v: np.ndarray, out_mask: np.ndarray,
                        out_res: np.ndarray) -> PowerFlowResult:
    """:func:`gym_powergrid.core.powerflow.result_from_buffers` for backend ``pf`` (views into
    the buffers given: pass copies when the buffers are reused)."""
    return _build_result(pf.sizes, status, n_iter, bus_v, out_mask, out_res)


def _readonly(a: np.ndarray) -> np.ndarray:
    """``a`` or a read-only view of it: the kernel then sees one type for these inputs (the
    chronic's rows are read-only), so it compiles one signature, not one per caller."""
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


class KernelCall:
    """The transitions of one backend ``pf`` on one chronic (:class:`StepContext`): the kernel
    arguments that stay the same from step to step (rules, solver settings, the chronic's
    tables as read-only views, the reused ``scratch`` buffers) are packed once, so that a step
    passes only the state, the action and the step's rows.

    It reads only its arguments; build a new one when the context changes (each reset, a new
    injection hook). The backend's ``bus_v`` and workspace are read at each call (a backend may
    replace its workspace).
    """

    __slots__ = ("ctx", "scratch", "pf", "ac", "kernel", "_rules", "_solver", "_out",
                 "_events", "_last", "_realised", "_planned", "_maintenance", "_hazards",
                 "_no_hazards", "_maint_fc", "_dates", "_date_strings", "_lengths", "_obs_items",
                 "_hook")

    def __init__(self, ctx: StepContext, scratch: StepScratch, pf, ac: bool) -> None:
        self.ctx, self.scratch, self.pf, self.ac = ctx, scratch, pf, ac
        mode = pf.ac_mode if ac else 0
        self.kernel = ENV_STEP_BY_MODE[mode]  # compiled for this mode's solver only
        s, a = scratch, ctx.arrays
        self._rules = (ctx.node_switch_sub, ctx.rules_i, ctx.rules_f)
        self._solver = (ctx.limits_a, mode, pf.max_iter, pf.tol_pu, pf.grid_i, pf.grid_f)
        self._out = (s.out_mask, s.out_res)
        self._events = (s.line_event, s.sub_event, s.broken_seq, s.report)
        self._last = a.dates.shape[0] - 1
        # read-only for the kernel's one signature (an unpickled env's tables are writable):
        # rows of a read-only view are read-only
        self._realised, self._planned = _readonly(a.realised), _readonly(a.planned)
        self._maintenance, self._hazards = _readonly(a.maintenance), _readonly(a.hazards)
        self._no_hazards = _readonly(ctx.zero_lines)
        self._maint_fc, self._dates, self._date_strings = a.maint_fc, a.dates, a.date_strings
        self._lengths = ctx.obs_lengths
        self._obs_items = tuple((k, b, sl) for k, (b, sl) in ctx.obs_layout_items)
        self._hook = ctx.injection_hook

    def __call__(self, state: GameState, action: np.ndarray, simulate: bool = False,
                 outage_rows: tuple[np.ndarray, np.ndarray] | None = None):
        """:func:`fast_transition` with this call's context, backend and scratch."""
        st = state.copy() if simulate else state
        last = self._last
        t = st.step + 1
        if t > last:
            t = last
        st.step = t
        if simulate:
            inj, extra = self._planned[t], None
        elif self._hook is None:
            inj, extra = self._realised[t], None
        else:
            inj, extra = self.ctx.inj_row(t, False)
            inj = _readonly(inj)
        if outage_rows is not None:
            maint_row, hazards = _readonly(outage_rows[0]), _readonly(outage_rows[1])
        else:
            maint_row = self._maintenance[t]
            hazards = self._no_hazards if simulate else self._hazards[t]
        pf = self.pf
        bus_v = pf.bus_v.copy() if simulate else pf.bus_v
        n_f32, n_i32, n_i8 = self._lengths
        f32, i32, i8 = np.empty(n_f32, F32), np.empty(n_i32, I32), np.empty(n_i8, I8)
        applied = np.empty(action.shape, action.dtype)
        feats = self.scratch.feats
        self.kernel(action, st.topo, st.line_unavailable, st.line_overflow_steps,
                    st.line_cooldown, st.sub_cooldown, *self._rules, maint_row, hazards, inj,
                    *self._solver, bus_v, pf.ws_i, pf.ws_f,
                    self._planned[t + 1 if t < last else last], self._maint_fc[t],
                    self._dates[t], *self._out, applied, *self._events, f32, i32, i8, feats)
        line_event, sub_event, broken_seq, report = self._events
        rep = report.tolist()  # Python ints, one call
        status, n_iter = rep[RP_STATUS], rep[RP_ITER]
        v = bus_v.copy()
        out_mask, out_res = self._out

        def result() -> PowerFlowResult:
            return result_from_buffers(pf, status, n_iter, v, out_mask.copy(), out_res.copy())

        flag = FLAG_NAMES.get(rep[RP_FLAG])
        legality, info = step_info(self.ctx.chronic, self._date_strings[t], t, applied,
                                   rep[RP_REPLACED] != 0, line_event, sub_event,
                                   broken_seq[:rep[RP_N_BROKEN]], rep[RP_DEPTH], status, flag,
                                   rep[RP_LOADS_CUT], rep[RP_PRODS_CUT], extra)
        bufs = (f32, i32, i8)
        obs = {k: bufs[b][sl] for k, b, sl in self._obs_items}
        return st, result, flag, info, applied, legality, obs, feats


def fast_transition(ctx: StepContext, scratch: StepScratch, state: GameState,
                    action: np.ndarray, pf, ac: bool, simulate: bool,
                    outage_rows: tuple[np.ndarray, np.ndarray] | None = None):
    """Numba-backend twin of :func:`.reference_path.reference_transition`; also returns the
    observation and the reward features. ``state`` is mutated unless ``simulate``.
    ``outage_rows`` replaces the chronic's maintenance and hazard rows of the step (reset).
    Each call packs the arguments anew: to play many steps, keep a :class:`KernelCall`.

    The power-flow result is returned as a zero-argument callable building the
    :class:`PowerFlowResult` on demand (most steps never need it); call it before the next
    transition on the same ``scratch`` (it copies the buffers it reads). The reward features
    (last item) live in ``scratch``: read them before the next transition.
    """
    return KernelCall(ctx, scratch, pf, ac)(state, action, simulate, outage_rows)
