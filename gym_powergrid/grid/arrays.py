"""Plain-array grid model shared by every layer below the pandas side.

:class:`GridArrays` is produced once per grid by :func:`gym_powergrid.grid.from_pandapower`
and never changes afterwards. The numba core only ever sees its numpy arrays.

Bus numbering convention (used everywhere in ``core/``): substation ``s`` owns two busbars,
busbar 0 is bus ``s`` (the original pandapower bus) and busbar 1 is bus ``s + n_sub``.
An element on substation ``s`` and node ``k`` (0 or 1) sits on bus ``s + k * n_sub``.

Element order follows the source. For a MATPOWER file or a pypownet parameter folder:
productions are the file's ``gen`` rows, loads the buses with ``Pd`` or ``Qd`` in bus order and
branches ("lines" in pypownet's vocabulary) the file's ``branch`` rows, transformers included:
pypownet's order. For a pandapower net: the slack (``ext_grid``) first, then ``gen`` rows, then
``sgen`` rows; ``load`` rows; ``line`` rows followed by ``trafo`` rows, each in table order. The
slack is ``slack_prod_idx`` (not always production 0). A branch's origin is the MATPOWER
``fbus``, the line's ``from_bus`` or the transformer's high-voltage side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Production kinds (``GridArrays.prod_kind``).
PROD_SLACK = 0  # ext_grid: fixes voltage magnitude and angle, balances the grid
PROD_PV = 1  # gen: fixes P and voltage magnitude
PROD_PQ = 2  # sgen: fixes P and Q

#: Branch kinds (``GridArrays.line_kind``).
BRANCH_LINE = 0
BRANCH_TRAFO = 1


@dataclass(frozen=True, eq=False)
class GridArrays:
    """Immutable arrays describing a grid, in per-unit on ``sn_mva`` unless the name says otherwise.

    Attributes are grouped by element; names carry the element and the unit
    (``load_p_mw``, ``line_limit_or_a``). Index maps back to pandapower are the ``*_pp_idx``
    arrays (row labels in the corresponding pandapower table).
    """

    name: str
    sn_mva: float
    f_hz: float

    # substations (one per pandapower bus)
    sub_name: np.ndarray  # str
    sub_pp_idx: np.ndarray  # int64, pandapower bus index
    sub_vn_kv: np.ndarray  # float64
    sub_shunt_y_pu: np.ndarray  # complex128, shunt admittance at 1 p.u. (G + jB), busbar 0
    sub_geo_xy: np.ndarray  # float64 (n_sub, 2), NaN where unknown

    # productions: ext_grid (slack), gen (PV), sgen (PQ)
    prod_name: np.ndarray
    prod_sub_idx: np.ndarray  # int64
    prod_kind: np.ndarray  # int8, PROD_SLACK / PROD_PV / PROD_PQ
    prod_pp_table: np.ndarray  # str: "ext_grid", "gen" or "sgen"
    prod_pp_idx: np.ndarray  # int64
    prod_p_mw: np.ndarray  # reference set-points from the net
    prod_q_mvar: np.ndarray  # only used by PQ productions
    prod_vm_pu: np.ndarray  # voltage set-point (slack and PV), 1.0 for PQ
    prod_p_max_mw: np.ndarray  # nominal capacity (NaN when the net does not say)
    slack_va_rad: float

    # loads
    load_name: np.ndarray
    load_sub_idx: np.ndarray
    load_pp_idx: np.ndarray
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray

    # branches (lines and two-winding transformers), in the source's order (see above)
    line_name: np.ndarray
    line_kind: np.ndarray  # int8, BRANCH_LINE / BRANCH_TRAFO
    line_pp_idx: np.ndarray
    line_sub_or_idx: np.ndarray
    line_sub_ex_idx: np.ndarray
    line_r_pu: np.ndarray
    line_x_pu: np.ndarray
    line_g_pu: np.ndarray  # total shunt conductance of the pi model
    line_b_pu: np.ndarray  # total shunt susceptance of the pi model
    line_tap: np.ndarray  # off-nominal ratio (1.0 for lines)
    line_shift_rad: np.ndarray
    line_y_ff: np.ndarray  # complex128 primitive admittances, as pandapower's makeYbus
    line_y_ft: np.ndarray
    line_y_tf: np.ndarray
    line_y_tt: np.ndarray
    line_in_service: np.ndarray  # bool, initial status
    line_vn_or_kv: np.ndarray
    line_vn_ex_kv: np.ndarray
    line_limit_or_a: np.ndarray  # thermal limit (A) at the origin end
    line_limit_ex_a: np.ndarray  # thermal limit (A) at the extremity end

    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ sizes
    @property
    def n_sub(self) -> int:
        return int(self.sub_vn_kv.shape[0])

    @property
    def n_bus(self) -> int:
        """Number of busbars in the fast core (two per substation)."""
        return 2 * self.n_sub

    @property
    def n_prod(self) -> int:
        return int(self.prod_sub_idx.shape[0])

    @property
    def n_load(self) -> int:
        return int(self.load_sub_idx.shape[0])

    @property
    def n_line(self) -> int:
        return int(self.line_sub_or_idx.shape[0])

    @property
    def slack_prod_idx(self) -> int:
        return int(np.flatnonzero(self.prod_kind == PROD_SLACK)[0])

    @property
    def slack_sub_idx(self) -> int:
        return int(self.prod_sub_idx[self.slack_prod_idx])

    @property
    def line_limit_a(self) -> np.ndarray:
        """One thermal limit per branch (A), pypownet style: the origin-end limit."""
        return self.line_limit_or_a

    @property
    def sub_n_elements(self) -> np.ndarray:
        """Number of elements (prods + loads + line origins + line extremities) per substation."""
        n = self.n_sub
        return (
            np.bincount(self.prod_sub_idx, minlength=n)
            + np.bincount(self.load_sub_idx, minlength=n)
            + np.bincount(self.line_sub_or_idx, minlength=n)
            + np.bincount(self.line_sub_ex_idx, minlength=n)
        )

    def __repr__(self) -> str:
        return (
            f"GridArrays(name={self.name!r}, n_sub={self.n_sub}, n_prod={self.n_prod}, "
            f"n_load={self.n_load}, n_line={self.n_line})"
        )
