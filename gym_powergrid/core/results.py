"""Power-flow inputs and results exchanged by every backend (numba core and pandapower oracle)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InjectionError
from ..grid.arrays import GridArrays
from .status import PFStatus


@dataclass(eq=False)
class Injections:
    """Productions' P and voltage set-points, loads' P and Q (physical units).

    ``prod_p_mw`` of the slack is ignored (the slack balances the grid). ``prod_q_mvar`` only
    matters for PQ productions (pandapower ``sgen``).
    """

    prod_p_mw: np.ndarray
    prod_v_pu: np.ndarray
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    prod_q_mvar: np.ndarray | None = None

    @classmethod
    def reference(cls, grid: GridArrays) -> Injections:
        """The injections stored in the pandapower net."""
        return cls(grid.prod_p_mw.copy(), grid.prod_vm_pu.copy(), grid.load_p_mw.copy(),
                   grid.load_q_mvar.copy(), grid.prod_q_mvar.copy())

    def validated(self, grid: GridArrays) -> Injections:
        """Return float64 contiguous copies after checking shapes and finiteness."""
        out = []
        for name, arr, n in (
            ("prod_p_mw", self.prod_p_mw, grid.n_prod),
            ("prod_v_pu", self.prod_v_pu, grid.n_prod),
            ("load_p_mw", self.load_p_mw, grid.n_load),
            ("load_q_mvar", self.load_q_mvar, grid.n_load),
            ("prod_q_mvar", grid.prod_q_mvar if self.prod_q_mvar is None else self.prod_q_mvar,
             grid.n_prod),
        ):
            a = np.ascontiguousarray(arr, dtype=np.float64)
            if a.shape != (n,):
                raise InjectionError(f"{name} must have shape ({n},), got {a.shape}")
            bad = ~np.isfinite(a)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InjectionError(
                    f"{name} holds {int(bad.sum())} non-finite value(s) (first at index {i}: "
                    f"{a[i]}); injections must be finite numbers"
                )
            out.append(a)
        if (out[1][grid.prod_kind != 2] <= 0).any():
            i = int(np.flatnonzero((out[1] <= 0) & (grid.prod_kind != 2))[0])
            raise InjectionError(f"prod_v_pu must be > 0 for voltage-controlling productions; "
                                 f"production {i} has {out[1][i]}")
        return Injections(out[0], out[1], out[2], out[3], out[4])


@dataclass(eq=False)
class PowerFlowResult:
    """Results of one power flow, in physical units; isolated elements read 0 and are masked.

    Bus arrays have ``2 * n_sub`` entries (busbar 1 of substation ``s`` is ``s + n_sub``);
    ``bus_energized_mask`` tells which busbars are in the slack's island with something on them.
    """

    status: PFStatus
    n_iter: int
    bus_vm_pu: np.ndarray
    bus_va_rad: np.ndarray
    bus_energized_mask: np.ndarray
    prod_p_mw: np.ndarray
    prod_q_mvar: np.ndarray
    prod_v_pu: np.ndarray
    prod_cut_mask: np.ndarray
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    load_v_pu: np.ndarray
    load_cut_mask: np.ndarray
    line_p_or_mw: np.ndarray
    line_q_or_mvar: np.ndarray
    line_a_or: np.ndarray
    line_v_or_pu: np.ndarray
    line_p_ex_mw: np.ndarray
    line_q_ex_mvar: np.ndarray
    line_a_ex: np.ndarray
    line_v_ex_pu: np.ndarray

    @property
    def converged(self) -> bool:
        return self.status == PFStatus.CONVERGED
