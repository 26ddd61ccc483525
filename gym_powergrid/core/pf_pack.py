"""Python side of the power-flow kernel's packed arrays: sizes, packing a grid, topology and
injections, fresh workspaces, views of the results (layout: :mod:`.pf_kernel`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .network import (
    LF_B_DC,
    LF_IBASE_EX,
    LF_IBASE_OR,
    LF_SHIFT,
    LF_X,
    LF_YFF_B,
    LF_YFF_G,
    LF_YFT_B,
    LF_YFT_G,
    LF_YTF_B,
    LF_YTF_G,
    LF_YTT_B,
    LF_YTT_G,
    N_LINE_COLS,
    N_SUB_COLS,
    SF_SHUNT_B,
    SF_SHUNT_G,
)
from .pf_layout import (
    GI_HDR,
    GI_N_LINE,
    GI_N_LOAD,
    GI_N_PROD,
    GI_N_SUB,
    GI_SLACK_PROD,
    SQRT3,
    WI_CAP_U,
    WI_NEED_U,
    alloc_workspace,
)
from .sparse_lu import symbolic_min_degree

if TYPE_CHECKING:
    from ..grid.arrays import GridArrays


class PFSizes(NamedTuple):
    """Element counts of a packed grid and the lengths of the arrays :func:`run_powerflow` takes."""

    n_sub: int
    n_prod: int
    n_load: int
    n_line: int

    @property
    def n_bus(self) -> int:
        return 2 * self.n_sub

    @property
    def topo_len(self) -> int:
        return self.n_prod + self.n_load + 3 * self.n_line

    @property
    def inj_len(self) -> int:
        return 3 * self.n_prod + 2 * self.n_load

    @property
    def mask_len(self) -> int:
        return self.n_bus + self.n_prod + self.n_load

    @property
    def res_len(self) -> int:
        return 3 * self.n_prod + 3 * self.n_load + 8 * self.n_line


def sizes(grid_i: np.ndarray) -> PFSizes:
    """Counts stored in the header of a packed ``grid_i``."""
    return PFSizes(int(grid_i[GI_N_SUB]), int(grid_i[GI_N_PROD]), int(grid_i[GI_N_LOAD]),
                   int(grid_i[GI_N_LINE]))


def pack_grid(grid: GridArrays) -> tuple[np.ndarray, np.ndarray]:
    """Pack the static arrays of ``grid`` into ``(grid_i, grid_f)`` (layout: module docstring)."""
    n_sub, n_prod, n_load, n_line = grid.n_sub, grid.n_prod, grid.n_load, grid.n_line
    grid_i = np.zeros(GI_HDR + 2 * n_prod + n_load + 2 * n_line, dtype=np.int64)
    grid_i[:5] = (n_sub, n_prod, n_load, n_line, grid.slack_prod_idx)
    grid_i[GI_HDR:] = np.concatenate([grid.prod_sub_idx, grid.prod_kind, grid.load_sub_idx,
                                      grid.line_sub_or_idx, grid.line_sub_ex_idx])
    sn_mva = float(grid.sn_mva)
    sub_f = np.zeros((n_sub, N_SUB_COLS))
    shunt = np.asarray(grid.sub_shunt_y_pu, dtype=np.complex128)
    sub_f[:, SF_SHUNT_G] = shunt.real
    sub_f[:, SF_SHUNT_B] = shunt.imag
    line_f = np.zeros((n_line, N_LINE_COLS))
    for col_g, col_b, y in ((LF_YFF_G, LF_YFF_B, grid.line_y_ff),
                            (LF_YFT_G, LF_YFT_B, grid.line_y_ft),
                            (LF_YTF_G, LF_YTF_B, grid.line_y_tf),
                            (LF_YTT_G, LF_YTT_B, grid.line_y_tt)):
        y = np.asarray(y, dtype=np.complex128)
        line_f[:, col_g] = y.real
        line_f[:, col_b] = y.imag
    line_f[:, LF_B_DC] = 1.0 / (np.asarray(grid.line_x_pu, np.float64)
                                * np.asarray(grid.line_tap, np.float64))
    line_f[:, LF_SHIFT] = grid.line_shift_rad
    line_f[:, LF_X] = grid.line_x_pu
    vn = np.asarray(grid.sub_vn_kv, dtype=np.float64)
    line_f[:, LF_IBASE_OR] = sn_mva / (SQRT3 * vn[grid.line_sub_or_idx]) * 1e3
    line_f[:, LF_IBASE_EX] = sn_mva / (SQRT3 * vn[grid.line_sub_ex_idx]) * 1e3
    grid_f = np.concatenate([[sn_mva, float(grid.slack_va_rad), 0.0, 0.0], sub_f.ravel(),
                             line_f.ravel()])
    return grid_i, grid_f


def default_fill_capacity(grid_i: np.ndarray, grid_f: np.ndarray) -> int:
    """Fill capacity for :func:`new_workspace`: room for node splits around the reference fill.

    Runs the symbolic analysis (:func:`~.sparse_lu.symbolic_min_degree`, the kernel's own) on
    the reference topology's bus pattern (every element on busbar 0, every branch in service,
    the slack's substation first and left uncoupled, as the kernel orders it) and leaves a wide
    margin; topologies that need more still solve (slower). Only that small kernel compiles
    here, not the whole power flow, so building an env stays quick on a cold numba cache.
    """
    sz = sizes(grid_i)
    n_sub, n_prod, n_load, n_line = sz.n_sub, sz.n_prod, sz.n_load, sz.n_line
    if n_sub == 0:
        return 64
    base = GI_HDR + 2 * n_prod + n_load
    sub_or = grid_i[base:base + n_line]
    sub_ex = grid_i[base + n_line:base + 2 * n_line]
    slack_sub = int(grid_i[GI_HDR + int(grid_i[GI_SLACK_PROD])]) if n_prod else 0
    order = np.concatenate(([slack_sub], np.delete(np.arange(n_sub), slack_sub)))
    cidx = np.empty(n_sub, np.int64)
    cidx[order] = np.arange(n_sub)
    i = np.concatenate((cidx[sub_or], cidx[sub_ex], np.arange(n_sub)))
    j = np.concatenate((cidx[sub_ex], cidx[sub_or], np.arange(n_sub)))
    o = np.lexsort((j, i))
    i, j = i[o], j[o]
    a_ptr = np.zeros(n_sub + 1, np.int64)
    np.add.at(a_ptr, i + 1, 1)
    a_ptr = np.cumsum(a_ptr)
    skip = np.zeros(n_sub, np.bool_)
    skip[0] = True
    u_col = symbolic_min_degree(n_sub, a_ptr, np.ascontiguousarray(j, np.int64), skip)[3]
    fill = int(u_col.shape[0])
    return 2 * fill + 2 * sz.n_bus + 64


def new_workspace(grid_i: np.ndarray, grid_f: np.ndarray,
                  cap_u: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fresh ``(ws_i, ws_f)`` for this grid (``cap_u``: fill capacity, default estimated)."""
    sz = sizes(grid_i)
    if cap_u is None:
        cap_u = default_fill_capacity(grid_i, grid_f)
    return alloc_workspace(sz.n_sub, sz.n_prod, sz.n_load, sz.n_line, int(cap_u))


def workspace_needs_growth(ws_i: np.ndarray) -> bool:
    """True when a topology's fill did not fit (grow with ``new_workspace(..., cap_u)``)."""
    return bool(ws_i[WI_NEED_U] > ws_i[WI_CAP_U])


def pack_topology(prod_node: np.ndarray, load_node: np.ndarray, line_or_node: np.ndarray,
                  line_ex_node: np.ndarray, line_status: np.ndarray,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Topology in the kernel's int8 pypownet layout (written into ``out`` when given)."""
    packed = np.concatenate((prod_node, load_node, line_or_node, line_ex_node, line_status))
    if out is None:
        return packed.astype(np.int8, copy=False)
    out[:] = packed
    return out


def pack_injections(prod_p_mw: np.ndarray, prod_q_mvar: np.ndarray, prod_v_pu: np.ndarray,
                    load_p_mw: np.ndarray, load_q_mvar: np.ndarray,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Injections in the kernel's float64 layout (written into ``out`` when given)."""
    packed = np.concatenate((prod_p_mw, prod_q_mvar, prod_v_pu, load_p_mw, load_q_mvar))
    if out is None:
        return packed.astype(np.float64, copy=False)
    out[:] = packed
    return out


def result_views(sz: PFSizes, out_mask: np.ndarray,
                 out_res: np.ndarray) -> tuple[np.ndarray, ...]:
    """Views ``(bus_on, prod_cut, load_cut, prod_res, load_res, line_res)`` into the outputs."""
    n_bus, p, d, n_line = sz.n_bus, sz.n_prod, sz.n_load, sz.n_line
    return (out_mask[:n_bus], out_mask[n_bus:n_bus + p], out_mask[n_bus + p:],
            out_res[:3 * p].reshape(p, 3), out_res[3 * p:3 * p + 3 * d].reshape(d, 3),
            out_res[3 * p + 3 * d:].reshape(n_line, 8))
