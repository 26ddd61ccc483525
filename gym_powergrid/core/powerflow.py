"""Python face of the numba power flow: :class:`NumbaPowerFlow`.

Validates inputs once in Python (clear errors), then runs everything in one numba call
(:func:`gym_powergrid.core.pf_kernel.run_powerflow`). Voltages are kept between calls for
warm starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .pf_kernel import (
    AC_FAST_DECOUPLED,
    AC_NEWTON,
    DC,
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
    WI_NEED_U,
    new_workspace,
    pack_grid,
    pack_injections,
    pack_topology,
    result_views,
    run_powerflow,
    sizes,
    workspace_needs_growth,
)
from .results import Injections, PowerFlowResult
from .status import PFStatus

if TYPE_CHECKING:  # annotations only: core/ never imports grid/ (grid/ builds on core/)
    from ..grid.arrays import GridArrays
    from ..grid.topology import Topology

DEFAULT_TOL_PU = 1e-10
DEFAULT_MAX_ITER = 30
AC_ALGORITHMS = {"newton": AC_NEWTON, "fast_decoupled": AC_FAST_DECOUPLED}
#: pypownet's PYPOWER settings (``ppoption(PF_ALG=2, PF_MAX_IT_FD=25, PF_TOL=1e-6)``)
PYPOWER_TOL_PU, PYPOWER_MAX_ITER = 1e-6, 25


def result_from_buffers(sz, status: int, n_iter: int, bus_v: np.ndarray, out_mask: np.ndarray,
                        out_res: np.ndarray) -> PowerFlowResult:
    """The :class:`PowerFlowResult` of a kernel's output buffers (``sz``: the grid's
    :func:`~.pf_kernel.sizes`), as views into them: pass buffers the result may own (on a
    failed solve they are zeroed in place).

    The failed-solve rule lives here, once for every path: a power flow without a solution has
    no values (every voltage, flow and injection 0), every busbar dead and every element cut,
    as :meth:`PowerFlowResult.failure` and the pandapower backend report it.
    """
    status = PFStatus(int(status))
    if status != PFStatus.CONVERGED:
        bus_v[:] = 0.0
        out_res[:] = 0.0
        out_mask[:sz.n_bus] = False
        out_mask[sz.n_bus:] = True
    bus_on, prod_cut, load_cut, prod_res, load_res, line_res = result_views(sz, out_mask, out_res)
    return PowerFlowResult(
        status=status, n_iter=int(n_iter),
        bus_vm_pu=bus_v[0], bus_va_rad=bus_v[1], bus_energized_mask=bus_on,
        prod_p_mw=prod_res[:, PR_P], prod_q_mvar=prod_res[:, PR_Q], prod_v_pu=prod_res[:, PR_V],
        prod_cut_mask=prod_cut, load_p_mw=load_res[:, LR_P], load_q_mvar=load_res[:, LR_Q],
        load_v_pu=load_res[:, LR_V], load_cut_mask=load_cut,
        line_p_or_mw=line_res[:, LN_P_OR], line_q_or_mvar=line_res[:, LN_Q_OR],
        line_a_or=line_res[:, LN_A_OR], line_v_or_pu=line_res[:, LN_V_OR],
        line_p_ex_mw=line_res[:, LN_P_EX], line_q_ex_mvar=line_res[:, LN_Q_EX],
        line_a_ex=line_res[:, LN_A_EX], line_v_ex_pu=line_res[:, LN_V_EX],
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
                 max_iter: int = DEFAULT_MAX_ITER, algorithm: str = "newton") -> None:
        if algorithm not in AC_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {sorted(AC_ALGORITHMS)}, got "
                             f"{algorithm!r}")
        self.grid = grid
        #: AC method: ``"newton"`` (Newton-Raphson) or ``"fast_decoupled"`` (PYPOWER's XB
        #: method, as pypownet solves; :mod:`gym_powergrid.core.fdpf`)
        self.algorithm = algorithm
        self.ac_mode = AC_ALGORITHMS[algorithm]
        self.tol_pu = float(tol_pu)
        self.max_iter = int(max_iter)
        self.grid_i, self.grid_f = pack_grid(grid)
        self.sizes = sizes(self.grid_i)
        #: caller-owned cache of the kernel (topology analysis, factors, work arrays)
        self.ws_i, self.ws_f = new_workspace(self.grid_i, self.grid_f)
        #: warm-start point: row 0 |V| (p.u.), row 1 angle (rad) of the 2 * n_sub busbars
        self.bus_v = np.zeros((2, grid.n_bus))
        self.bus_vm = self.bus_v[0]
        self.bus_va = self.bus_v[1]

    def reset_voltages(self) -> None:
        """Forget the warm-start point (next solve starts flat)."""
        self.bus_vm[:] = 0.0
        self.bus_va[:] = 0.0

    def set_initial_voltages(self, bus_vm_pu: np.ndarray, bus_va_rad: np.ndarray) -> None:
        """Start the next warm-started :meth:`run_ac` from these busbar voltages (length
        ``2 * n_sub``; a magnitude <= 0 means unknown: busbar 1 then starts from busbar 0)."""
        vm = np.asarray(bus_vm_pu, dtype=np.float64)
        va = np.asarray(bus_va_rad, dtype=np.float64)
        if vm.shape != (self.grid.n_bus,) or va.shape != (self.grid.n_bus,):
            raise ValueError(f"bus voltages must have shape ({self.grid.n_bus},), "
                             f"got {vm.shape} and {va.shape}")
        ok = np.isfinite(vm) & np.isfinite(va) & (vm > 0)
        self.bus_vm[:] = np.where(ok, vm, 0.0)
        self.bus_va[:] = np.where(ok, va, 0.0)

    def run_ac(self, topo: Topology, inj: Injections, warm_start: bool = True) -> PowerFlowResult:
        """AC power flow (polar Newton-Raphson, or :attr:`algorithm`)."""
        return self._run(True, topo, inj, warm_start)

    def run_dc(self, topo: Topology, inj: Injections) -> PowerFlowResult:
        """DC power flow (angles only, lossless, |V| = 1)."""
        return self._run(False, topo, inj, False)

    def _run(self, ac: bool, topo: Topology, inj: Injections, warm: bool) -> PowerFlowResult:
        g = self.grid
        topo.validate(g)
        inj = inj.validated(g)
        sz = self.sizes
        topo_arr = pack_topology(topo.prod_node, topo.load_node, topo.line_or_node,
                                 topo.line_ex_node, topo.line_status)
        inj_arr = pack_injections(inj.prod_p_mw, inj.prod_q_mvar, inj.prod_v_pu, inj.load_p_mw,
                                  inj.load_q_mvar)
        out_mask = np.zeros(sz.mask_len, dtype=np.bool_)
        out_res = np.zeros(sz.res_len)
        bus_v = self.bus_v.copy()
        mode = self.ac_mode if ac else DC
        status, n_iter = run_powerflow(mode, warm, self.max_iter, self.tol_pu, self.grid_i,
                                       self.grid_f, topo_arr, inj_arr, bus_v, out_mask, out_res,
                                       self.ws_i, self.ws_f)
        if workspace_needs_growth(self.ws_i):  # a topology with more fill than planned
            need = int(self.ws_i[WI_NEED_U])
            self.ws_i, self.ws_f = new_workspace(self.grid_i, self.grid_f, cap_u=need + need // 2)
        if status == PFStatus.CONVERGED and ac:
            self.bus_v[:] = bus_v
        return result_from_buffers(sz, status, n_iter, bus_v, out_mask, out_res)
