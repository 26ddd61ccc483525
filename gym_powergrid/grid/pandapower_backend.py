"""Reference ("oracle") power-flow backend built on ``pandapower.runpp`` / ``rundcpp``.

:class:`PandapowerPowerFlow` has the same interface as the numba core
(``run_ac(topo, inj, warm_start)`` / ``run_dc(topo, inj)`` -> :class:`PowerFlowResult`). It keeps a
private copy of the user's net with a second bus (busbar 1) per substation, moves elements and
switches branches by mutating columns of that copy, and translates pandapower's result tables into
gym_powergrid's conventions (busbar 1 of substation ``s`` is bus ``s + n_sub``; isolated elements
read 0 and are masked). It costs one ``runpp`` per call: an oracle for tests and for users who
want pandapower's exact semantics, not a step engine. pandapower's own numba acceleration is
switched off: it saves seconds of JIT compilation per process and costs nothing at these sizes.
"""

from __future__ import annotations

import copy
import logging

import numpy as np

from ..core.network import effective_slack
from ..core.pf_kernel import pack_grid, pack_injections, pack_topology
from ..core.results import Injections, PowerFlowResult
from ..core.status import PFStatus
from .arrays import BRANCH_LINE, BRANCH_TRAFO, PROD_PQ, PROD_PV, PROD_SLACK, GridArrays
from .convert import check_supported
from .topology import Topology

logger = logging.getLogger(__name__)

_SQRT3 = float(np.sqrt(3.0))


class PandapowerPowerFlow:
    """AC/DC power flow on an equivalent pandapower net (two buses per substation).

    Args:
        grid: the :class:`GridArrays` built from ``net``.
        net: the pandapower net ``grid`` was built from. It is deep-copied once and never
            modified.
        max_iteration: Newton-Raphson iteration limit passed to ``pandapower.runpp``.
        tolerance_mva: convergence tolerance passed to ``pandapower.runpp``.
    """

    def __init__(self, grid: GridArrays, net, max_iteration: int = 30,
                 tolerance_mva: float = 1e-10) -> None:
        import pandapower as pp

        check_supported(net)
        self.grid = grid
        self.max_iteration = int(max_iteration)
        self.tolerance_mva = float(tolerance_mva)
        self._net = copy.deepcopy(net)
        work = self._net
        subs = work.bus.loc[grid.sub_pp_idx]
        busbar1 = pp.create_buses(
            work, grid.n_sub, vn_kv=subs.vn_kv.to_numpy(float), zone=subs.zone.to_numpy(),
            name=[f"{name} busbar 1" for name in grid.sub_name],
        )
        #: pandapower bus index of every busbar of the fast model (length ``2 * n_sub``).
        self.bus_pp_idx = np.concatenate([grid.sub_pp_idx, np.asarray(busbar1, np.int64)])
        kind = grid.prod_kind
        self._prod_sel = {k: np.flatnonzero(kind == k) for k in (PROD_SLACK, PROD_PV, PROD_PQ)}
        self._prod_rows = {k: grid.prod_pp_idx[sel] for k, sel in self._prod_sel.items()}
        self._line_sel = np.flatnonzero(grid.line_kind == BRANCH_LINE)
        self._trafo_sel = np.flatnonzero(grid.line_kind == BRANCH_TRAFO)
        self._line_rows = grid.line_pp_idx[self._line_sel]
        self._trafo_rows = grid.line_pp_idx[self._trafo_sel]
        # GridArrays folds ``scaling`` into the set-points: do the same and set scaling to 1.
        for table, rows in (("gen", self._prod_rows[PROD_PV]), ("sgen", self._prod_rows[PROD_PQ]),
                            ("load", grid.load_pp_idx)):
            if len(rows) and "scaling" in work[table]:
                work[table].loc[rows, "scaling"] = 1.0
        self._grid_i = pack_grid(grid)[0]
        self._slack = grid.slack_prod_idx  # the production balancing the last solved grid
        self._init_vm: np.ndarray | None = None  # warm start, in net.bus order
        self._init_va_deg: np.ndarray | None = None

    # ------------------------------------------------------------------ public API
    def run_ac(self, topo: Topology, inj: Injections, warm_start: bool = True) -> PowerFlowResult:
        """Run an AC power flow (``pandapower.runpp``) on ``topo`` with ``inj``.

        Args:
            topo: busbar of every element and status of every branch.
            inj: productions' and loads' set-points.
            warm_start: start from the last converged AC solution (else from a flat start).

        Raises:
            TopologyError: if ``topo`` is malformed.
            InjectionError: if ``inj`` is malformed (wrong shape, NaN...).
        """
        import pandapower as pp
        from pandapower.auxiliary import LoadflowNotConverged

        inj = self._prepare(topo, inj)
        if not self._slack_connected(topo):
            return self._failed(PFStatus.NO_SLACK)
        net = self._net
        inits: list[dict] = [{"init": "flat"}]
        if warm_start and self._init_vm is not None:
            # as the numba core: a failed warm start is retried from a flat start
            inits.insert(0, {"init": "auto", "init_vm_pu": self._init_vm,
                             "init_va_degree": self._init_va_deg})
        for i, init in enumerate(inits):
            try:
                pp.runpp(net, algorithm="nr", calculate_voltage_angles=True, trafo_model="t",
                         tolerance_mva=self.tolerance_mva, max_iteration=self.max_iteration,
                         enforce_q_lims=False, voltage_depend_loads=False,
                         check_connectivity=True, numba=False, **init)
                break
            except LoadflowNotConverged:
                logger.debug("pandapower.runpp did not converge (init %s)", init["init"])
                if i == len(inits) - 1:
                    return self._failed(PFStatus.MAX_ITER, self.max_iteration)
            except np.linalg.LinAlgError:
                if i == len(inits) - 1:
                    return self._failed(PFStatus.SINGULAR)
        result = self._collect(topo, inj, ac=True)
        if result.converged:
            res_bus = net.res_bus
            self._init_vm = res_bus.vm_pu.fillna(1.0).to_numpy(float)
            slack_va = float(np.rad2deg(self.grid.slack_va_rad))
            self._init_va_deg = res_bus.va_degree.fillna(slack_va).to_numpy(float)
        return result

    def run_dc(self, topo: Topology, inj: Injections) -> PowerFlowResult:
        """Run a DC power flow (``pandapower.rundcpp``) on ``topo`` with ``inj``.

        Raises:
            TopologyError: if ``topo`` is malformed.
            InjectionError: if ``inj`` is malformed.
        """
        import pandapower as pp

        inj = self._prepare(topo, inj)
        if not self._slack_connected(topo):
            return self._failed(PFStatus.NO_SLACK)
        try:
            pp.rundcpp(self._net, trafo_model="t", check_connectivity=True, numba=False)
        except np.linalg.LinAlgError:
            return self._failed(PFStatus.SINGULAR)
        return self._collect(topo, inj, ac=False)

    def reset_voltages(self) -> None:
        """Forget the warm-start point (the next :meth:`run_ac` starts flat)."""
        self._init_vm = None
        self._init_va_deg = None

    def set_initial_voltages(self, bus_vm_pu: np.ndarray, bus_va_rad: np.ndarray) -> None:
        """Start the next warm-started :meth:`run_ac` from these busbar voltages.

        Args:
            bus_vm_pu: magnitude per busbar (length ``2 * n_sub``); values <= 0 mean "unknown"
                and start at 1 p.u.
            bus_va_rad: angle per busbar (length ``2 * n_sub``).
        """
        vm = np.asarray(bus_vm_pu, dtype=np.float64)
        va = np.asarray(bus_va_rad, dtype=np.float64)
        if vm.shape != (self.grid.n_bus,) or va.shape != (self.grid.n_bus,):
            raise ValueError(f"bus voltages must have shape ({self.grid.n_bus},), "
                             f"got {vm.shape} and {va.shape}")
        known = (vm > 0) & np.isfinite(vm) & np.isfinite(va)
        pos = self._net.bus.index.get_indexer(self.bus_pp_idx)
        self._init_vm = np.ones(len(self._net.bus))
        self._init_va_deg = np.full(len(self._net.bus), np.rad2deg(self.grid.slack_va_rad))
        self._init_vm[pos[known]] = vm[known]
        self._init_va_deg[pos[known]] = np.rad2deg(va[known])

    # ------------------------------------------------------------------ helpers
    def _buses(self, topo: Topology) -> tuple[np.ndarray, ...]:
        """Fast-model bus (0..2*n_sub-1) of every production, load, line origin and extremity."""
        g, n = self.grid, self.grid.n_sub
        return (g.prod_sub_idx + n * np.asarray(topo.prod_node, np.int64),
                g.load_sub_idx + n * np.asarray(topo.load_node, np.int64),
                g.line_sub_or_idx + n * np.asarray(topo.line_or_node, np.int64),
                g.line_sub_ex_idx + n * np.asarray(topo.line_ex_node, np.int64))

    def _slack_connected(self, topo: Topology) -> bool:
        """True when at least one in-service branch ends on the (effective) slack's busbar."""
        prod_bus, _, or_bus, ex_bus = self._buses(topo)
        slack_bus = prod_bus[self._slack]
        status = np.asarray(topo.line_status, bool)
        return bool(np.any(status & ((or_bus == slack_bus) | (ex_bus == slack_bus))))

    def _prepare(self, topo: Topology, inj: Injections) -> Injections:
        """Validate inputs and write topology and injections into the private net."""
        grid = self.grid
        topo.validate(grid)
        inj = inj.validated(grid)
        net, pp_bus = self._net, self.bus_pp_idx
        prod_bus, load_bus, or_bus, ex_bus = (pp_bus[b] for b in self._buses(topo))
        status = np.asarray(topo.line_status, bool)
        sel = self._prod_sel
        on = (inj.prod_v_pu > 0) | (grid.prod_kind == PROD_PQ)  # v <= 0: out of service
        self._slack = slack = int(effective_slack(self._grid_i, pack_topology(
            topo.prod_node, topo.load_node, topo.line_or_node, topo.line_ex_node,
            topo.line_status), pack_injections(inj.prod_p_mw, inj.prod_q_mvar, inj.prod_v_pu,
                                               inj.load_p_mw, inj.load_q_mvar)))
        for kind, table in ((PROD_SLACK, "ext_grid"), (PROD_PV, "gen"), (PROD_PQ, "sgen")):
            rows, s = self._prod_rows[kind], sel[kind]
            if not len(rows):
                continue
            net[table].loc[rows, "bus"] = prod_bus[s]
            net[table].loc[rows, "in_service"] = on[s] if kind != PROD_SLACK else on[s] & (
                s == slack)
            if kind == PROD_PV:  # the slack moved to this generator (pypownet, PYPOWER)
                net[table].loc[rows, "slack"] = s == slack
            if kind == PROD_SLACK:
                net[table].loc[rows, "vm_pu"] = inj.prod_v_pu[s]
                continue
            net[table].loc[rows, "p_mw"] = inj.prod_p_mw[s]
            if kind == PROD_PV:
                net[table].loc[rows, "vm_pu"] = inj.prod_v_pu[s]
            else:
                net[table].loc[rows, "q_mvar"] = inj.prod_q_mvar[s]
        if grid.n_load:
            rows = grid.load_pp_idx
            net.load.loc[rows, "bus"] = load_bus
            net.load.loc[rows, "p_mw"] = inj.load_p_mw
            net.load.loc[rows, "q_mvar"] = inj.load_q_mvar
        for table, rows, s, cols in (
            (net.line, self._line_rows, self._line_sel, ("from_bus", "to_bus")),
            (net.trafo, self._trafo_rows, self._trafo_sel, ("hv_bus", "lv_bus")),
        ):
            if len(rows):
                table.loc[rows, cols[0]] = or_bus[s]
                table.loc[rows, cols[1]] = ex_bus[s]
                table.loc[rows, "in_service"] = status[s]
        return inj

    def _collect(self, topo: Topology, inj: Injections, ac: bool) -> PowerFlowResult:
        """Translate pandapower's result tables into a :class:`PowerFlowResult`."""
        grid, net = self.grid, self._net
        res_bus = net.res_bus.loc[self.bus_pp_idx]
        vm = res_bus.vm_pu.to_numpy(float)
        va = np.deg2rad(res_bus.va_degree.to_numpy(float))
        energized = np.isfinite(vm) & np.isfinite(va)
        vm, va = np.where(energized, vm, 0.0), np.where(energized, va, 0.0)
        prod_bus, load_bus, or_bus, ex_bus = self._buses(topo)
        prod_cut, load_cut = ~energized[prod_bus], ~energized[load_bus]
        # out of service (v <= 0, not the slack): P = Q = V = 0, as the numba core reports
        off = (inj.prod_v_pu <= 0) & (grid.prod_kind != PROD_PQ)
        off[self._slack] = False

        prod_p, prod_q = np.zeros(grid.n_prod), np.zeros(grid.n_prod)
        for kind, table in ((PROD_SLACK, "ext_grid"), (PROD_PV, "gen"), (PROD_PQ, "sgen")):
            s, rows = self._prod_sel[kind], self._prod_rows[kind]
            if len(rows):
                res = net[f"res_{table}"].loc[rows]
                prod_p[s] = res.p_mw.to_numpy(float)
                prod_q[s] = res.q_mvar.to_numpy(float)
        load_p = net.res_load.loc[grid.load_pp_idx].p_mw.to_numpy(float) if grid.n_load else 0.0
        load_q = net.res_load.loc[grid.load_pp_idx].q_mvar.to_numpy(float) if grid.n_load else 0.0

        n_line = grid.n_line
        flows = {k: np.zeros(n_line) for k in ("p_or", "q_or", "a_or", "p_ex", "q_ex", "a_ex")}
        for sel, rows, table, names in (
            (self._line_sel, self._line_rows, "res_line",
             ("p_from_mw", "q_from_mvar", "i_from_ka", "p_to_mw", "q_to_mvar", "i_to_ka")),
            (self._trafo_sel, self._trafo_rows, "res_trafo",
             ("p_hv_mw", "q_hv_mvar", "i_hv_ka", "p_lv_mw", "q_lv_mvar", "i_lv_ka")),
        ):
            if len(rows):
                res = net[table].loc[rows]
                for key, col in zip(flows, names):
                    scale = 1e3 if col.startswith("i_") else 1.0
                    flows[key][sel] = res[col].to_numpy(float) * scale
        live = np.asarray(topo.line_status, bool) & energized[or_bus] & energized[ex_bus]
        if not ac:  # rundcpp's res_gen keeps stale Q from an earlier AC run: DC has no Q
            flows["q_or"][:], flows["q_ex"][:] = 0.0, 0.0
            prod_q = np.zeros(grid.n_prod)
            load_q = np.zeros(grid.n_load)
        clean = _zero_where_cut  # NaN never leaks: isolated elements read exactly 0
        status = PFStatus.CONVERGED
        if not all(np.isfinite(a[m]).all() for a, m in (
                (prod_p, ~(prod_cut | off)), (flows["p_or"], live), (flows["p_ex"], live))):
            logger.warning("pandapower returned non-finite results in the slack's island")
            status = PFStatus.DIVERGED
        return PowerFlowResult(
            status=status,
            n_iter=int(net._ppc.get("iterations", 0) or 0) if ac else 1,
            bus_vm_pu=vm,
            bus_va_rad=va,
            bus_energized_mask=energized,
            prod_p_mw=clean(prod_p, prod_cut | off),
            prod_q_mvar=clean(prod_q, prod_cut | off),
            prod_v_pu=clean(vm[prod_bus], prod_cut | off),
            prod_cut_mask=prod_cut,
            load_p_mw=clean(load_p, load_cut),
            load_q_mvar=clean(load_q, load_cut),
            load_v_pu=clean(vm[load_bus], load_cut),
            load_cut_mask=load_cut,
            line_p_or_mw=clean(flows["p_or"], ~live),
            line_q_or_mvar=clean(flows["q_or"], ~live),
            line_a_or=clean(flows["a_or"], ~live),
            line_v_or_pu=clean(vm[or_bus], ~live),
            line_p_ex_mw=clean(flows["p_ex"], ~live),
            line_q_ex_mvar=clean(flows["q_ex"], ~live),
            line_a_ex=clean(flows["a_ex"], ~live),
            line_v_ex_pu=clean(vm[ex_bus], ~live),
        )

    def _failed(self, status: PFStatus, n_iter: int = 0) -> PowerFlowResult:
        """A result without a solution: every value 0, every busbar dead, every element cut."""
        g = self.grid
        z = np.zeros
        return PowerFlowResult(
            status=status, n_iter=n_iter, bus_vm_pu=z(g.n_bus), bus_va_rad=z(g.n_bus),
            bus_energized_mask=np.zeros(g.n_bus, bool),
            prod_p_mw=z(g.n_prod), prod_q_mvar=z(g.n_prod), prod_v_pu=z(g.n_prod),
            prod_cut_mask=np.ones(g.n_prod, bool),
            load_p_mw=z(g.n_load), load_q_mvar=z(g.n_load), load_v_pu=z(g.n_load),
            load_cut_mask=np.ones(g.n_load, bool),
            line_p_or_mw=z(g.n_line), line_q_or_mvar=z(g.n_line), line_a_or=z(g.n_line),
            line_v_or_pu=z(g.n_line), line_p_ex_mw=z(g.n_line), line_q_ex_mvar=z(g.n_line),
            line_a_ex=z(g.n_line), line_v_ex_pu=z(g.n_line),
        )


def _zero_where_cut(values: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Return ``values`` as float64 with 0 where ``cut`` is True and NaN/inf replaced by 0."""
    out = np.where(cut, 0.0, np.asarray(values, dtype=np.float64))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
