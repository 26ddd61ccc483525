"""pypownet's observation array, ``Observation`` and ``ObservationSpace`` over our ``Dict`` obs.

pypownet hands its agents a flat numpy array (``Observation.as_array()``) and the agents turn it
back into an object with ``environment.observation_space.array_to_observation(array)``. The
array is laid out as pypownet 2.2.9 lays it out (``pypownet/environment.py``, the order of
``ObservationSpace`` and of ``Observation.as_array``): the ``MinimalistObservation`` fields, then
the AC fields, then the fields fixed within an environment (:data:`PYPOWNET_LAYOUT`).

Field names are pypownet's; two of our ``Dict`` keys are spelt differently
(:data:`RENAMED`). Substation ids are pypownet's: 1-based (MATPOWER bus numbers of pypownet's
own grids), i.e. our 0-based substation index + :data:`SUBSTATION_ID_OFFSET`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...envs.observation import get_lines_status_of_substation, get_nodes_of_substation
from .errors import unsupported

#: pypownet numbers substations from 1 (MATPOWER bus numbers); ours are 0-based indices.
SUBSTATION_ID_OFFSET = 1

#: pypownet field -> (our Dict key, size: "load" | "prod" | "line" | "sub" | 1), in the order of
#: pypownet's observation array.
PYPOWNET_LAYOUT: tuple[tuple[str, str, Any], ...] = (
    # MinimalistObservation
    ("active_loads", "active_loads", "load"), ("are_loads_cut", "are_loads_cut", "load"),
    ("planned_active_loads", "planned_active_loads", "load"),
    ("loads_nodes", "loads_nodes", "load"),
    ("active_productions", "active_productions", "prod"),
    ("are_productions_cut", "are_prods_cut", "prod"),
    ("planned_active_productions", "planned_active_productions", "prod"),
    ("productions_nodes", "productions_nodes", "prod"),
    ("lines_or_nodes", "lines_or_nodes", "line"), ("lines_ex_nodes", "lines_ex_nodes", "line"),
    ("ampere_flows", "ampere_flows", "line"), ("lines_status", "lines_status", "line"),
    ("timesteps_before_lines_reconnectable", "timesteps_before_lines_reconnectable", "line"),
    ("timesteps_before_lines_reactionable", "timesteps_before_lines_reactionable", "line"),
    ("timesteps_before_nodes_reactionable", "timesteps_before_nodes_reactionable", "sub"),
    ("timesteps_before_planned_maintenance", "timesteps_before_planned_maintenance", "line"),
    ("date_year", "date_year", 1), ("date_month", "date_month", 1), ("date_day", "date_day", 1),
    ("date_hour", "date_hour", 1), ("date_minute", "date_minute", 1),
    ("date_second", "date_second", 1),
    # MinimalistACObservation
    ("reactive_loads", "reactive_loads", "load"), ("voltage_loads", "voltage_loads", "load"),
    ("reactive_productions", "reactive_productions", "prod"),
    ("voltage_productions", "voltage_productions", "prod"),
    ("active_flows_origin", "active_flows_origin", "line"),
    ("reactive_flows_origin", "reactive_flows_origin", "line"),
    ("voltage_flows_origin", "voltage_flows_origin", "line"),
    ("active_flows_extremity", "active_flows_extremity", "line"),
    ("reactive_flows_extremity", "reactive_flows_extremity", "line"),
    ("voltage_flows_extremity", "voltage_flows_extremity", "line"),
    ("planned_reactive_loads", "planned_reactive_loads", "load"),
    ("planned_voltage_productions", "planned_voltage_productions", "prod"),
    # Observation (fixed within an environment)
    ("substations_ids", "substations_ids", "sub"),
    ("loads_substations_ids", "loads_substations_ids", "load"),
    ("productions_substations_ids", "prods_substations_ids", "prod"),
    ("lines_or_substations_ids", "lines_or_substations_ids", "line"),
    ("lines_ex_substations_ids", "lines_ex_substations_ids", "line"),
    ("thermal_limits", "thermal_limits", "line"),
    ("initial_productions_nodes", "initial_productions_nodes", "prod"),
    ("initial_loads_nodes", "initial_loads_nodes", "load"),
    ("initial_lines_or_nodes", "initial_lines_or_nodes", "line"),
    ("initial_lines_ex_nodes", "initial_lines_ex_nodes", "line"),
)

#: pypownet field -> our Dict key, where they differ.
RENAMED = {p: ours for p, ours, _ in PYPOWNET_LAYOUT if p != ours}
#: fields holding substation ids (shifted by :data:`SUBSTATION_ID_OFFSET`).
ID_FIELDS = frozenset(p for p, _, _ in PYPOWNET_LAYOUT if p.endswith("substations_ids"))
FIELDS = tuple(p for p, _, _ in PYPOWNET_LAYOUT)
#: where pypownet's three observation classes end in the array (fields, not values)
N_MINIMALIST_FIELDS, N_AC_FIELDS = 22, 34


def field_sizes(n_prod: int, n_load: int, n_line: int, n_sub: int) -> list[int]:
    """Number of values of each field of :data:`PYPOWNET_LAYOUT` for a grid of these sizes."""
    n = {"load": n_load, "prod": n_prod, "line": n_line, "sub": n_sub}
    return [n[size] if isinstance(size, str) else int(size) for _, _, size in PYPOWNET_LAYOUT]


def to_pypownet_array(obs: dict) -> np.ndarray:
    """pypownet's observation array (float64) from our ``Dict`` observation."""
    if not isinstance(obs, dict):
        raise TypeError("the pypownet adapter needs the Dict observation of PowerGridEnv, got "
                        f"{type(obs).__name__}; do not wrap the env with observation wrappers "
                        "(flattening, scaling) when playing a pypownet agent")
    parts = []
    for p, ours, _ in PYPOWNET_LAYOUT:
        try:
            v = np.asarray(obs[ours], dtype=np.float64).ravel()
        except KeyError:
            raise TypeError(f"observation has no key {ours!r} (pypownet's {p!r}); the pypownet "
                            "adapter needs PowerGridEnv's full Dict observation") from None
        parts.append(v + SUBSTATION_ID_OFFSET if p in ID_FIELDS else v)
    return np.concatenate(parts)


class Observation:
    """pypownet's ``Observation``: every field as an attribute (numpy arrays, floats).

    Built by :meth:`ObservationSpace.array_to_observation`. Methods: :meth:`as_array`,
    :meth:`as_dict`, :meth:`get_nodes_of_substation`, :meth:`get_lines_status_of_substation`,
    :meth:`get_lines_capacity_usage`, :meth:`as_minimalist`, :meth:`as_ac_minimalist`.
    """

    def __init__(self, space: ObservationSpace, values: dict[str, np.ndarray]) -> None:
        self.__dict__.update(values)
        self._space = space

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        raise unsupported("Observation", name, set(FIELDS) | {
            n for n in dir(Observation) if not n.startswith("_")})

    def as_array(self) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(self, f), dtype=np.float64).ravel()
                               for f in FIELDS])

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f: getattr(self, f) for f in FIELDS}

    def as_ac_minimalist(self) -> Observation:
        """pypownet returns a view restricted to the AC fields; here the same object."""
        return self

    def as_minimalist(self) -> Observation:
        """pypownet returns a view restricted to the DC fields; here the same object."""
        return self

    def _ours(self) -> dict[str, np.ndarray]:
        return {RENAMED.get(f, f): np.asarray(getattr(self, f)) for f in FIELDS}

    def get_nodes_of_substation(self, substation_id):
        """Busbar (0/1) of each element of a substation and the element types (pypownet's
        order: productions, loads, line origins, line extremities)."""
        s = self._space.substation_index(substation_id)
        from .actions import pypownet_types

        nodes, types = get_nodes_of_substation(self._ours(), self._space.action_helper, s)
        return nodes, list(pypownet_types(types))

    def get_lines_status_of_substation(self, substation_id):
        """Status of the lines touching a substation and the (pypownet) ids at their other end."""
        s = self._space.substation_index(substation_id)
        status, other = get_lines_status_of_substation(self._ours(), self._space.grid, s)
        return status, [int(o) + SUBSTATION_ID_OFFSET for o in other]

    def get_lines_capacity_usage(self) -> np.ndarray:
        return np.divide(self.ampere_flows, self.thermal_limits)

    def __str__(self) -> str:
        return (f"Observation(date {int(self.date_year[0])}-{int(self.date_month[0]):02d}-"
                f"{int(self.date_day[0]):02d} {int(self.date_hour[0]):02d}:"
                f"{int(self.date_minute[0]):02d}, {int(np.sum(self.lines_status))} lines on, "
                f"max usage {float(np.max(self.get_lines_capacity_usage())):.3f})")


class ObservationSpace:
    """pypownet's ``ObservationSpace``: sizes and :meth:`array_to_observation`."""

    def __init__(self, env: Any) -> None:
        base = getattr(env, "unwrapped", env)
        self.grid = g = base.grid
        self.action_helper = base.action_helper
        self.number_productions, self.number_loads = g.n_prod, g.n_load
        self.number_power_lines, self.number_substations = g.n_line, g.n_sub
        self.n_timesteps_horizon_maintenance = int(base.config.n_timesteps_horizon_maintenance)
        self.grid_number_of_elements = g.n_prod + g.n_load + 2 * g.n_line
        self._sizes = field_sizes(g.n_prod, g.n_load, g.n_line, g.n_sub)
        self.shape = tuple((n,) for n in self._sizes)
        self.length = int(sum(self._sizes))

    def substation_index(self, substation_id) -> int:
        """Our 0-based substation index of a pypownet substation id."""
        s = int(substation_id) - SUBSTATION_ID_OFFSET
        if float(substation_id) != int(substation_id) or not 0 <= s < self.number_substations:
            raise ValueError(f"substation id {substation_id!r} does not exist; pypownet ids run "
                             f"from {SUBSTATION_ID_OFFSET} to "
                             f"{self.number_substations - 1 + SUBSTATION_ID_OFFSET}")
        return s

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        names = {n for n in dir(ObservationSpace) if not n.startswith("_")} | set(vars(self))
        raise unsupported("ObservationSpace", name, {n for n in names if n[0] != "_"})

    def array_to_observation(self, array) -> Observation:
        """An :class:`Observation` from pypownet's observation array."""
        a = np.asarray(array, dtype=np.float64).ravel()
        if a.shape[0] != self.length:
            raise ValueError(f"Expected observation array of length {self.length}, "
                             f"got {a.shape[0]}")
        values, i = {}, 0
        for f, n in zip(FIELDS, self._sizes):
            values[f] = a[i:i + n]
            i += n
        return Observation(self, values)
