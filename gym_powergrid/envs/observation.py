"""The observation: a ``Dict`` of pypownet's fields, and helpers equivalent to its Observation.

:data:`OBSERVATION_KEYS` is the stable, documented order used by :func:`as_array` (the order of
pypownet's ``Observation`` constructor, ``date_second`` included). All keys:

=====================================  ======  ===========  ===================================
key                                    dtype   shape        meaning
=====================================  ======  ===========  ===================================
substations_ids                        int32   n_sub        substation ids (0-based)
active_loads / reactive_loads          f32     n_load       MW / MVAr consumed (0 if cut)
voltage_loads                          f32     n_load       p.u. voltage of the load's bus
active_productions                     f32     n_prod       MW produced (slack: balance)
reactive_productions                   f32     n_prod       MVAr produced
voltage_productions                    f32     n_prod       p.u. voltage of the prod's bus
active/reactive/voltage_flows_origin   f32     n_line       MW / MVAr / p.u. at the origin
active/reactive/voltage_flows_extr.    f32     n_line       same at the extremity
ampere_flows                           f32     n_line       A at the origin
thermal_limits                         f32     n_line       A (capacity usage = flows / limits)
lines_status                           int8    n_line       1 = in service
are_loads_cut / are_prods_cut          int8    n_load/prod  1 = isolated from the slack
loads/prods/lines_or/lines_ex subst.   int32   ...          substation id of each element
timesteps_before_lines_reconnectable   int32   n_line       broken / maintenance countdown
timesteps_before_lines_reactionable    int32   n_line       line cooldown
timesteps_before_nodes_reactionable    int32   n_sub        substation cooldown
timesteps_before_planned_maintenance   int32   n_line       0 = none within the horizon
planned_active/reactive_loads          f32     n_load       forecast for the next step
planned_active/voltage_productions     f32     n_prod       forecast for the next step
date_year ... date_second              int32   1            current date
date_day_of_week                       int32   1            0 = Monday
productions/loads/lines_or/ex_nodes    int8    ...          busbar (0/1) of each element
initial_*_nodes                        int8    ...          reference busbars (all 0)
=====================================  ======  ===========  ===================================
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ..grid.arrays import GridArrays

F32, I32, I8 = np.float32, np.int32, np.int8
I32_MAX = int(np.iinfo(np.int32).max)
INF = np.inf

OBSERVATION_KEYS = (
    "substations_ids", "active_loads", "reactive_loads", "voltage_loads", "active_productions",
    "reactive_productions", "voltage_productions", "active_flows_origin",
    "reactive_flows_origin", "voltage_flows_origin", "active_flows_extremity",
    "reactive_flows_extremity", "voltage_flows_extremity", "ampere_flows", "thermal_limits",
    "lines_status", "are_loads_cut", "are_prods_cut", "loads_substations_ids",
    "prods_substations_ids", "lines_or_substations_ids", "lines_ex_substations_ids",
    "timesteps_before_lines_reconnectable", "timesteps_before_lines_reactionable",
    "timesteps_before_nodes_reactionable", "timesteps_before_planned_maintenance",
    "planned_active_loads", "planned_reactive_loads", "planned_active_productions",
    "planned_voltage_productions", "date_year", "date_month", "date_day", "date_hour",
    "date_minute", "date_second", "date_day_of_week", "productions_nodes", "loads_nodes",
    "lines_or_nodes", "lines_ex_nodes", "initial_productions_nodes", "initial_loads_nodes",
    "initial_lines_or_nodes", "initial_lines_ex_nodes",
)

#: pypownet's MinimalistACObservation: the fields that change within an environment.
MINIMALIST_AC_KEYS = (
    "active_loads", "reactive_loads", "voltage_loads", "active_productions",
    "reactive_productions", "voltage_productions", "active_flows_origin",
    "reactive_flows_origin", "voltage_flows_origin", "active_flows_extremity",
    "reactive_flows_extremity", "voltage_flows_extremity", "ampere_flows", "lines_status",
    "are_loads_cut", "are_prods_cut", "timesteps_before_lines_reconnectable",
    "timesteps_before_lines_reactionable", "timesteps_before_nodes_reactionable",
    "timesteps_before_planned_maintenance", "planned_active_loads", "planned_reactive_loads",
    "planned_active_productions", "planned_voltage_productions", "date_year", "date_month",
    "date_day", "date_hour", "date_minute", "date_second", "productions_nodes", "loads_nodes",
    "lines_or_nodes", "lines_ex_nodes",
)

#: pypownet's MinimalistObservation: the fields meaningful in DC.
MINIMALIST_KEYS = (
    "active_loads", "active_productions", "ampere_flows", "lines_status", "are_loads_cut",
    "are_prods_cut", "timesteps_before_lines_reconnectable",
    "timesteps_before_lines_reactionable", "timesteps_before_nodes_reactionable",
    "timesteps_before_planned_maintenance", "planned_active_loads",
    "planned_active_productions", "date_year", "date_month", "date_day", "date_hour",
    "date_minute", "date_second", "productions_nodes", "loads_nodes", "lines_or_nodes",
    "lines_ex_nodes",
)


def observation_space(grid: GridArrays) -> spaces.Dict:
    """The ``Dict`` observation space of a grid, with dtypes and bounds of every key."""
    n_sub, n_prod, n_load, n_line = grid.n_sub, grid.n_prod, grid.n_load, grid.n_line

    def real(n, low=-INF):
        return spaces.Box(low=low, high=INF, shape=(n,), dtype=F32)

    def count(n, high=I32_MAX):
        return spaces.Box(low=0, high=high, shape=(n,), dtype=I32)

    def ids(n, high):
        return spaces.Box(low=0, high=max(high - 1, 0), shape=(n,), dtype=I32)

    def binary(n):
        return spaces.MultiBinary(n)

    def date(low, high):
        return spaces.Box(low=low, high=high, shape=(1,), dtype=I32)

    d = {
        "substations_ids": ids(n_sub, n_sub),
        "active_loads": real(n_load), "reactive_loads": real(n_load),
        "voltage_loads": real(n_load, 0.0),
        "active_productions": real(n_prod), "reactive_productions": real(n_prod),
        "voltage_productions": real(n_prod, 0.0),
        "active_flows_origin": real(n_line), "reactive_flows_origin": real(n_line),
        "voltage_flows_origin": real(n_line, 0.0),
        "active_flows_extremity": real(n_line), "reactive_flows_extremity": real(n_line),
        "voltage_flows_extremity": real(n_line, 0.0),
        "ampere_flows": real(n_line, 0.0), "thermal_limits": real(n_line, 0.0),
        "lines_status": binary(n_line), "are_loads_cut": binary(n_load),
        "are_prods_cut": binary(n_prod),
        "loads_substations_ids": ids(n_load, n_sub), "prods_substations_ids": ids(n_prod, n_sub),
        "lines_or_substations_ids": ids(n_line, n_sub),
        "lines_ex_substations_ids": ids(n_line, n_sub),
        "timesteps_before_lines_reconnectable": count(n_line),
        "timesteps_before_lines_reactionable": count(n_line),
        "timesteps_before_nodes_reactionable": count(n_sub),
        "timesteps_before_planned_maintenance": count(n_line),
        "planned_active_loads": real(n_load), "planned_reactive_loads": real(n_load),
        "planned_active_productions": real(n_prod),
        "planned_voltage_productions": real(n_prod),
        "date_year": date(0, 9999), "date_month": date(1, 12), "date_day": date(1, 31),
        "date_hour": date(0, 23), "date_minute": date(0, 59), "date_second": date(0, 59),
        "date_day_of_week": date(0, 6),
        "productions_nodes": binary(n_prod), "loads_nodes": binary(n_load),
        "lines_or_nodes": binary(n_line), "lines_ex_nodes": binary(n_line),
        "initial_productions_nodes": binary(n_prod), "initial_loads_nodes": binary(n_load),
        "initial_lines_or_nodes": binary(n_line), "initial_lines_ex_nodes": binary(n_line),
    }
    return spaces.Dict(d)


def as_array(obs: dict, keys=OBSERVATION_KEYS) -> np.ndarray:
    """Concatenate an observation's values in the documented key order (float64)."""
    return np.concatenate([np.asarray(obs[k], dtype=np.float64).ravel() for k in keys])


def get_lines_capacity_usage(obs: dict) -> np.ndarray:
    """Ampere flows divided by thermal limits (> 1 means overflow)."""
    lim = np.asarray(obs["thermal_limits"], dtype=np.float64)
    return np.divide(obs["ampere_flows"], lim, out=np.zeros_like(lim), where=lim > 0)


def get_nodes_of_substation(obs: dict, helper, substation_id: int):
    """Busbar of each element of a substation, with the element types (ActionHelper order)."""
    nodes = np.concatenate([obs["productions_nodes"], obs["loads_nodes"], obs["lines_or_nodes"],
                            obs["lines_ex_nodes"]])
    pos = helper.substation_element_indices(substation_id)
    _, types = helper.get_switches_configuration_of_substation(helper.do_nothing(),
                                                               substation_id)
    return nodes[pos].copy(), types


def get_lines_status_of_substation(obs: dict, grid: GridArrays, substation_id: int):
    """Status of the lines touching a substation and the substation at their other end."""
    s = int(substation_id)
    lines = np.flatnonzero((grid.line_sub_or_idx == s) | (grid.line_sub_ex_idx == s))
    other = np.where(grid.line_sub_or_idx[lines] == s, grid.line_sub_ex_idx[lines],
                     grid.line_sub_or_idx[lines])
    return np.asarray(obs["lines_status"])[lines].copy(), other


def as_minimalist_ac(obs: dict) -> dict:
    """pypownet's ``as_ac_minimalist``: drop the fields fixed within an environment."""
    return {k: obs[k] for k in MINIMALIST_AC_KEYS}


def as_minimalist(obs: dict) -> dict:
    """pypownet's ``as_minimalist``: keep only what is meaningful in DC."""
    return {k: obs[k] for k in MINIMALIST_KEYS}
