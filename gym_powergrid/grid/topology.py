"""Topology: which busbar each element sits on and which branches are in service.

pypownet's layout is kept everywhere a topology is flattened into a vector:
``[prod nodes | load nodes | line origin nodes | line extremity nodes | line status]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TopologyError
from .arrays import GridArrays


@dataclass(frozen=True, eq=False)
class Topology:
    """Busbar (0 or 1) of every element and status of every branch.

    Arrays are ``int8`` nodes and a ``bool`` status. Construction does not copy nor check them
    (the env builds one per power flow); :meth:`validate` and :meth:`from_vector` check.
    """

    prod_node: np.ndarray
    load_node: np.ndarray
    line_or_node: np.ndarray
    line_ex_node: np.ndarray
    line_status: np.ndarray

    @classmethod
    def reference(cls, grid: GridArrays) -> Topology:
        """Every element on busbar 0, branches as in the net."""
        return cls(
            prod_node=np.zeros(grid.n_prod, np.int8),
            load_node=np.zeros(grid.n_load, np.int8),
            line_or_node=np.zeros(grid.n_line, np.int8),
            line_ex_node=np.zeros(grid.n_line, np.int8),
            line_status=grid.line_in_service.astype(bool).copy(),
        )

    @staticmethod
    def vector_length(grid: GridArrays) -> int:
        return grid.n_prod + grid.n_load + 3 * grid.n_line

    @classmethod
    def from_vector(cls, grid: GridArrays, vector) -> Topology:
        """Build a topology from pypownet's flat layout (nodes then line status), validating it."""
        v = np.asarray(vector)
        expected = cls.vector_length(grid)
        if v.ndim != 1 or v.shape[0] != expected:
            raise TopologyError(
                f"topology vector must be 1-D of length {expected} (= {grid.n_prod} prods + "
                f"{grid.n_load} loads + {grid.n_line} line origins + {grid.n_line} line "
                f"extremities + {grid.n_line} line statuses), got shape {v.shape}"
            )
        _check_binary(v, "topology vector")
        v = v.astype(np.int8)
        a = grid.n_prod
        b = a + grid.n_load
        c = b + grid.n_line
        d = c + grid.n_line
        return cls(v[:a].copy(), v[a:b].copy(), v[b:c].copy(), v[c:d].copy(), v[d:].astype(bool))

    def to_vector(self) -> np.ndarray:
        return np.concatenate([self.prod_node, self.load_node, self.line_or_node,
                               self.line_ex_node, self.line_status.astype(np.int8)])

    def validate(self, grid: GridArrays) -> None:
        """Check shapes and binary values against ``grid``; raise :class:`TopologyError`."""
        for name, arr, n in (
            ("prod_node", self.prod_node, grid.n_prod),
            ("load_node", self.load_node, grid.n_load),
            ("line_or_node", self.line_or_node, grid.n_line),
            ("line_ex_node", self.line_ex_node, grid.n_line),
            ("line_status", self.line_status, grid.n_line),
        ):
            a = np.asarray(arr)
            if a.shape != (n,):
                raise TopologyError(f"{name} must have shape ({n},), got {a.shape}")
            _check_binary(a, name)

    def copy(self) -> Topology:
        return Topology(self.prod_node.copy(), self.load_node.copy(), self.line_or_node.copy(),
                        self.line_ex_node.copy(), self.line_status.copy())


def _check_binary(a: np.ndarray, what: str) -> None:
    if a.dtype == bool:
        return
    if not np.issubdtype(a.dtype, np.number):
        raise TopologyError(f"{what} must hold numbers 0/1, got dtype {a.dtype}")
    bad = ~((a == 0) | (a == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TopologyError(
            f"{what} must hold only 0 or 1; entry {i} is {a[i]!r} ({int(bad.sum())} bad entries)"
        )
