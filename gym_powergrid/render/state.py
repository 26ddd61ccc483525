"""What one frame shows, extracted from a pypownet observation dict (pure numpy, no pygame).

:func:`frame_state` validates the observation keys the renderer uses and classifies every line
(in service, overflowed, switched off, broken, in maintenance). Keeping this apart from drawing
makes the classification testable without a display.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..grid.arrays import GridArrays

logger = logging.getLogger(__name__)

#: Line categories (``FrameState.line_category``).
LINE_ON = 0
LINE_OVERFLOW = 1
LINE_OFF = 2  # switched off by the agent (or initially out of service)
LINE_BROKEN = 3  # off with a reconnection cooldown, not in maintenance
LINE_MAINTENANCE = 4


@dataclass(frozen=True, eq=False)
class FrameState:
    """Everything the renderer draws for one observation.

    Attributes:
        line_usage: capacity usage ``ampere_flows / thermal_limits`` (NaN when unknown; 0 for
            lines off).
        line_category: one of ``LINE_ON``, ``LINE_OVERFLOW``, ``LINE_OFF``, ``LINE_BROKEN``,
            ``LINE_MAINTENANCE`` per line.
        line_p_or_mw: active flow at the origin (sign gives the flow direction).
        line_or_node: busbar (0/1) of each line origin.
        line_ex_node: busbar (0/1) of each line extremity.
        line_cooldown: steps before each line can be reconnected.
        line_planned: steps before each line's next planned maintenance (0 = none).
        line_just_broken_mask: lines reported broken at this step (``info["lines_broken"]``).
        prod_p_mw: active production per production.
        prod_node: busbar per production.
        prod_cut_mask: isolated productions.
        load_p_mw: active consumption per load.
        load_node: busbar per load.
        load_cut_mask: isolated loads.
        sub_bus1_mask: substations with at least one element on busbar 1.
        sub_split_mask: substations with elements on both busbars.
        date: the observation's date, ``None`` when absent or invalid.
        chronic_name: from ``info``, ``None`` when absent.
        timestep: from ``info``, ``None`` when absent.
        game_over_reason: from ``info``, ``None`` when absent.
    """

    line_usage: np.ndarray
    line_category: np.ndarray
    line_p_or_mw: np.ndarray
    line_or_node: np.ndarray
    line_ex_node: np.ndarray
    line_cooldown: np.ndarray
    line_planned: np.ndarray
    line_just_broken_mask: np.ndarray
    prod_p_mw: np.ndarray
    prod_node: np.ndarray
    prod_cut_mask: np.ndarray
    load_p_mw: np.ndarray
    load_node: np.ndarray
    load_cut_mask: np.ndarray
    sub_bus1_mask: np.ndarray
    sub_split_mask: np.ndarray
    date: _dt.datetime | None
    chronic_name: str | None
    timestep: int | None
    game_over_reason: str | None

    @property
    def total_load_mw(self) -> float:
        return float(np.nansum(np.where(self.load_cut_mask, 0.0, self.load_p_mw)))

    @property
    def total_prod_mw(self) -> float:
        return float(np.nansum(np.where(self.prod_cut_mask, 0.0, self.prod_p_mw)))

    @property
    def n_overflow(self) -> int:
        return int(np.count_nonzero(self.line_category == LINE_OVERFLOW))


def _vec(obs: Mapping, key: str, n: int, default: float | None = None) -> np.ndarray:
    """``obs[key]`` as a float vector of length ``n``; ``default`` fills a missing key."""
    if key not in obs or obs[key] is None:
        if default is None:
            raise KeyError(
                f"observation has no key {key!r}; the renderer needs pypownet's observation "
                f"keys (got {sorted(obs)[:8]}...)"
            )
        return np.full(n, default, dtype=np.float64)
    a = np.asarray(obs[key], dtype=np.float64).reshape(-1)
    if a.shape[0] != n:
        raise ValueError(f"observation key {key!r} has {a.shape[0]} entries, expected {n}")
    return a


def _mask_from_info(info: Mapping, key: str, n: int) -> np.ndarray:
    """A bool mask from ``info[key]`` given either as a mask or as a list of ids."""
    raw = info.get(key)
    mask = np.zeros(n, dtype=bool)
    if raw is None:
        return mask
    a = np.asarray(raw).reshape(-1)
    if a.dtype == bool and a.shape[0] == n:
        return a.copy()
    ids = a.astype(np.int64) if a.size else np.zeros(0, np.int64)
    ok = (ids >= 0) & (ids < n)
    if not ok.all():
        logger.warning("info[%r] holds line ids out of range [0, %d): %s", key, n, ids[~ok])
    mask[ids[ok]] = True
    return mask


def _date(obs: Mapping) -> _dt.datetime | None:
    keys = ("date_year", "date_month", "date_day", "date_hour", "date_minute")
    if not all(k in obs for k in keys[:3]):
        return None
    try:
        parts = [int(np.asarray(obs[k]).reshape(-1)[0]) if k in obs else 0 for k in keys]
        return _dt.datetime(*parts)
    except (ValueError, IndexError, TypeError, OverflowError):
        return None


def _nodes(obs: Mapping, key: str, n: int) -> np.ndarray:
    return (np.nan_to_num(_vec(obs, key, n, default=0.0)) > 0.5).astype(np.int8)


def frame_state(grid: GridArrays, obs: Mapping, info: Mapping | None = None) -> FrameState:
    """Extract a :class:`FrameState` from a pypownet observation and an optional ``info`` dict.

    Missing optional keys (reactive values, dates, cooldowns, cut flags) fall back to neutral
    values; ``thermal_limits`` falls back to the grid's limits.

    Raises:
        KeyError: if a required key (``lines_status``, ``ampere_flows``, ``active_productions``,
            ``active_loads``) is missing.
        ValueError: if a key has the wrong number of entries.
    """
    info = info or {}
    n_line, n_prod, n_load, n_sub = grid.n_line, grid.n_prod, grid.n_load, grid.n_sub
    status = np.nan_to_num(_vec(obs, "lines_status", n_line)) > 0.5
    amps = _vec(obs, "ampere_flows", n_line)
    limits = (
        _vec(obs, "thermal_limits", n_line)
        if "thermal_limits" in obs
        else np.asarray(grid.line_limit_a, dtype=np.float64)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        usage = np.where(limits > 0, np.abs(amps) / limits, np.nan)
    usage = np.where(status, usage, 0.0)
    cooldown = np.nan_to_num(_vec(obs, "timesteps_before_lines_reconnectable", n_line, 0.0))
    planned = np.nan_to_num(_vec(obs, "timesteps_before_planned_maintenance", n_line, 0.0))
    maintenance = _mask_from_info(info, "lines_in_maintenance", n_line)

    category = np.full(n_line, LINE_ON, dtype=np.int8)
    category[status & (usage >= 1.0)] = LINE_OVERFLOW
    category[~status] = LINE_OFF
    category[~status & (cooldown > 0)] = LINE_BROKEN
    category[maintenance] = LINE_MAINTENANCE

    prod_node = _nodes(obs, "productions_nodes", n_prod)
    load_node = _nodes(obs, "loads_nodes", n_load)
    or_node = _nodes(obs, "lines_or_nodes", n_line)
    ex_node = _nodes(obs, "lines_ex_nodes", n_line)
    on1 = np.zeros(n_sub, dtype=np.int64)
    on0 = np.zeros(n_sub, dtype=np.int64)
    for subs, nodes in (
        (grid.prod_sub_idx, prod_node),
        (grid.load_sub_idx, load_node),
        (grid.line_sub_or_idx, or_node),
        (grid.line_sub_ex_idx, ex_node),
    ):
        on1 += np.bincount(subs, weights=nodes, minlength=n_sub).astype(np.int64)
        on0 += np.bincount(subs, weights=1 - nodes, minlength=n_sub).astype(np.int64)

    timestep = info.get("timestep")
    chronic = info.get("chronic_name")
    return FrameState(
        line_usage=usage,
        line_category=category,
        line_p_or_mw=np.nan_to_num(_vec(obs, "active_flows_origin", n_line, 0.0)),
        line_or_node=or_node,
        line_ex_node=ex_node,
        line_cooldown=cooldown.astype(np.int64),
        line_planned=planned.astype(np.int64),
        line_just_broken_mask=_mask_from_info(info, "lines_broken", n_line),
        prod_p_mw=_vec(obs, "active_productions", n_prod),
        prod_node=prod_node,
        prod_cut_mask=np.nan_to_num(_vec(obs, "are_prods_cut", n_prod, 0.0)) > 0.5,
        load_p_mw=_vec(obs, "active_loads", n_load),
        load_node=load_node,
        load_cut_mask=np.nan_to_num(_vec(obs, "are_loads_cut", n_load, 0.0)) > 0.5,
        sub_bus1_mask=on1 > 0,
        sub_split_mask=(on1 > 0) & (on0 > 0),
        date=_date(obs),
        chronic_name=None if chronic is None else str(chronic),
        timestep=None if timestep is None else int(timestep),
        game_over_reason=info.get("game_over_reason"),
    )
