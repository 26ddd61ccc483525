"""Python face of the numba power flow: :class:`NumbaPowerFlow`.

Validates inputs once in Python (clear errors), then runs everything in one numba call
(:func:`gym_powergrid.core.pf_kernel.run_powerflow`). Voltages are kept between calls for
warm starts.
"""

from __future__ import annotations

import numpy as np

from ..grid.arrays import GridArrays
from ..grid.topology import Topology
from .pf_kernel import (
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
    run_powerflow,
)
from .results import Injections, PowerFlowResult
from .status import PFStatus

DEFAULT_TOL_PU = 1e-10
DEFAULT_MAX_ITER = 30


class StaticArrays:
    """Contiguous, correctly typed copies of the grid arrays the kernels read."""

    def __init__(self, grid: GridArrays) -> None:
        f = np.ascontiguousarray
        self.sn_mva = float(grid.sn_mva)
        self.n_sub = grid.n_sub
        self.sub_vn_kv = f(grid.sub_vn_kv, dtype=np.float64)
        self.sub_shunt_y = f(grid.sub_shunt_y_pu, dtype=np.complex128)
        self.line_sub_or = f(grid.line_sub_or_idx, dtype=np.int64)
        self.line_sub_ex = f(grid.line_sub_ex_idx, dtype=np.int64)
        self.y_ff = f(grid.line_y_ff, dtype=np.complex128)
        self.y_ft = f(grid.line_y_ft, dtype=np.complex128)
        self.y_tf = f(grid.line_y_tf, dtype=np.complex128)
        self.y_tt = f(grid.line_y_tt, dtype=np.complex128)
        self.line_x = f(grid.line_x_pu, dtype=np.float64)
        self.line_tap = f(grid.line_tap, dtype=np.float64)
        self.line_shift = f(grid.line_shift_rad, dtype=np.float64)
        self.prod_sub = f(grid.prod_sub_idx, dtype=np.int64)
        self.prod_kind = f(grid.prod_kind, dtype=np.int64)
        self.slack_prod = int(grid.slack_prod_idx)
        self.slack_va = float(grid.slack_va_rad)
        self.load_sub = f(grid.load_sub_idx, dtype=np.int64)

    def kernel_args(self) -> tuple:
        return (
            self.n_sub, self.sub_vn_kv, self.sub_shunt_y, self.line_sub_or, self.line_sub_ex,
            self.y_ff, self.y_ft, self.y_tf, self.y_tt, self.line_x, self.line_tap,
            self.line_shift, self.prod_sub, self.prod_kind, self.slack_prod, self.slack_va,
            self.load_sub,
        )


class NumbaPowerFlow:
    """Fast AC/DC power flow on any topology of a :class:`GridArrays` grid.

    Example:
        >>> from gym_powergrid.grid import load_grid, Topology
        >>> from gym_powergrid.core.results import Injections
        >>> grid = load_grid("case14")
        >>> pf = NumbaPowerFlow(grid)
        >>> res = pf.run_ac(Topology.reference(grid), Injections.reference(grid))
        >>> res.converged
        True
    """

    def __init__(self, grid: GridArrays, tol_pu: float = DEFAULT_TOL_PU,
                 max_iter: int = DEFAULT_MAX_ITER) -> None:
        self.grid = grid
        self.static = StaticArrays(grid)
        self.tol_pu = float(tol_pu)
        self.max_iter = int(max_iter)
        n_bus = 2 * grid.n_sub
        self.bus_vm = np.zeros(n_bus)
        self.bus_va = np.zeros(n_bus)
        self._args = self.static.kernel_args()

    def reset_voltages(self) -> None:
        """Forget the warm-start point (next solve starts flat)."""
        self.bus_vm[:] = 0.0
        self.bus_va[:] = 0.0

    def run_ac(self, topo: Topology, inj: Injections, warm_start: bool = True) -> PowerFlowResult:
        """AC power flow (polar Newton-Raphson)."""
        return self._run(True, topo, inj, warm_start)

    def run_dc(self, topo: Topology, inj: Injections) -> PowerFlowResult:
        """DC power flow (angles only, lossless, |V| = 1)."""
        return self._run(False, topo, inj, False)

    def _run(self, ac: bool, topo: Topology, inj: Injections, warm: bool) -> PowerFlowResult:
        g = self.grid
        topo.validate(g)
        inj = inj.validated(g)
        n_bus = 2 * g.n_sub
        bus_on = np.zeros(n_bus, dtype=np.bool_)
        prod_cut = np.zeros(g.n_prod, dtype=np.bool_)
        load_cut = np.zeros(g.n_load, dtype=np.bool_)
        prod_res = np.zeros((g.n_prod, 3))
        load_res = np.zeros((g.n_load, 3))
        line_res = np.zeros((g.n_line, 8))
        bus_vm = self.bus_vm.copy()
        bus_va = self.bus_va.copy()
        status, n_iter = run_powerflow(
            ac, self.max_iter, self.tol_pu, self.static.sn_mva, *self._args,
            np.ascontiguousarray(topo.prod_node, dtype=np.int64),
            np.ascontiguousarray(topo.load_node, dtype=np.int64),
            np.ascontiguousarray(topo.line_or_node, dtype=np.int64),
            np.ascontiguousarray(topo.line_ex_node, dtype=np.int64),
            np.ascontiguousarray(topo.line_status, dtype=np.bool_),
            inj.prod_p_mw, inj.prod_q_mvar, inj.prod_v_pu, inj.load_p_mw, inj.load_q_mvar,
            bus_vm, bus_va, warm,
            bus_on, prod_cut, load_cut, prod_res, load_res, line_res,
        )
        status = PFStatus(int(status))
        if status == PFStatus.CONVERGED and ac:
            self.bus_vm[:] = bus_vm
            self.bus_va[:] = bus_va
        return PowerFlowResult(
            status=status, n_iter=int(n_iter),
            bus_vm_pu=bus_vm, bus_va_rad=bus_va, bus_energized_mask=bus_on,
            prod_p_mw=prod_res[:, PR_P], prod_q_mvar=prod_res[:, PR_Q],
            prod_v_pu=prod_res[:, PR_V], prod_cut_mask=prod_cut,
            load_p_mw=load_res[:, LR_P], load_q_mvar=load_res[:, LR_Q],
            load_v_pu=load_res[:, LR_V], load_cut_mask=load_cut,
            line_p_or_mw=line_res[:, LN_P_OR], line_q_or_mvar=line_res[:, LN_Q_OR],
            line_a_or=line_res[:, LN_A_OR], line_v_or_pu=line_res[:, LN_V_OR],
            line_p_ex_mw=line_res[:, LN_P_EX], line_q_ex_mvar=line_res[:, LN_Q_EX],
            line_a_ex=line_res[:, LN_A_EX], line_v_ex_pu=line_res[:, LN_V_EX],
        )
