"""MATPOWER case files (``.m`` / ``.mat``) <-> pandapower nets, with pypownet's conventions.

Reading (:func:`read_matpower`) goes through pandapower's own converter (``from_ppc``, the engine
of ``pandapower.converter.from_mpc``; ``.m`` files are parsed by matpowercaseframes, ``.mat``
files by scipy), after a clean-up that pypownet's reference grids need:

- **sister buses**: pypownet's grids hold, for every substation, an isolated (type 4) bus
  numbered ``666`` followed by the original bus number (``66614`` for bus 14): busbar 1 of the
  substation. Our grid model always has two busbars per substation, so sister buses are dropped.
  An element or a branch attached to a sister bus is moved onto the original bus (logged): the
  topology always starts with every element on busbar 0.
- **element order**: pypownet numbers productions by ``gen`` row, loads by bus row (buses with
  ``Pd`` or ``Qd`` non-zero) and lines by ``branch`` row. The net remembers that order
  (``net["gym_powergrid_branch_order"]``): :class:`GridArrays` lines follow the branch rows,
  transformers included, so line ``k`` of actions and observations is pypownet's line ``k``.
  :func:`pypownet_column_order` maps the file order onto the :class:`GridArrays` order (the
  slack production comes first in the grid), so that chronic columns land on the right
  elements.
- pypownet switches every production on at each step and makes every bus holding a production a
  PV bus; isolated (type 4) buses that are not sister buses are made PQ buses. The reader does the
  same (logged), so that no element is lost.

Writing (:func:`write_matpower`) produces a MATPOWER version 2 ``.m`` file from
:class:`GridArrays`, with sister buses, that pypownet and :func:`read_matpower` both read.
pandapower's ``to_mpc`` only writes ``.mat`` files and merges loads and static generators into
bus injections, which would lose the element identities chronic columns refer to; hence this
small writer.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnsupportedGridError
from .arrays import BRANCH_TRAFO, PROD_PV, PROD_SLACK, GridArrays

logger = logging.getLogger(__name__)

#: pypownet's prefix of sister-bus numbers (``ARTIFICIAL_NODE_STARTING_STRING``).
SISTER_PREFIX = "666"
# MATPOWER column indices (0-based)
BUS_I, BUS_TYPE, PD, QD, GS, BS, VM, VA, BASE_KV = 0, 1, 2, 3, 4, 5, 7, 8, 9
GEN_BUS, GEN_STATUS = 0, 7
F_BUS, T_BUS, RATE_A, TAP, SHIFT, BR_STATUS = 0, 1, 5, 8, 9, 10
_MIN_COLS = {"bus": 13, "gen": 10, "branch": 11}
_BIG = 9999.0


@dataclass(frozen=True)
class ColumnOrder:
    """Where each grid element's column is in pypownet's files.

    ``prod[i]`` is the file column of :class:`GridArrays` production ``i`` (same for ``load`` and
    ``line``). :meth:`file_to_grid` reorders a chronic read from files into grid order;
    :meth:`grid_to_file` does the reverse before writing.
    """

    prod: np.ndarray
    load: np.ndarray
    line: np.ndarray

    @classmethod
    def identity(cls, grid: GridArrays) -> ColumnOrder:
        return cls(np.arange(grid.n_prod), np.arange(grid.n_load), np.arange(grid.n_line))

    @property
    def is_identity(self) -> bool:
        return all(np.array_equal(a, np.arange(a.size)) for a in (self.prod, self.load, self.line))

    def file_to_grid(self, chronic):  # noqa: ANN001, ANN201 - Chronic (no import cycle)
        """Reorder a chronic whose columns are in file order into grid order."""
        return chronic if self.is_identity else chronic.take_columns(self.prod, self.load,
                                                                      self.line)

    def grid_to_file(self, chronic):  # noqa: ANN001, ANN201
        """Reorder a chronic in grid order into file order."""
        if self.is_identity:
            return chronic
        return chronic.take_columns(np.argsort(self.prod), np.argsort(self.load),
                                    np.argsort(self.line))


# ---------------------------------------------------------------------- reading
def _read_mpc(path: Path) -> dict:
    """Parse a MATPOWER file into a dict of float arrays with the file's (1-based) numbering."""
    try:
        if path.suffix == ".mat":
            import scipy.io

            raw = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
            if "mpc" not in raw:
                raise ValueError("no 'mpc' struct in the .mat file")
            s = raw["mpc"]
            mpc = {"baseMVA": float(s.baseMVA), "bus": s.bus, "gen": s.gen, "branch": s.branch}
        else:
            from matpowercaseframes import CaseFrames

            cf = CaseFrames(str(path))
            mpc = {"baseMVA": float(cf.baseMVA), "bus": cf.bus.to_numpy(float),
                   "gen": cf.gen.to_numpy(float), "branch": cf.branch.to_numpy(float)}
    except UnsupportedGridError:
        raise
    except Exception as exc:  # parsers raise anything from AttributeError to ValueError
        raise UnsupportedGridError(
            f"cannot parse MATPOWER file {path}: {type(exc).__name__}: {exc}. Expected a MATPOWER "
            "version 2 case (mpc.baseMVA, mpc.bus, mpc.gen, mpc.branch)"
        ) from exc
    for key, n_cols in _MIN_COLS.items():
        arr = np.array(mpc[key], dtype=np.float64, ndmin=2)
        if arr.size == 0 or arr.shape[1] < n_cols:
            raise UnsupportedGridError(f"cannot use MATPOWER file {path}: mpc.{key} has shape "
                                       f"{arr.shape}, needs at least {n_cols} columns")
        mpc[key] = arr.copy()
    if not np.any(mpc["bus"][:, BUS_TYPE] == 3):
        raise UnsupportedGridError(f"cannot use MATPOWER file {path}: no reference bus "
                                   "(type 3) in mpc.bus")
    return mpc


def find_sister_buses(bus: np.ndarray) -> dict[int, int]:
    """Return ``{sister bus number: original bus number}`` for pypownet's sister buses.

    A bus numbered ``666<n>`` is a sister of bus ``<n>`` when bus ``<n>`` exists and either it is
    isolated (type 4) or every other bus has such a sister (pypownet's complete layout).
    """
    ids = [int(b) for b in bus[:, BUS_I]]
    id_set = set(ids)
    candidates = {}
    for b, kind in zip(ids, bus[:, BUS_TYPE]):
        text = str(b)
        if text.startswith(SISTER_PREFIX) and len(text) > len(SISTER_PREFIX):
            original = int(text[len(SISTER_PREFIX):])
            if original in id_set and str(original) == text[len(SISTER_PREFIX):]:
                candidates[b] = (original, int(kind))
    originals = id_set - set(candidates)
    complete = originals and originals <= {o for o, _ in candidates.values()}
    return {s: o for s, (o, kind) in candidates.items() if complete or kind == 4}


def _fold_sister_buses(mpc: dict, path: Path) -> tuple[dict[int, int], list[tuple]]:
    """Drop sister buses, moving what they hold onto the original buses; return loads."""
    bus, gen, branch = mpc["bus"], mpc["gen"], mpc["branch"]
    sisters = find_sister_buses(bus)
    row_of = {int(b): i for i, b in enumerate(bus[:, BUS_I])}
    # loads in pypownet's order: bus rows with Pd or Qd non-zero, sister rows included
    loads = []
    for b, p, q in bus[:, [BUS_I, PD, QD]]:
        if p != 0 or q != 0:
            target = sisters.get(int(b), int(b))
            if target != int(b):
                logger.warning("%s: the load on sister bus %d is moved onto bus %d (busbar 0 of "
                               "its substation; the initial topology is always busbar 0)",
                               path.name, int(b), target)
            loads.append((target, float(p), float(q)))
    if not sisters:
        return sisters, loads
    for s, o in sisters.items():
        srow, orow = bus[row_of[s]], bus[row_of[o]]
        for col, what in ((GS, "Gs"), (BS, "Bs")):
            if srow[col] != 0 and srow[col] != orow[col]:
                logger.warning("%s: sister bus %d has shunt %s=%g (bus %d has %g); it is added "
                               "onto bus %d", path.name, s, what, srow[col], o, orow[col], o)
                orow[col] += srow[col]
    for table, cols, what in ((gen, (GEN_BUS,), "production (gen row)"),
                              (branch, (F_BUS, T_BUS), "branch")):
        for col in cols:
            for i in np.flatnonzero(np.isin(table[:, col], list(sisters))):
                s = int(table[i, col])
                active = table is gen or table[i, BR_STATUS] > 0
                log = logger.warning if active else logger.debug
                log("%s: %s %d is attached to sister bus %d; moved onto bus %d (busbar 0: the "
                    "initial topology always has every element on busbar 0)", path.name, what,
                    i + 1, s, sisters[s])
                table[i, col] = sisters[s]
    keep = ~np.isin(bus[:, BUS_I], list(sisters))
    mpc["bus"] = bus[keep]
    logger.info("%s: dropped %d pypownet sister buses (666<bus>): they are busbar 1 of their "
                "substation, which every substation has in gym_powergrid", path.name,
                len(sisters))
    return sisters, loads


def read_matpower(path: str | os.PathLike, f_hz: float = 50.0):
    """Read a MATPOWER ``.m`` or ``.mat`` case (pypownet reference grids included).

    Args:
        path: the case file.
        f_hz: network frequency (MATPOWER files do not say; pandapower's default is 50 Hz).

    Returns:
        A pandapower net. Its ``_from_ppc_lookups`` remember the file order of productions,
        loads and branches (see :func:`pypownet_column_order`).

    Raises:
        FileNotFoundError: if the file does not exist.
        UnsupportedGridError: if the file cannot be parsed or used.
    """
    import pandapower as pp
    from pandapower.converter.pypower import from_ppc

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MATPOWER file {path} does not exist")
    if path.suffix not in (".m", ".mat"):
        raise UnsupportedGridError(f"{path}: a MATPOWER case must end in .m or .mat")
    mpc = _read_mpc(path)
    _, loads = _fold_sister_buses(mpc, path)
    bus, gen, branch = mpc["bus"], mpc["gen"], mpc["branch"]
    known = set(bus[:, BUS_I].astype(np.int64).tolist())
    for table, cols, what in ((gen, (GEN_BUS,), "gen"), (branch, (F_BUS, T_BUS), "branch")):
        for col in cols:
            unknown = sorted(set(table[:, col].astype(np.int64).tolist()) - known)
            if unknown:
                raise UnsupportedGridError(f"{path}: mpc.{what} refers to buses {unknown} that "
                                           "mpc.bus does not define")
    isolated = (bus[:, BUS_TYPE] == 4)
    if isolated.any():
        logger.info("%s: %d isolated (type 4) buses are made PQ buses (pypownet recomputes bus "
                    "types at each step)", path.name, int(isolated.sum()))
        bus[isolated, BUS_TYPE] = 1
    pv = np.isin(bus[:, BUS_I], gen[:, GEN_BUS]) & (bus[:, BUS_TYPE] == 1)
    if pv.any():
        logger.debug("%s: %d buses holding a production become PV buses", path.name, pv.sum())
        bus[pv, BUS_TYPE] = 2
    off = gen[:, GEN_STATUS] <= 0
    if off.any():
        logger.info("%s: %d productions with status 0 are switched on (pypownet switches every "
                    "production on at each step; a voltage <= 0 in the chronic switches it off)",
                    path.name, int(off.sum()))
        gen[off, GEN_STATUS] = 1
    bus[:, [PD, QD]] = 0.0  # loads are created below, in pypownet's order
    # 0-based numbering, MATPOWER "ratio 0 = line", as pandapower's from_mpc does
    bus[:, BUS_I] -= 1
    gen[:, GEN_BUS] -= 1
    branch[:, [F_BUS, T_BUS]] -= 1
    branch[branch[:, TAP] == 0, TAP] = 1.0
    kv = dict(zip(bus[:, BUS_I].astype(np.int64).tolist(), bus[:, BASE_KV].tolist()))
    f_kv = np.array([kv[int(b)] for b in branch[:, F_BUS]])
    t_kv = np.array([kv[int(b)] for b in branch[:, T_BUS]])
    plain = (f_kv != t_kv) & (branch[:, TAP] == 1.0) & (branch[:, SHIFT] == 0)
    if plain.any():
        logger.info("%s: %d branches join buses of different base kV with ratio 1: read as "
                    "transformers of ratio 1 (pandapower would make them impedances)",
                    path.name, int(plain.sum()))
        branch[plain, TAP] = 1.0 + 1e-12
    ppc = {"version": "2", "baseMVA": mpc["baseMVA"], "bus": bus, "gen": gen, "branch": branch}
    import warnings

    with warnings.catch_warnings():  # pandapower's own dtype FutureWarnings are not ours to show
        warnings.simplefilter("ignore", FutureWarning)
        net = from_ppc(ppc, f_hz=f_hz)
        load_idx = [pp.create_load(net, bus=int(b) - 1, p_mw=p, q_mvar=q) for b, p, q in loads]
    net._from_ppc_lookups["load"] = np.asarray(load_idx, dtype=np.int64)
    br_lu = net._from_ppc_lookups["branch"]
    net["gym_powergrid_branch_order"] = [(str(t), int(e)) for t, e in
                                         zip(br_lu.element_type, br_lu.element)]
    net.name = path.stem
    logger.info("%s: %d buses, %d productions, %d loads, %d branches", path.name, len(net.bus),
                len(gen), len(loads), len(branch))
    return net


def pypownet_column_order(net, grid: GridArrays) -> ColumnOrder:
    """Map the file order of productions, loads and lines onto ``grid`` (built from ``net``).

    Nets not read by :func:`read_matpower` have no file order: the grid order is used.

    Raises:
        UnsupportedGridError: if some file element has no counterpart in the grid.
    """
    lookups = net.get("_from_ppc_lookups") if hasattr(net, "get") else None
    if not lookups or "load" not in lookups:
        return ColumnOrder.identity(grid)
    gen_lu, br_lu = lookups["gen"], lookups["branch"]
    gen_pos = {(t, int(e)): j for j, (t, e) in enumerate(zip(gen_lu.element_type,
                                                             gen_lu.element))}
    br_pos = {(t, int(e)): j for j, (t, e) in enumerate(zip(br_lu.element_type, br_lu.element))}
    load_pos = {int(e): j for j, e in enumerate(lookups["load"])}
    try:
        prod = [gen_pos[(str(t), int(i))] for t, i in zip(grid.prod_pp_table, grid.prod_pp_idx)]
        load = [load_pos[int(i)] for i in grid.load_pp_idx]
        line = [br_pos[("trafo" if k == BRANCH_TRAFO else "line", int(i))]
                for k, i in zip(grid.line_kind, grid.line_pp_idx)]
    except KeyError as exc:
        raise UnsupportedGridError(f"grid element {exc} does not come from the MATPOWER file") \
            from None
    sizes = {"productions (gen rows)": (len(prod), len(gen_lu)),
             "loads (buses with Pd or Qd)": (len(load), len(load_pos)),
             "lines (branch rows)": (len(line), len(br_lu))}
    for what, (have, want) in sizes.items():
        if have != want:
            raise UnsupportedGridError(
                f"the MATPOWER file has {want} {what} but the grid model has {have}: some were "
                "not converted (e.g. several generators on the reference bus or impedances)"
            )
    return ColumnOrder(np.asarray(prod, dtype=np.int64), np.asarray(load, dtype=np.int64),
                       np.asarray(line, dtype=np.int64))


# ---------------------------------------------------------------------- writing
def _fmt(x: float) -> str:
    if math.isnan(x):
        return "0"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def _matrix(name: str, header: str, rows: list[list[float]]) -> str:
    body = "\n".join("\t" + "\t".join(_fmt(v) for v in row) + ";" for row in rows)
    return f"%% {name} data\n%\t{header}\nmpc.{name} = [\n{body}\n];\n"


def write_matpower(grid: GridArrays, path: str | os.PathLike, *,
                   sister_buses: bool = True) -> ColumnOrder:
    """Write ``grid`` as a MATPOWER version 2 ``.m`` case, pypownet style.

    Buses are numbered 1..n_sub in substation order, productions are ``gen`` rows in grid order
    and branches ``branch`` rows in grid order; loads become bus ``Pd``/``Qd`` (one load per
    bus at most, as MATPOWER allows). With ``sister_buses``, bus ``666<n>`` (type 4) is added
    for every substation, as pypownet's reference grids have.

    Returns:
        The :class:`ColumnOrder` of the written file (use ``grid_to_file`` on chronics written
        next to it).

    Raises:
        UnsupportedGridError: if a substation holds more than one load.
    """
    path = Path(path)
    n_sub, sn = grid.n_sub, grid.sn_mva
    counts = np.bincount(grid.load_sub_idx, minlength=n_sub)
    if counts.max(initial=0) > 1:
        subs = [str(grid.sub_name[s]) for s in np.flatnonzero(counts > 1)]
        raise UnsupportedGridError(f"MATPOWER holds one load per bus, but substations {subs} "
                                   "have several: merge them before writing")
    bus_type = np.ones(n_sub, dtype=np.int64)
    bus_type[grid.prod_sub_idx[grid.prod_kind == PROD_PV]] = 2
    bus_type[grid.slack_sub_idx] = 3
    pd_mw, qd_mvar = np.zeros(n_sub), np.zeros(n_sub)
    for s, p, q in zip(grid.load_sub_idx, grid.load_p_mw, grid.load_q_mvar):
        if p == 0 and q == 0:
            logger.warning("load at substation %s has P = Q = 0: written with Pd = 1e-6 MW so "
                           "that MATPOWER readers still count it as a load", grid.sub_name[s])
            p = 1e-6
        pd_mw[s], qd_mvar[s] = p, q
    vm = np.ones(n_sub)
    vm[grid.prod_sub_idx] = grid.prod_vm_pu
    va = np.zeros(n_sub)
    va[grid.slack_sub_idx] = math.degrees(grid.slack_va_rad)
    gs, bs = grid.sub_shunt_y_pu.real * sn, grid.sub_shunt_y_pu.imag * sn
    bus_rows = [[s + 1, bus_type[s], pd_mw[s], qd_mvar[s], gs[s], bs[s], 1, vm[s], va[s],
                 grid.sub_vn_kv[s], 1, 1.1, 0.9] for s in range(n_sub)]
    if sister_buses:
        bus_rows += [[int(f"{SISTER_PREFIX}{s + 1}"), 4, 0, 0, 0, 0, 1, vm[s], va[s],
                      grid.sub_vn_kv[s], 1, 1.1, 0.9] for s in range(n_sub)]
    slack_sub = grid.slack_sub_idx
    for i in np.flatnonzero(grid.prod_kind != PROD_SLACK):
        if grid.prod_sub_idx[i] == slack_sub:
            logger.warning("production %s shares the reference bus: MATPOWER readers will make "
                           "it a PQ production", grid.prod_name[i])
    pmax = np.where(np.isfinite(grid.prod_p_max_mw), grid.prod_p_max_mw, _BIG)
    gen_rows = [[grid.prod_sub_idx[i] + 1, grid.prod_p_mw[i], grid.prod_q_mvar[i], _BIG, -_BIG,
                 grid.prod_vm_pu[i], sn, 1, pmax[i], 0] + [0] * 11 for i in range(grid.n_prod)]
    trafo = grid.line_kind == BRANCH_TRAFO
    if np.any(grid.line_g_pu[~trafo] != 0):
        logger.warning("line shunt conductances are not part of MATPOWER's branch model: dropped")
    rate = np.where(trafo, grid.line_limit_or_a * grid.line_vn_or_kv,
                    grid.line_limit_ex_a * grid.line_vn_ex_kv) * math.sqrt(3) / 1e3
    rate = np.where(np.isfinite(rate), rate, 0.0)
    ratio = np.where(trafo | (grid.line_tap != 1.0), grid.line_tap, 0.0)
    branch_rows = [[grid.line_sub_or_idx[k] + 1, grid.line_sub_ex_idx[k] + 1, grid.line_r_pu[k],
                    grid.line_x_pu[k], grid.line_b_pu[k], rate[k], rate[k], rate[k], ratio[k],
                    math.degrees(grid.line_shift_rad[k]), int(grid.line_in_service[k]), -360, 360]
                   for k in range(grid.n_line)]
    text = (
        f"function mpc = {path.stem if path.stem.isidentifier() else 'reference_grid'}\n"
        f"%% grid {grid.name!r} written by gym_powergrid (pypownet layout: bus 666<n> is the "
        "sister bus of bus <n>)\n\n%% MATPOWER Case Format : Version 2\nmpc.version = '2';\n\n"
        f"%% system MVA base\nmpc.baseMVA = {_fmt(sn)};\n\n"
        + _matrix("bus", "bus_i\ttype\tPd\tQd\tGs\tBs\tarea\tVm\tVa\tbaseKV\tzone\tVmax\tVmin",
                  bus_rows) + "\n"
        + _matrix("gen", "bus\tPg\tQg\tQmax\tQmin\tVg\tmBase\tstatus\tPmax\tPmin\tPc1\tPc2\t"
                  "Qc1min\tQc1max\tQc2min\tQc2max\tramp_agc\tramp_10\tramp_30\tramp_q\tapf",
                  gen_rows) + "\n"
        + _matrix("branch", "fbus\ttbus\tr\tx\tb\trateA\trateB\trateC\tratio\tangle\tstatus\t"
                  "angmin\tangmax", branch_rows)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    load_col = np.empty(grid.n_load, dtype=np.int64)
    load_col[np.argsort(grid.load_sub_idx, kind="stable")] = np.arange(grid.n_load)
    return ColumnOrder(np.arange(grid.n_prod), load_col, np.arange(grid.n_line))
