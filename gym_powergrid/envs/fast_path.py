"""The numba-backend transition: one :func:`~gym_powergrid.core.step_kernel.game_step` call."""

from __future__ import annotations

import numpy as np

from ..core.obs_kernel import N_FEATURES
from ..core.pf_kernel import (
    LN_A_EX,
    LN_A_OR,
    LN_P_EX,
    LN_P_OR,
    LN_Q_EX,
    LN_Q_OR,
    LN_V_EX,
    LN_V_OR,
    LR_P,
    LR_Q,
    LR_V,
    PR_P,
    PR_Q,
    PR_V,
    result_views,
)
from ..core.results import PowerFlowResult
from ..core.rules import GameState, LegalityReport
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
    RP_DEPTH,
    RP_FLAG,
    RP_ITER,
    RP_LOADS_CUT,
    RP_N_BROKEN,
    RP_PRODS_CUT,
    RP_REPLACED,
    RP_STATUS,
    env_step,
)

OBS_DTYPES = (np.float32, np.int32, np.int8)
FLAG_NAMES = {FLAG_DIVERGED: "diverged", FLAG_LOADS: "too_many_loads_cut",
              FLAG_PRODS: "too_many_prods_cut"}


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


def result_from_buffers(pf, status: int, n_iter: int, bus_v: np.ndarray, out_mask: np.ndarray,
                        out_res: np.ndarray) -> PowerFlowResult:
    """A :class:`PowerFlowResult` of views into the kernel's output buffers."""
    bus_on, prod_cut, load_cut, prod_res, load_res, line_res = result_views(pf.sizes, out_mask,
                                                                            out_res)
    return PowerFlowResult(
        status=PFStatus(int(status)), n_iter=int(n_iter),
        bus_vm_pu=bus_v[0], bus_va_rad=bus_v[1], bus_energized_mask=bus_on,
        prod_p_mw=prod_res[:, PR_P], prod_q_mvar=prod_res[:, PR_Q], prod_v_pu=prod_res[:, PR_V],
        prod_cut_mask=prod_cut, load_p_mw=load_res[:, LR_P], load_q_mvar=load_res[:, LR_Q],
        load_v_pu=load_res[:, LR_V], load_cut_mask=load_cut,
        line_p_or_mw=line_res[:, LN_P_OR], line_q_or_mvar=line_res[:, LN_Q_OR],
        line_a_or=line_res[:, LN_A_OR], line_v_or_pu=line_res[:, LN_V_OR],
        line_p_ex_mw=line_res[:, LN_P_EX], line_q_ex_mvar=line_res[:, LN_Q_EX],
        line_a_ex=line_res[:, LN_A_EX], line_v_ex_pu=line_res[:, LN_V_EX],
    )


def step_info(chronic, t: int, applied: np.ndarray, replaced: bool, line_event: np.ndarray,
              sub_event: np.ndarray, broken: np.ndarray, depth: int, status: int,
              flag: str | None, n_loads_cut: int, n_prods_cut: int, extra: dict | None):
    """The :class:`LegalityReport` and the ``info`` dict of a step, from the rules' events
    (one builder for both backends)."""
    legality = LegalityReport(replaced_by_do_nothing=replaced)
    events = line_event.any()
    maint = hazard = []
    if replaced:
        legality.reason = "action touches more substations/lines than allowed"
    elif events or sub_event.any():
        legality.illegal_reconnections = np.flatnonzero(line_event & EV_ILLEGAL_RECONNECTION)
        legality.lines_on_cooldown = np.flatnonzero(line_event & EV_LINE_COOLDOWN)
        legality.substations_on_cooldown = np.flatnonzero(sub_event & EV_SUB_COOLDOWN)
        if legality.n_refused:
            legality.reason = "some switches were refused (cooldown or unavailable line)"
    if events:
        maint = np.flatnonzero(line_event & EV_MAINTENANCE).tolist()
        hazard = np.flatnonzero(line_event & EV_HAZARD).tolist()
    info = {
        "chronic_name": chronic.name, "timestep": t, "datetime": str(chronic.datetimes[t]),
        "illegal": legality.as_dict(), "action_applied": applied,
        "lines_broken": broken.tolist(), "cascade_depth": depth,
        "lines_maintenance_started": maint, "lines_hazards_started": hazard,
        "power_flow_status": PFStatus(status).name, "game_over_reason": None,
    }
    if extra:
        info["cosim"] = extra
    if flag != "diverged":
        info["n_loads_cut"] = n_loads_cut
        info["n_prods_cut"] = n_prods_cut
    return legality, info


def fast_transition(env, state: GameState, action: np.ndarray, pf, ac: bool, simulate: bool,
                    outage_rows: tuple[np.ndarray, np.ndarray] | None = None):
    """Numba-backend twin of ``PowerGridEnv._transition_reference``; also returns the
    observation and the reward features. ``state`` is mutated unless ``simulate``.
    ``outage_rows`` replaces the chronic's maintenance and hazard rows of the step (reset).

    The power-flow result is returned as a zero-argument callable building the
    :class:`PowerFlowResult` on demand (most steps never need it).
    """
    st = state.copy() if simulate else state
    c = env._chronic
    t = min(st.step + 1, c.n_steps - 1)
    st.step = t
    inj, extra = env._inj_row(t, planned=simulate)
    if outage_rows is not None:
        maint_row, hazards = outage_rows
    else:
        maint_row = c.maintenance[t]
        hazards = env._zero_lines if simulate else c.hazards[t]
    sz = pf.sizes
    applied = np.empty_like(action)
    line_event = np.empty(sz.n_line, np.int8)
    sub_event = np.empty(sz.n_sub, np.int8)
    broken_seq = np.empty(max(sz.n_line, 1), np.int32)
    report = np.empty(N_REPORT, np.int64)
    out_mask = np.empty(sz.mask_len, np.bool_)
    out_res = np.empty(sz.res_len)
    bus_v = pf.bus_v if not simulate else pf.bus_v.copy()
    n_f32, n_i32, n_i8 = env._obs_lengths
    f32 = np.empty(n_f32, np.float32)
    i32 = np.empty(n_i32, np.int32)
    i8 = np.empty(n_i8, np.int8)
    feats = np.empty(N_FEATURES)
    maint_fc, dates = env._events(c)
    planned = env._packed(c)[1][min(t + 1, c.n_steps - 1)]
    env_step(action, st.topo, st.line_unavailable, st.line_overflow_steps, st.line_cooldown,
             st.sub_cooldown, env.action_helper.node_switch_sub, env._rules_i, env._rules_f,
             maint_row, hazards, inj, env.limits_a, pf.ac_mode if ac else 0, pf.max_iter,
             pf.tol_pu,
             pf.grid_i, pf.grid_f, bus_v, pf.ws_i, pf.ws_f, planned, maint_fc[t], dates[t],
             out_mask, out_res, applied, line_event, sub_event, broken_seq, report,
             f32, i32, i8, feats)
    status = int(report[RP_STATUS])
    v = bus_v.copy()

    def result() -> PowerFlowResult:
        return result_from_buffers(pf, status, report[RP_ITER], v, out_mask, out_res)

    flag = FLAG_NAMES.get(int(report[RP_FLAG]))
    legality, info = step_info(c, t, applied, bool(report[RP_REPLACED]), line_event, sub_event,
                               broken_seq[:report[RP_N_BROKEN]], int(report[RP_DEPTH]), status,
                               flag, int(report[RP_LOADS_CUT]), int(report[RP_PRODS_CUT]), extra)
    bufs = (f32, i32, i8)
    obs = {k: bufs[b][sl] for k, (b, sl) in env._obs_layout_items}
    return st, result, flag, info, applied, legality, obs, feats
