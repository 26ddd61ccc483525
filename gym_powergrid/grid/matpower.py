"""MATPOWER case files (``.m`` / ``.mat``) <-> pandapower nets and :class:`GridArrays`.

Reading (:func:`read_matpower`) parses the file (``.m`` with matpowercaseframes, ``.mat`` with
scipy), checks it (clear errors naming the file, the matrix, the row and the column), and builds
a pandapower net that remembers the file (``net["gym_powergrid_matpower"]``). Converting that net
(:func:`~gym_powergrid.grid.convert.from_pandapower`) takes the branches from the file rows with
MATPOWER's own branch model (:mod:`~gym_powergrid.grid.matpower_model`: tap and shift on the from
side, the file's orientation), so the fast core solves what MATPOWER, PYPOWER and pypownet solve.
pypownet's conventions are applied too:

- **sister buses**: pypownet's grids hold, for every substation, an isolated (type 4) bus
  numbered ``666`` followed by the original bus number (``66614`` for bus 14): busbar 1 of the
  substation. Our grid model always has two busbars per substation, so sister buses are dropped.
  An element or a branch attached to a sister bus is moved onto the original bus (logged): the
  topology always starts with every element on busbar 0.
- **element order**: pypownet numbers productions by ``gen`` row, loads by bus row (buses with
  ``Pd`` or ``Qd`` non-zero) and lines by ``branch`` row. :class:`GridArrays` keeps that order
  (lines: transformers included), so element ``k`` of actions and observations is pypownet's
  element ``k``. :func:`pypownet_column_order` maps the file order onto the :class:`GridArrays`
  order (the identity for a grid read from the file), so that chronic columns land on the
  right elements whatever the grid.
- pypownet switches every production on at each step and makes every bus holding a production a
  PV bus; isolated (type 4) buses that are not sister buses are made PQ buses. The reader does the
  same (logged), so that no element is lost.
- **baseKV**: power flows are in per unit and do not need it (MATPOWER ignores it), but ampere
  flows and limits do. A bus with ``baseKV = 0`` (MATPOWER's own case14.m, case57.m) takes the
  ``base_kv`` argument; without one, 1 kV (logged): amperes are then "per kV", and their ratios
  to the thermal limits (what overflows use) are unaffected.

Writing (:func:`write_matpower`) produces a MATPOWER version 2 ``.m`` file from
:class:`GridArrays`, with sister buses, that pypownet and :func:`read_matpower` both read; reading
it back gives bit-identical admittances and limits. pandapower's ``to_mpc`` only writes ``.mat``
files and merges loads and static generators into bus injections, which would lose the element
identities chronic columns refer to; hence this small writer.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnsupportedGridError
from .arrays import BRANCH_TRAFO, PROD_PQ, PROD_PV, PROD_SLACK, GridArrays
from .matpower_model import (
    BASE_KV,
    BR_R,
    BR_STATUS,
    BR_X,
    BRANCH_G_FIELD,
    BS,
    BUS_I,
    BUS_TYPE,
    F_BUS,
    GEN_BUS,
    GEN_STATUS,
    GS,
    PD,
    QD,
    SOURCE_KEY,
    T_BUS,
    VA,
    VM,
    build_net,
    exact_preimage,
    shift_rad,
)
from .matpower_model import limit_a as limit_a_of

logger = logging.getLogger(__name__)

#: pypownet's prefix of sister-bus numbers (``ARTIFICIAL_NODE_STARTING_STRING``).
SISTER_PREFIX = "666"
#: MATPOWER version 2 column names (the file's own header names), for error messages
COLUMNS = {
    "bus": ("bus_i", "type", "Pd", "Qd", "Gs", "Bs", "area", "Vm", "Va", "baseKV", "zone",
            "Vmax", "Vmin"),
    "gen": ("bus", "Pg", "Qg", "Qmax", "Qmin", "Vg", "mBase", "status", "Pmax", "Pmin"),
    "branch": ("fbus", "tbus", "r", "x", "b", "rateA", "rateB", "rateC", "ratio", "angle",
               "status"),
}
#: columns that must be finite, and columns that may be +-inf but not NaN (limits)
_FINITE = {"bus": [0, 1, 2, 3, 4, 5, 7, 8, 9], "gen": [0, 1, 2, 5, 7], "branch": [0, 1, 2, 3, 4, 8,
                                                                              9, 10]}
_NUMBER = {"bus": [], "gen": [8], "branch": [5]}
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
def _parse(path: Path) -> dict:
    """Parse a MATPOWER file into a dict of raw values (the file's own numbering)."""
    try:
        if path.suffix == ".mat":
            import scipy.io

            raw = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
            if "mpc" not in raw:
                raise UnsupportedGridError(f"cannot use MATPOWER file {path}: no 'mpc' struct "
                                           "in the .mat file")
            s = raw["mpc"]
            names = ("baseMVA", "bus", "gen", "branch", BRANCH_G_FIELD)
            return {k: getattr(s, k) for k in names if hasattr(s, k)}
        from matpowercaseframes import CaseFrames

        text = path.read_text(encoding="utf-8", errors="replace")
        found = [k for k in ("baseMVA", "bus", "gen", "branch")
                 if re.search(rf"^\s*mpc\.{k}\s*=", text, re.MULTILINE)]
        if found and len(found) < 4:
            return {k: None for k in found}  # _read_mpc names what is missing
        cf = CaseFrames(str(path), allow_any_keys=True)
        wanted = ("baseMVA", "bus", "gen", "branch", BRANCH_G_FIELD)
        out = {k: getattr(cf, k) for k in wanted if k in cf._attributes}
    except UnsupportedGridError:
        raise
    except Exception as exc:  # parsers raise anything from AttributeError to ValueError
        if path.suffix == ".m":
            _raise_on_ragged_rows(path)
        raise UnsupportedGridError(
            f"cannot parse MATPOWER file {path}: {type(exc).__name__}: {exc}. Expected a MATPOWER "
            "version 2 case (mpc.baseMVA, mpc.bus, mpc.gen, mpc.branch)"
        ) from exc
    return {k: (v.to_numpy(float) if hasattr(v, "to_numpy") else v) for k, v in out.items()}


def _raise_on_ragged_rows(path: Path) -> None:
    """Name an empty ``mpc.bus/gen/branch`` or its first row of another length than row 1."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for key in COLUMNS:
        m = re.search(rf"^\s*mpc\.{key}\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
        if not m:
            continue
        body = "\n".join(line.split("%")[0] for line in m.group(1).splitlines())
        rows = [r.split() for r in re.split(r"[;\n]", body) if r.strip()]
        if not rows:
            raise UnsupportedGridError(f"cannot use MATPOWER file {path}: mpc.{key} is empty")
        for i, r in enumerate(rows[1:], start=2):
            if len(r) != len(rows[0]):
                raise UnsupportedGridError(
                    f"cannot use MATPOWER file {path}: mpc.{key} row {i} has {len(r)} columns but "
                    f"row 1 has {len(rows[0])}; every row needs the same columns (at least "
                    f"{len(COLUMNS[key])}: {', '.join(COLUMNS[key])})")


def _read_mpc(path: Path) -> dict:
    """Parse and check a MATPOWER file: float arrays with the file's (1-based) numbering."""
    raw = _parse(path)
    where = f"MATPOWER file {path}"
    missing = [k for k in ("baseMVA", "bus", "gen", "branch") if k not in raw]
    if missing:
        raise UnsupportedGridError(f"cannot use {where}: mpc.{', mpc.'.join(missing)} missing "
                                   "(a MATPOWER version 2 case defines mpc.baseMVA, mpc.bus, "
                                   "mpc.gen and mpc.branch)")
    try:
        base = float(np.asarray(raw["baseMVA"], dtype=float).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        base = math.nan
    if not (math.isfinite(base) and base > 0):
        raise UnsupportedGridError(f"cannot use {where}: mpc.baseMVA = {raw['baseMVA']!r}; it "
                                   "must be a positive number of MVA (usually 100)")
    mpc: dict = {"baseMVA": base}
    for key, names in COLUMNS.items():
        arr = np.array(raw[key], dtype=np.float64, ndmin=2)
        if arr.size == 0 or arr.ndim != 2 or arr.shape[1] < len(names):
            raise UnsupportedGridError(
                f"cannot use {where}: mpc.{key} has shape {arr.shape}, needs at least "
                f"{len(names)} columns ({', '.join(names)})")
        bad = np.zeros(arr.shape, bool)
        bad[:, _FINITE[key]] = ~np.isfinite(arr[:, _FINITE[key]])
        bad[:, _NUMBER[key]] |= np.isnan(arr[:, _NUMBER[key]])
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raise UnsupportedGridError(
                f"cannot use {where}: mpc.{key} row {row + 1} column {col + 1} "
                f"({names[col]}) is {arr[row, col]}; it must be a "
                f"{'finite ' if col in _FINITE[key] else ''}number ({int(bad.sum())} such "
                "entries)")
        mpc[key] = arr.copy()
    n_br = mpc["branch"].shape[0]
    g = np.zeros(n_br)
    if BRANCH_G_FIELD in raw:
        g = np.asarray(raw[BRANCH_G_FIELD], dtype=float).reshape(-1)
        if g.shape != (n_br,) or not np.isfinite(g).all():
            raise UnsupportedGridError(f"cannot use {where}: mpc.{BRANCH_G_FIELD} must hold one "
                                       f"finite value per branch row ({n_br}), got {g.shape}")
    mpc["branch_g"] = g
    br = mpc["branch"]
    zero = np.flatnonzero((br[:, BR_R] == 0) & (br[:, BR_X] == 0))
    if zero.size:
        k = int(zero[0])
        raise UnsupportedGridError(
            f"cannot use {where}: mpc.branch row {k + 1} ({int(br[k, F_BUS])} -> "
            f"{int(br[k, T_BUS])}) has zero impedance (r = x = 0), which MATPOWER's branch model "
            f"divides by ({zero.size} such rows): give it a small reactance (e.g. x = 1e-4) or "
            "merge its two buses")
    bus = mpc["bus"]
    ids = bus[:, BUS_I]
    if (ids != np.round(ids)).any() or np.unique(ids).size != ids.size:
        raise UnsupportedGridError(f"cannot use {where}: mpc.bus column 1 (bus_i) must hold "
                                   "distinct integer bus numbers")
    if (bus[:, BASE_KV] < 0).any():
        row = int(np.flatnonzero(bus[:, BASE_KV] < 0)[0])
        raise UnsupportedGridError(f"cannot use {where}: mpc.bus row {row + 1} column 10 "
                                   f"(baseKV) is {bus[row, BASE_KV]}; it must be >= 0 kV")
    n_ref = int(np.sum(bus[:, BUS_TYPE] == 3))
    if n_ref != 1:
        raise UnsupportedGridError(f"cannot use {where}: mpc.bus has {n_ref} reference buses "
                                   "(type 3); exactly one is needed (the slack)")
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


def read_matpower(path: str | os.PathLike, f_hz: float = 50.0, base_kv: float | None = None):
    """Read a MATPOWER ``.m`` or ``.mat`` case (pypownet reference grids included).

    Args:
        path: the case file.
        f_hz: network frequency (MATPOWER files do not say; pandapower's default is 50 Hz).
        base_kv: voltage (kV) of the buses whose ``baseKV`` is 0; None: 1 kV, logged (see the
            module doc: per-unit physics is unaffected, amperes are per kV).

    Returns:
        A pandapower net. ``net["gym_powergrid_matpower"]`` remembers the file: the element
        created for each gen row, load and branch row, and the branch rows themselves, which
        :func:`~gym_powergrid.grid.convert.from_pandapower` converts with MATPOWER's model.

    Raises:
        FileNotFoundError: if the file does not exist.
        UnsupportedGridError: if the file cannot be parsed or used (the message names the file,
            the matrix, the row and the column).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MATPOWER file {path} does not exist")
    if path.suffix not in (".m", ".mat"):
        raise UnsupportedGridError(f"{path}: a MATPOWER case must end in .m or .mat")
    if base_kv is not None and not (math.isfinite(base_kv) and base_kv > 0):
        raise UnsupportedGridError(f"base_kv must be a positive voltage in kV, got {base_kv!r}")
    mpc = _read_mpc(path)
    file_v = {int(b): (vm, va) for b, vm, va in mpc["bus"][:, [BUS_I, VM, VA]]}
    sisters, loads = _fold_sister_buses(mpc, path)
    bus, gen, branch = mpc["bus"], mpc["gen"], mpc["branch"]
    # the file's voltages, per busbar (busbar 1 from pypownet's sister bus; 0 = unknown): the
    # starting point of pypownet's solver at each reset
    bus_v0 = np.zeros((2, 2 * len(bus)))
    bus_v0[0, :len(bus)], bus_v0[1, :len(bus)] = bus[:, VM], np.deg2rad(bus[:, VA])
    row_of_id = {int(b): i for i, b in enumerate(bus[:, BUS_I])}
    for sister, original in sisters.items():
        vm, va = file_v[sister]
        bus_v0[:, len(bus) + row_of_id[original]] = vm, np.deg2rad(va)
    row_of = {int(b): i for i, b in enumerate(bus[:, BUS_I])}
    for table, cols, what in ((gen, (GEN_BUS,), "gen"), (branch, (F_BUS, T_BUS), "branch")):
        for col in cols:
            unknown = sorted(set(table[:, col].astype(np.int64).tolist()) - set(row_of))
            if unknown:
                raise UnsupportedGridError(f"{path}: mpc.{what} refers to buses {unknown} that "
                                           "mpc.bus does not define")
    isolated = (bus[:, BUS_TYPE] == 4)
    if isolated.any():
        logger.info("%s: %d isolated (type 4) buses are made PQ buses (pypownet recomputes bus "
                    "types at each step)", path.name, int(isolated.sum()))
        bus[isolated, BUS_TYPE] = 1
    off = gen[:, GEN_STATUS] <= 0
    if off.any():
        logger.info("%s: %d productions with status 0 are switched on (pypownet switches every "
                    "production on at each step; a voltage <= 0 in the chronic switches it off)",
                    path.name, int(off.sum()))
        gen[off, GEN_STATUS] = 1
    no_kv = bus[:, BASE_KV] == 0
    if no_kv.any():
        kv = 1.0 if base_kv is None else float(base_kv)
        log = logger.warning if base_kv is None else logger.info
        log("%s: %d buses have baseKV = 0 (per-unit only, as MATPOWER allows): they use %g kV "
            "for ampere flows and limits%s", path.name, int(no_kv.sum()), kv,
            " (pass base_kv=... to read_matpower/load_grid to give their real voltage)"
            if base_kv is None else "")
        bus[no_kv, BASE_KV] = kv
    # 0-based bus rows everywhere
    gen[:, GEN_BUS] = [row_of[int(b)] for b in gen[:, GEN_BUS]]
    branch[:, F_BUS] = [row_of[int(b)] for b in branch[:, F_BUS]]
    branch[:, T_BUS] = [row_of[int(b)] for b in branch[:, T_BUS]]
    loads = [(row_of[b], p, q) for b, p, q in loads]
    ref = int(np.flatnonzero(bus[:, BUS_TYPE] == 3)[0])
    on_ref = np.flatnonzero(gen[:, GEN_BUS] == ref)
    if on_ref.size == 0:
        raise UnsupportedGridError(f"cannot use MATPOWER file {path}: the reference bus "
                                   f"{int(mpc['bus'][ref, BUS_I])} holds no mpc.gen row")
    import warnings

    with warnings.catch_warnings():  # pandapower's own dtype FutureWarnings are not ours to show
        warnings.simplefilter("ignore", FutureWarning)
        net, prods, load_idx, branches = build_net(path.stem, mpc["baseMVA"], f_hz, bus, gen,
                                                   branch, loads, int(on_ref[0]))
    net[SOURCE_KEY] = {"file": str(path), "gen": prods, "load": load_idx, "branch": branches,
                       "branch_rows": branch, "branch_g": mpc["branch_g"], "bus_v0": bus_v0}
    logger.info("%s: %d buses, %d productions, %d loads, %d branches", path.name, len(net.bus),
                len(gen), len(loads), len(branch))
    return net


def matpower_source(net) -> dict | None:
    """The MATPOWER file a net was read from (see :func:`read_matpower`), or None."""
    return net.get(SOURCE_KEY) if hasattr(net, "get") else None


def pypownet_column_order(net, grid: GridArrays) -> ColumnOrder:
    """Map the file order of productions, loads and lines onto ``grid`` (built from ``net``).

    Nets not read by :func:`read_matpower` have no file order: the grid order is used.

    Raises:
        UnsupportedGridError: if some file element has no counterpart in the grid.
    """
    source = matpower_source(net)
    if source is None:
        return ColumnOrder.identity(grid)
    gen_pos = {(t, int(e)): j for j, (t, e) in enumerate(source["gen"])}
    br_pos = {(t, int(e)): j for j, (t, e) in enumerate(source["branch"])}
    load_pos = {int(e): j for j, e in enumerate(source["load"])}
    try:
        prod = [gen_pos[(str(t), int(i))] for t, i in zip(grid.prod_pp_table, grid.prod_pp_idx)]
        load = [load_pos[int(i)] for i in grid.load_pp_idx]
        line = [br_pos[("trafo" if k == BRANCH_TRAFO else "line", int(i))]
                for k, i in zip(grid.line_kind, grid.line_pp_idx)]
    except KeyError as exc:
        raise UnsupportedGridError(f"grid element {exc} does not come from the MATPOWER file") \
            from None
    sizes = {"productions (gen rows)": (len(prod), len(gen_pos)),
             "loads (buses with Pd or Qd)": (len(load), len(load_pos)),
             "lines (branch rows)": (len(line), len(br_pos))}
    for what, (have, want) in sizes.items():
        if have != want:
            raise UnsupportedGridError(
                f"the MATPOWER file has {want} {what} but the grid model has {have}: the net was "
                "modified after reading")
    return ColumnOrder(np.asarray(prod, dtype=np.int64), np.asarray(load, dtype=np.int64),
                       np.asarray(line, dtype=np.int64))


# ---------------------------------------------------------------------- writing
def _fmt(x: float) -> str:
    if math.isnan(x):
        return "0"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def _rate_mva(limit_a: float, vn_kv: float) -> float:
    """``rateA`` (MVA) that reads back as exactly ``limit_a`` (A) at ``vn_kv`` (inf: 0)."""
    if not math.isfinite(limit_a):
        return 0.0
    def forward(rate: float) -> float:
        return float(limit_a_of(rate, vn_kv))

    return exact_preimage(float(limit_a), forward, limit_a * vn_kv * math.sqrt(3) / 1e3)


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
    gs, bs = ([exact_preimage(float(y), lambda v: v / sn, float(y) * sn) for y in part]
              for part in (grid.sub_shunt_y_pu.real, grid.sub_shunt_y_pu.imag))
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
    n_pq = int(np.sum(grid.prod_kind == PROD_PQ))
    if n_pq:
        logger.warning("%d PQ productions (pandapower sgen) are written as gen rows: MATPOWER has "
                       "no PQ generator and pypownet (and read_matpower) make them PV productions "
                       "holding their bus voltage", n_pq)
    pmax = np.where(np.isfinite(grid.prod_p_max_mw), grid.prod_p_max_mw, _BIG)
    gen_rows = [[grid.prod_sub_idx[i] + 1, grid.prod_p_mw[i], grid.prod_q_mvar[i], _BIG, -_BIG,
                 grid.prod_vm_pu[i], sn, 1, pmax[i], 0] + [0] * 11 for i in range(grid.n_prod)]
    trafo = grid.line_kind == BRANCH_TRAFO
    rate = [_rate_mva(a, kv) for a, kv in zip(grid.line_limit_or_a, grid.line_vn_or_kv)]
    ratio = np.where(trafo | (grid.line_tap != 1.0), grid.line_tap, 0.0)
    shift = [exact_preimage(float(a), lambda d: float(shift_rad(d)), math.degrees(a))
             for a in grid.line_shift_rad]
    branch_rows = [[grid.line_sub_or_idx[k] + 1, grid.line_sub_ex_idx[k] + 1, grid.line_r_pu[k],
                    grid.line_x_pu[k], grid.line_b_pu[k], rate[k], rate[k], rate[k], ratio[k],
                    shift[k], int(grid.line_in_service[k]), -360, 360]
                   for k in range(grid.n_line)]
    extra = ""
    if np.any(grid.line_g_pu != 0):
        logger.warning("%d branches have a shunt conductance (pandapower's transformer model): "
                       "written to mpc.%s, which gym_powergrid reads and MATPOWER and pypownet "
                       "ignore", int(np.sum(grid.line_g_pu != 0)), BRANCH_G_FIELD)
        extra = ("\n%% total shunt conductance of each branch's pi model (p.u.), read by "
                 "gym_powergrid only\n" + f"mpc.{BRANCH_G_FIELD} = [\n"
                 + "".join(f"\t{_fmt(v)};\n" for v in grid.line_g_pu) + "];\n")
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
        + extra
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    load_col = np.empty(grid.n_load, dtype=np.int64)
    load_col[np.argsort(grid.load_sub_idx, kind="stable")] = np.arange(grid.n_load)
    return ColumnOrder(np.arange(grid.n_prod), load_col, np.arange(grid.n_line))
