"""A mosaik simulator (API v3) of the grid, on the numba power flow.

Model ``Grid`` (public; params ``grid`` and ``step_size``) builds one grid and its children:

========== =========================================== =======================================
entity     inputs (summed over sources; kept until     outputs
           the next value)
========== =========================================== =======================================
Bus        -                                           ``vm_pu``, ``va_deg``, ``vm2_pu``,
                                                       ``va2_deg`` (busbar 2), ``energized``
Load       ``p_mw``, ``q_mvar``, ``p_kw``, ``q_kvar``   ``p_mw``, ``q_mvar`` (net consumption),
           (consumption), ``p_gen_mw``, ``q_gen_mvar``, ``vm_pu``, ``cut``
           ``p_gen_kw``, ``q_gen_kvar`` (generation
           metered on the load), ``busbar`` (0/1)
Production ``p_mw``, ``q_mvar`` (PQ only), ``vm_set_pu`` ``p_mw``, ``q_mvar``, ``vm_pu``, ``cut``
           (slack and PV), ``busbar`` (0/1)
Line       ``in_service`` (0/1), ``busbar_or``,          ``p_or_mw``, ``q_or_mvar``, ``a_or``,
           ``busbar_ex`` (0/1)                          ``p_ex_mw``, ``q_ex_mvar``, ``a_ex``,
                                                       ``usage`` (max(a) / thermal limit),
                                                       ``in_service``
Grid       -                                           ``converged``, ``n_iter``
========== =========================================== =======================================

A load's P is the sum of its ``p_mw`` inputs plus ``1e-3`` x its ``p_kw`` inputs minus its
generation inputs (the LV example meters PV on loads, written with a negative sign); an entity
with no input keeps the grid's reference value. The switches (``busbar``, ``in_service``) are
an agent's topology actions: busbar 1 is the second busbar of the element's substation, as in
the env's action space. Each :meth:`GridSimulator.step` runs one AC power flow (warm-started
from the previous one); a power flow that does not converge is logged and its outputs are
``NaN`` with ``converged = 0``.

``grid`` is a pandapower net builder of :data:`gym_powergrid.co_sim.scenarios.BUILDERS`
(``"lv_example"``), a named case (``"case14"``), a MATPOWER ``.m`` or a pandapower ``.json``.
Entity ids are ``<grid eid>.<kind>.<name>`` (``Grid_0.load.Load_1``).

In a scenario: ``{"Grid": {"python": "gym_powergrid.co_sim.mosaik:GridSimulator"}}`` (in
process) or ``{"Grid": {"cmd": "%(python)s -m gym_powergrid.co_sim.mosaik %(addr)s"}}`` (its own
process). :func:`run_mosaik_scenario` replays a co-simulation scenario's curves through
mosaik's CSV simulator (``mosaik-csv``) into this simulator.
"""

from __future__ import annotations

import logging
import math
from typing import Any

try:
    import mosaik_api_v3
except ImportError as _exc:  # pragma: no cover - exercised without the extra
    raise ImportError(f"the mosaik adapter needs mosaik-api-v3 ({_exc}); install it with: "
                      'pip install "gym-powergrid[mosaik]"') from _exc

logger = logging.getLogger(__name__)

_LOAD_IN = ("p_mw", "q_mvar", "p_kw", "q_kvar", "p_gen_mw", "q_gen_mvar", "p_gen_kw",
            "q_gen_kvar", "busbar")
_LOAD_P = {"p_mw": 1.0, "p_kw": 1e-3, "p_gen_mw": -1.0, "p_gen_kw": -1e-3}
_LOAD_Q = {"q_mvar": 1.0, "q_kvar": 1e-3, "q_gen_mvar": -1.0, "q_gen_kvar": -1e-3}
_LINE_OUT = ("p_or_mw", "q_or_mvar", "a_or", "p_ex_mw", "q_ex_mvar", "a_ex", "usage")

META: dict[str, Any] = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Grid": {"public": True, "params": ["grid", "step_size"],
                 "attrs": ["converged", "n_iter"]},
        "Bus": {"public": False, "params": [],
                "attrs": ["vm_pu", "va_deg", "vm2_pu", "va2_deg", "energized"]},
        "Load": {"public": False, "params": [],
                 "attrs": [*_LOAD_IN, "vm_pu", "cut"]},
        "Production": {"public": False, "params": [],
                       "attrs": ["p_mw", "q_mvar", "vm_set_pu", "busbar", "vm_pu", "cut"]},
        "Line": {"public": False, "params": [],
                 "attrs": ["in_service", "busbar_or", "busbar_ex", *_LINE_OUT]},
    },
}


def build_grid(source: str) -> Any:
    """:class:`~gym_powergrid.grid.arrays.GridArrays` of a builder name, case or file."""
    from gym_powergrid.co_sim.scenarios import BUILDERS
    from gym_powergrid.grid import load_grid

    if source in BUILDERS:
        return load_grid(BUILDERS[source](), name=source)
    return load_grid(source)


def _switch(value: Any, eid: str, attr: str) -> int:
    v = float(value)
    if v not in (0.0, 1.0):
        raise ValueError(f"{eid}: {attr} must be 0 or 1, got {value!r}")
    return int(v)


class _GridModel:
    """One grid: its arrays, power flow, current topology and injections, last results."""

    def __init__(self, eid: str, source: str, step_size: int) -> None:
        from gym_powergrid.core.powerflow import NumbaPowerFlow
        from gym_powergrid.core.results import Injections
        from gym_powergrid.grid import Topology

        if int(step_size) < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.eid = eid
        self.step_size = int(step_size)
        self.grid = g = build_grid(source)
        self.pf = NumbaPowerFlow(g)
        self.topo = Topology.reference(g)
        self.ref = Injections.reference(g)
        self.inj = Injections.reference(g)
        self.result: Any = None
        self.children: dict[str, tuple[str, int]] = {}
        for kind, names in (("Bus", g.sub_name), ("Load", g.load_name),
                            ("Production", g.prod_name), ("Line", g.line_name)):
            for i, name in enumerate(names):
                self.children[f"{eid}.{kind.lower()}.{name}"] = (kind, i)

    def entity(self) -> dict[str, Any]:
        return {"eid": self.eid, "type": "Grid", "rel": [],
                "children": [{"eid": c, "type": kind, "rel": []}
                             for c, (kind, _) in self.children.items()]}

    def apply(self, eid: str, attrs: dict[str, dict[str, Any]]) -> None:
        kind, i = self.children[eid]
        total = {a: sum(float(v) for v in src.values()) for a, src in attrs.items()}
        for a, v in total.items():
            if not math.isfinite(v):
                raise ValueError(f"{eid}: input {a} = {v} is not a finite number")
        if kind == "Load":
            if any(a in total for a in _LOAD_P):
                self.inj.load_p_mw[i] = sum(f * total[a] for a, f in _LOAD_P.items()
                                            if a in total)
            if any(a in total for a in _LOAD_Q):
                self.inj.load_q_mvar[i] = sum(f * total[a] for a, f in _LOAD_Q.items()
                                              if a in total)
            if "busbar" in total:
                self.topo.load_node[i] = _switch(total["busbar"], eid, "busbar")
        elif kind == "Production":
            for a, arr in (("p_mw", self.inj.prod_p_mw), ("q_mvar", self.inj.prod_q_mvar),
                           ("vm_set_pu", self.inj.prod_v_pu)):
                if a in total:
                    arr[i] = total[a]
            if "busbar" in total:
                self.topo.prod_node[i] = _switch(total["busbar"], eid, "busbar")
        elif kind == "Line":
            for a, arr in (("busbar_or", self.topo.line_or_node),
                           ("busbar_ex", self.topo.line_ex_node)):
                if a in total:
                    arr[i] = _switch(total[a], eid, a)
            if "in_service" in total:
                self.topo.line_status[i] = bool(_switch(total["in_service"], eid, "in_service"))
        else:
            raise ValueError(f"{eid}: a {kind} takes no inputs, got {sorted(total)}")

    def solve(self, time: int) -> None:
        self.result = self.pf.run_ac(self.topo, self.inj)
        if not self.result.converged:
            logger.warning("%s at time %d: power flow did not converge (%s)", self.eid, time,
                           self.result.status.name)

    def value(self, eid: str, attr: str) -> Any:
        r, g = self.result, self.grid
        if eid == self.eid:
            return {"converged": int(bool(r is not None and r.converged)),
                    "n_iter": int(r.n_iter) if r is not None else 0}[attr]
        kind, i = self.children[eid]
        if r is None or not r.converged:
            if attr in ("busbar", "busbar_or", "busbar_ex", "in_service", "energized", "cut"):
                return self._switch_value(kind, i, attr)
            return float("nan")
        if kind == "Bus":
            n = g.n_sub
            return {"vm_pu": float(r.bus_vm_pu[i]), "va_deg": math.degrees(r.bus_va_rad[i]),
                    "vm2_pu": float(r.bus_vm_pu[n + i]),
                    "va2_deg": math.degrees(r.bus_va_rad[n + i]),
                    "energized": int(r.bus_energized_mask[i] or r.bus_energized_mask[n + i])
                    }[attr]
        if kind == "Load":
            table = {"p_mw": r.load_p_mw, "q_mvar": r.load_q_mvar, "vm_pu": r.load_v_pu,
                     "cut": r.load_cut_mask}
        elif kind == "Production":
            table = {"p_mw": r.prod_p_mw, "q_mvar": r.prod_q_mvar, "vm_pu": r.prod_v_pu,
                     "cut": r.prod_cut_mask, "vm_set_pu": self.inj.prod_v_pu}
        else:
            if attr == "usage":
                a = max(float(r.line_a_or[i]) / g.line_limit_or_a[i],
                        float(r.line_a_ex[i]) / g.line_limit_ex_a[i])
                return float(a)
            table = {k: getattr(r, "line_" + k) for k in _LINE_OUT if k != "usage"}
        if attr in table:
            v = table[attr][i]
            return int(v) if attr == "cut" else float(v)
        return self._switch_value(kind, i, attr)

    def _switch_value(self, kind: str, i: int, attr: str) -> Any:
        t = self.topo
        if attr == "busbar":
            return int((t.load_node if kind == "Load" else t.prod_node)[i])
        if attr in ("busbar_or", "busbar_ex"):
            return int((t.line_or_node if attr == "busbar_or" else t.line_ex_node)[i])
        if attr == "in_service":
            return int(t.line_status[i])
        if attr in ("energized", "cut"):
            return 0 if attr == "energized" else 1
        # an input attribute read back: the value in force
        if kind == "Load":
            return float(self.inj.load_p_mw[i] if attr.startswith("p") else
                         self.inj.load_q_mvar[i])
        return float("nan")


class GridSimulator(mosaik_api_v3.Simulator):
    """mosaik simulator of gym_powergrid grids (see the module docstring for the entities)."""

    def __init__(self) -> None:
        super().__init__(META)
        self.grids: dict[str, _GridModel] = {}
        self.owner: dict[str, _GridModel] = {}
        self.time_resolution = 1.0

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> dict:
        if sim_params:
            raise ValueError(f"unknown simulator parameter(s) {sorted(sim_params)}; the grid "
                             "is chosen per model: Grid.create(1, grid=..., step_size=...)")
        self.sid = sid
        self.time_resolution = float(time_resolution)
        return self.meta

    def create(self, num: int, model: str, grid: str = "lv_example",
               step_size: int = 300) -> list[dict]:
        if model != "Grid":
            raise ValueError(f"only 'Grid' can be created (its children are made with it), "
                             f"not {model!r}")
        out = []
        for _ in range(num):
            eid = f"Grid_{len(self.grids)}"
            m = _GridModel(eid, str(grid), step_size)
            self.grids[eid] = m
            self.owner[eid] = m
            self.owner.update(dict.fromkeys(m.children, m))
            out.append(m.entity())
        return out

    def step(self, time: int, inputs: dict[str, dict[str, dict[str, Any]]],
             max_advance: int) -> int:
        for eid, attrs in inputs.items():
            if eid not in self.owner:
                raise ValueError(f"input for unknown entity {eid!r}")
            self.owner[eid].apply(eid, attrs)
        for m in self.grids.values():
            m.solve(time)
        return time + min(m.step_size for m in self.grids.values())

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        data: dict[str, dict[str, Any]] = {}
        for eid, attrs in outputs.items():
            if eid not in self.owner:
                raise ValueError(f"output of unknown entity {eid!r}")
            m = self.owner[eid]
            data[eid] = {a: m.value(eid, a) for a in attrs}
        return data




def main() -> None:
    """``python -m gym_powergrid.co_sim.mosaik HOST:PORT``: serve the simulator to mosaik."""
    mosaik_api_v3.start_simulation(GridSimulator(), "gym_powergrid grid simulator")


if __name__ == "__main__":
    main()
