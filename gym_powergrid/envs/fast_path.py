"""The numba-backend transition: one :func:`~gym_powergrid.core.step_kernel.env_step` call.

It reads only its arguments: the :class:`~.step_context.StepContext` of the chronic, the
backend and its reused :class:`~.step_context.StepScratch` buffers.
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

__all__ = ["FLAG_NAMES", "OBS_DTYPES", "fast_transition", "pack_rules", "result_from_buffers",
           "step_info"]

OBS_DTYPES = (np.float32, np.int32, np.int8)


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


def fast_transition(ctx: StepContext, scratch: StepScratch, state: GameState,
                    action: np.ndarray, pf, ac: bool, simulate: bool,
                    outage_rows: tuple[np.ndarray, np.ndarray] | None = None):
    """Numba-backend twin of :func:`.reference_path.reference_transition`; also returns the
    observation and the reward features. ``state`` is mutated unless ``simulate``.
    ``outage_rows`` replaces the chronic's maintenance and hazard rows of the step (reset).

    The power-flow result is returned as a zero-argument callable building the
    :class:`PowerFlowResult` on demand (most steps never need it); call it before the next
    transition on the same ``scratch`` (it copies the buffers it reads). The reward features
    (last item) live in ``scratch``: read them before the next transition.
    """
    st = state.copy() if simulate else state
    c = ctx.chronic
    arrays = ctx.arrays
    last = arrays.dates.shape[0] - 1
    t = st.step + 1
    if t > last:
        t = last
    st.step = t
    inj, extra = ctx.inj_row(t, simulate)
    maint_row, hazards = outage_rows if outage_rows is not None else ctx.outage_rows(t, simulate)
    # read-only for the kernel's one signature (an unpickled env's tables are writable)
    inj, maint_row, hazards = _readonly(inj), _readonly(maint_row), _readonly(hazards)
    s = scratch
    applied = np.empty(action.shape, action.dtype)
    report = s.report
    out_mask, out_res = s.out_mask, s.out_res
    bus_v = pf.bus_v if not simulate else pf.bus_v.copy()
    n_f32, n_i32, n_i8 = ctx.obs_lengths
    bufs = (np.empty(n_f32, np.float32), np.empty(n_i32, np.int32), np.empty(n_i8, np.int8))
    mode = pf.ac_mode if ac else 0
    step_kernel = ENV_STEP_BY_MODE[mode]  # compiled for this mode's solver only
    step_kernel(action, st.topo, st.line_unavailable, st.line_overflow_steps, st.line_cooldown,
                st.sub_cooldown, ctx.node_switch_sub, ctx.rules_i, ctx.rules_f,
                maint_row, hazards, inj, ctx.limits_a, mode, pf.max_iter,
                pf.tol_pu, pf.grid_i, pf.grid_f, bus_v, pf.ws_i, pf.ws_f,
                _readonly(arrays.planned[t + 1 if t < last else last]), arrays.maint_fc[t],
                arrays.dates[t],
                out_mask, out_res, applied, s.line_event, s.sub_event, s.broken_seq, report,
                bufs[0], bufs[1], bufs[2], s.feats)
    rep = report.tolist()  # Python ints, one call
    status, n_iter = rep[RP_STATUS], rep[RP_ITER]
    v = bus_v.copy()

    def result() -> PowerFlowResult:
        return result_from_buffers(pf, status, n_iter, v, out_mask.copy(), out_res.copy())

    flag = FLAG_NAMES.get(rep[RP_FLAG])
    legality, info = step_info(c, arrays.date_strings[t], t, applied, rep[RP_REPLACED] != 0,
                               s.line_event, s.sub_event, s.broken_seq[:rep[RP_N_BROKEN]],
                               rep[RP_DEPTH], status, flag, rep[RP_LOADS_CUT],
                               rep[RP_PRODS_CUT], extra)
    obs = {k: bufs[b][sl] for k, (b, sl) in ctx.obs_layout_items}
    return st, result, flag, info, applied, legality, obs, s.feats
