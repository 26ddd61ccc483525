"""The ``info`` of a native vector step, by Gymnasium's vector conventions.

Every key of the single env's step ``info`` (:func:`gym_powergrid.envs.fast_path.step_info`
plus what :meth:`PowerGridEnv.step` adds) becomes an array over the N grids with a boolean mask
``info["_key"]`` (which grids have the key this step); nested dicts (``illegal``,
``reward_components``, ``constraint_costs``) are nested the same way. Numbers are numeric
arrays, everything else ``object`` arrays, as :meth:`gymnasium.vector.VectorEnv._add_info`
builds them. Quiet grids (no refused switch, no outage started, no line broken) are filled
with vectorised defaults; the others go through the single env's own ``step_info`` builder.
"""

from __future__ import annotations

import numpy as np

from ..core.game_rules import FLAG_DIVERGED
from ..core.status import PFStatus
from ..core.step_kernel import (
    RP_DEPTH,
    RP_FLAG,
    RP_LOADS_CUT,
    RP_N_BROKEN,
    RP_PRODS_CUT,
    RP_REPLACED,
    RP_STATUS,
)
from .fast_path import FLAG_NAMES, step_info

STATUS_NAMES = np.array([PFStatus(v).name for v in range(max(PFStatus) + 1)], dtype=object)
#: game-over reason by kernel flag (None: the game goes on)
FLAG_REASONS = np.array([FLAG_NAMES.get(v) for v in range(max(FLAG_NAMES) + 1)], dtype=object)
ILLEGAL_KEYS = ("illegal_reconnections", "lines_on_cooldown", "substations_on_cooldown")
LIST_KEYS = ("lines_broken", "lines_maintenance_started", "lines_hazards_started")


def _objects(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def _object_array(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (lists stay list objects, not a 2-D array)."""
    return np.fromiter(values, dtype=object, count=len(values))


#: ``_new_lists(np.empty(n, object))``: an object array of n new empty lists (13 against 16 us
#: for 64 with a list comprehension and ``np.fromiter``)
_new_lists = np.frompyfunc(lambda _: [], 1, 1)


def _where(active: np.ndarray, all_on: bool, x: np.ndarray, fill, dtype) -> np.ndarray:
    """``np.where(active, x, fill)`` as ``dtype``: a plain copy of ``x`` when every grid is
    active (the common step: no autoreset row), a fraction of ``np.where``'s cost on object
    arrays."""
    if all_on:
        return np.array(x, dtype=dtype)
    return np.where(active, x, fill).astype(dtype, copy=False)


def put(info: dict, key: str, value: np.ndarray, mask: np.ndarray) -> None:
    """``info[key] = value`` with its mask ``info["_key"]``."""
    info[key] = value
    info["_" + key] = mask.copy()


def build_step_info(active: np.ndarray, chronics: list, names: np.ndarray, t: np.ndarray,
                    dt_strings: list, applied: np.ndarray, report: np.ndarray,
                    line_event: np.ndarray, sub_event: np.ndarray, broken_seq: np.ndarray,
                    counts: np.ndarray, messages: dict, components: dict, costs: dict,
                    cost: np.ndarray) -> dict:
    """The vector ``info`` of the grids stepped (``active``); see the module docstring.

    ``counts`` is :func:`~gym_powergrid.core.vector_kernel.event_counts`'s output, ``messages``
    the single env's game-over messages by reason, ``components`` / ``costs`` dicts of (N,)
    arrays, ``cost`` (N,)."""
    n = active.shape[0]
    all_on = bool(active.all())
    info: dict = {}
    flag = report[:, RP_FLAG]
    replaced = (report[:, RP_REPLACED] != 0) & active
    busy = active & (replaced | (counts.sum(axis=1) > 0) | (report[:, RP_N_BROKEN] > 0))
    t_list = t.tolist()
    if all_on:
        dts = list(map(list.__getitem__, dt_strings, t_list))
    else:
        dts = [dt_strings[i][t_list[i]] if a else None for i, a in enumerate(active)]
    put(info, "chronic_name", _where(active, all_on, names, None, object), active)
    put(info, "timestep", _where(active, all_on, t, 0, np.int64), active)
    put(info, "datetime", _object_array(dts), active)
    # the quiet grids' entries: new empty lists (None where not active)
    if all_on:
        lists = {k: _new_lists(np.empty(n, object)) for k in (*ILLEGAL_KEYS, *LIST_KEYS)}
    else:
        act = active.tolist()
        lists = {k: _object_array([[] if a else None for a in act])
                 for k in (*ILLEGAL_KEYS, *LIST_KEYS)}
    reason = _objects(n)
    for i in np.flatnonzero(busy).tolist():
        st = int(report[i, RP_STATUS])
        f = FLAG_NAMES.get(int(flag[i]))
        _, one = step_info(chronics[i], dts[i], t_list[i], applied[i], bool(replaced[i]),
                           line_event[i], sub_event[i], broken_seq[i, :report[i, RP_N_BROKEN]],
                           int(report[i, RP_DEPTH]), st, f, 0, 0, None)
        reason[i] = one["illegal"]["reason"]
        for k in ILLEGAL_KEYS:
            lists[k][i] = one["illegal"][k]
        for k in LIST_KEYS:
            lists[k][i] = one[k]
    illegal = {"replaced_by_do_nothing": replaced, "reason": reason}
    for k in ILLEGAL_KEYS:
        illegal[k] = lists[k]
    info["illegal"] = {}
    for k, v in illegal.items():
        put(info["illegal"], k, v, active)
    info["_illegal"] = active.copy()
    put(info, "action_applied", applied.copy() if all_on else np.where(
        active[:, None], applied, 0).astype(applied.dtype), active)
    put(info, "lines_broken", lists["lines_broken"], active)
    put(info, "cascade_depth", _where(active, all_on, report[:, RP_DEPTH], 0, np.int64),
        active)
    for k in LIST_KEYS[1:]:
        put(info, k, lists[k], active)
    put(info, "power_flow_status", _where(active, all_on, STATUS_NAMES[report[:, RP_STATUS]],
                                          None, object), active)
    reasons = _where(active, all_on, FLAG_REASONS[flag], None, object)
    put(info, "game_over_reason", reasons, active)
    over = active & (flag != 0)
    if over.any():
        msg = _objects(n)
        for i in np.flatnonzero(over):
            msg[i] = messages[reasons[i]]
        put(info, "game_over_message", msg, over)
    solved = active & (flag != FLAG_DIVERGED)
    if solved.any():
        put(info, "n_loads_cut", np.where(solved, report[:, RP_LOADS_CUT], 0).astype(np.int64),
            solved)
        put(info, "n_prods_cut", np.where(solved, report[:, RP_PRODS_CUT], 0).astype(np.int64),
            solved)
    info["reward_components"] = {}
    for k, v in components.items():
        put(info["reward_components"], k,
            _where(active, all_on, v, 0.0, np.result_type(v, 0.0)), active)
    info["_reward_components"] = active.copy()
    info["constraint_costs"] = {}
    for k, v in costs.items():
        put(info["constraint_costs"], k, _where(active, all_on, v, 0, np.int64), active)
    info["_constraint_costs"] = active.copy()
    put(info, "cost", _where(active, all_on, cost, 0.0, np.result_type(cost, 0.0)), active)
    return info


def row_info(info: dict, i: int) -> dict:
    """Grid ``i``'s own ``info`` dict out of a vector ``info`` (the keys its mask has)."""
    out = {}
    for k, v in info.items():
        if k.startswith("_") or not info.get("_" + k, np.zeros(i + 1, bool))[i]:
            continue
        if isinstance(v, dict):
            out[k] = row_info(v, i)
        else:
            x = v[i]
            if isinstance(x, np.ndarray):
                x = x.copy()
            out[k] = x.item() if isinstance(x, np.generic) else x
    return out


def drop_row(info: dict, i: int) -> None:
    """Remove grid ``i`` from a vector ``info`` (mask False, value zeroed), recursively."""
    for k in [k for k in info if not k.startswith("_")]:
        v = info[k]
        if k in ("final_obs", "final_info"):
            continue
        if isinstance(v, dict):
            drop_row(v, i)
        else:
            v[i] = None if v.dtype == object else 0
        mask = info.get("_" + k)
        if mask is not None:
            mask[i] = False
