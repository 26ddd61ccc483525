"""Power-flow inputs and results exchanged by every backend (numba core and pandapower oracle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InjectionError
from .status import PFStatus

if TYPE_CHECKING:  # annotations only: core/ never imports grid/ (grid/ builds on core/)
    from ..grid.arrays import GridArrays


@dataclass(eq=False)
class Injections:
    """Productions' P and voltage set-points, loads' P and Q (physical units).

    ``prod_p_mw`` of the slack is ignored (the slack balances the grid). ``prod_q_mvar`` only
    matters for PQ productions (pandapower ``sgen``). A voltage-controlling production with
    ``prod_v_pu <= 0`` is out of service (pypownet's convention): it injects nothing, and when
    it is the slack another production takes over (see
    :func:`gym_powergrid.core.network.effective_slack`).
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
        # prod_v_pu <= 0 switches a voltage-controlling production off (pypownet's convention)
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

    @classmethod
    def failure(cls, status: PFStatus, n_bus: int, n_prod: int, n_load: int, n_line: int,
                n_iter: int = 0) -> PowerFlowResult:
        """A result without a solution: every value 0, every busbar dead, every element cut."""
        z = np.zeros
        return cls(
            status=status, n_iter=n_iter, bus_vm_pu=z(n_bus), bus_va_rad=z(n_bus),
            bus_energized_mask=np.zeros(n_bus, bool),
            prod_p_mw=z(n_prod), prod_q_mvar=z(n_prod), prod_v_pu=z(n_prod),
            prod_cut_mask=np.ones(n_prod, bool),
            load_p_mw=z(n_load), load_q_mvar=z(n_load), load_v_pu=z(n_load),
            load_cut_mask=np.ones(n_load, bool),
            line_p_or_mw=z(n_line), line_q_or_mvar=z(n_line), line_a_or=z(n_line),
            line_v_or_pu=z(n_line), line_p_ex_mw=z(n_line), line_q_ex_mvar=z(n_line),
            line_a_ex=z(n_line), line_v_ex_pu=z(n_line))
