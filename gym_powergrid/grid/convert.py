"""One-way converter: pandapower net -> :class:`GridArrays`.

Unsupported elements are refused by name before anything is converted. Branch parameters are
taken from pandapower's own internal model (``_pd2ppc``) so that the fast core sees exactly the
admittances ``pandapower.runpp`` uses. The user's net is never modified (we work on a deep copy).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path

import numpy as np

from ..errors import UnsupportedGridError
from .arrays import BRANCH_LINE, BRANCH_TRAFO, PROD_PQ, PROD_PV, PROD_SLACK, GridArrays
from .matpower import matpower_source
from .matpower_model import branch_arrays

logger = logging.getLogger(__name__)

#: pandapower tables the fast core cannot model, with what to do about them.
UNSUPPORTED_TABLES: dict[str, str] = {
    "trafo3w": "replace each three-winding transformer by three two-winding transformers "
    "and an auxiliary star bus",
    "impedance": "replace each impedance by an equivalent line (r, x in ohm)",
    "ward": "replace wards by a load plus a shunt on the same bus",
    "xward": "replace extended wards by a load, a shunt and a generator",
    "dcline": "model the DC line as a load at one end and a static generator at the other",
    "storage": "model storage as a load (charging) or a static generator (discharging)",
    "motor": "model the motor as a constant-power load",
    "asymmetric_load": "use the balanced 'load' table",
    "asymmetric_sgen": "use the balanced 'sgen' table",
    "svc": "remove the static VAR compensator or replace it by a shunt",
    "tcsc": "remove the thyristor-controlled series capacitor or replace it by a line",
    "ssc": "remove the static synchronous compensator",
    "vsc": "remove the voltage source converter",
    "bus_dc": "remove the DC buses",
    "line_dc": "remove the DC lines",
}


def _non_empty(net, table: str) -> bool:
    return table in net and hasattr(net[table], "__len__") and len(net[table]) > 0


def check_supported(net) -> None:
    """Raise :class:`UnsupportedGridError` naming every unsupported part of ``net``.

    Nothing is converted before this check passes.
    """
    problems: list[str] = []
    for table, fix in UNSUPPORTED_TABLES.items():
        if _non_empty(net, table) and bool(np.any(net[table].get("in_service", True))):
            problems.append(f"table '{table}' has {len(net[table])} row(s): {fix}")
    if _non_empty(net, "switch"):
        sw = net.switch
        changing = (sw.et == "b") | (~sw.closed.astype(bool))
        if changing.any():
            problems.append(
                f"table 'switch' has {int(changing.sum())} bus-bus or open switch(es) that change "
                "connectivity: fuse the buses of closed bus-bus switches and set elements behind "
                "open switches out of service (pandapower.toolbox.fuse_buses / drop_elements)"
            )
    ext = net.ext_grid[net.ext_grid.in_service.astype(bool)] if "ext_grid" in net else []
    if len(ext) != 1:
        problems.append(
            f"the net has {len(ext)} in-service ext_grid(s); exactly one is needed as the slack: "
            "keep one ext_grid and turn the others into 'gen' rows"
        )
    if _non_empty(net, "gen") and "slack" in net.gen and net.gen.slack.astype(bool).any():
        problems.append("table 'gen' has slack=True rows: use an ext_grid as the single slack")
    if _non_empty(net, "load"):
        ld = net.load[net.load.in_service.astype(bool)]
        for col in ("const_z_percent", "const_i_percent", "const_z_p_percent", "const_i_p_percent",
                    "const_z_q_percent", "const_i_q_percent"):
            if col in ld and (ld[col].fillna(0) != 0).any():
                problems.append(
                    f"table 'load' column '{col}' is non-zero: only constant-power loads are "
                    "supported, set it to 0"
                )
    if _non_empty(net, "bus") and (~net.bus.in_service.astype(bool)).any():
        problems.append(
            "table 'bus' has out-of-service buses: drop them with "
            "pandapower.toolbox.drop_out_of_service_elements(net)"
        )
    if problems:
        raise UnsupportedGridError(
            "this pandapower net cannot be converted to gym_powergrid's fast model:\n  - "
            + "\n  - ".join(problems)
        )


def _ppc_of(net):
    """Return pandapower's internal ppc of a (copied) net, as ``runpp`` would build it."""
    from pandapower.auxiliary import _init_runpp_options
    from pandapower.pd2ppc import _pd2ppc

    _init_runpp_options(
        net, algorithm="nr", calculate_voltage_angles=True, init="flat", max_iteration="auto",
        tolerance_mva=1e-8, trafo_model="t", trafo_loading="current", enforce_p_lims=False,
        enforce_q_lims=False, check_connectivity=False, voltage_depend_loads=False,
        numba=False,  # only the ppc is needed: skip pandapower's JIT warm-up
    )
    ppc, _ = _pd2ppc(net)
    return ppc, net._pd2ppc_lookups


def _names(df, prefix: str) -> np.ndarray:
    out = []
    for idx, name in zip(df.index, df["name"] if "name" in df else [None] * len(df)):
        if name is None or (isinstance(name, float) and math.isnan(name)) or str(name) == "":
            out.append(f"{prefix}_{idx}")
        else:
            out.append(str(name))
    return np.array(out, dtype=object)


def _geo(net) -> np.ndarray:
    xy = np.full((len(net.bus), 2), np.nan)
    if "geo" in net.bus:
        for i, g in enumerate(net.bus.geo.values):
            if isinstance(g, str) and g:
                try:
                    xy[i] = json.loads(g)["coordinates"][:2]
                except (ValueError, KeyError, TypeError):
                    pass
    elif "bus_geodata" in net and len(net.bus_geodata):
        gd = net.bus_geodata.reindex(net.bus.index)
        xy[:, 0] = gd.x.values
        xy[:, 1] = gd.y.values
    return xy


def _source_order(source: dict | None, key: str, elements: list[tuple[str, int]]) -> np.ndarray:
    """Permutation putting ``elements`` (``(table, index)`` in pandapower order) in file order.

    A net read from a MATPOWER file by :func:`~gym_powergrid.grid.matpower.read_matpower`
    remembers the element of each ``gen`` and ``branch`` row: productions and lines then follow
    the file (transformers included), as in pypownet. Other nets keep pandapower's table order.
    """
    if source is None:
        return np.arange(len(elements))
    pos = {(str(t), int(i)): j for j, (t, i) in enumerate(elements)}
    try:
        order = np.array([pos[(str(t), int(e))] for t, e in source[key]], dtype=np.int64)
    except KeyError as exc:
        raise UnsupportedGridError(f"the net's MATPOWER {key} rows name {exc}, which is not an "
                                   "in-service element: the net was modified after reading"
                                   ) from None
    if order.size != len(elements) or np.unique(order).size != order.size:
        raise UnsupportedGridError(
            f"the net's MATPOWER source has {order.size} {key} rows but the net has "
            f"{len(elements)} such elements: the net was modified after reading")
    return order


def _usable_source(net, source: dict | None) -> dict | None:
    """The net's MATPOWER source if the net still has the elements it names, else None."""
    if source is None:
        return None
    problem = None
    ends = {"line": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus")}
    rows = source["branch_rows"]
    n_prod = sum(int(net[t].in_service.astype(bool).sum()) for t in ("ext_grid", "gen", "sgen")
                 if t in net)
    if n_prod != len(source["gen"]) or len(net.line) + len(net.trafo) != len(source["branch"]):
        problem = "elements were added or removed"
    else:
        for k, (t, i) in enumerate(source["branch"]):
            if i not in net[t].index or (int(net[t].at[i, ends[t][0]]),
                                         int(net[t].at[i, ends[t][1]])) != (int(rows[k, 0]),
                                                                            int(rows[k, 1])):
                problem = f"branch row {k + 1} ({t} {i}) was moved or removed"
                break
        for k, (t, i) in enumerate(source["gen"]):
            if problem is None and (i not in net[t].index or not net[t].at[i, "in_service"]):
                problem = f"gen row {k + 1} ({t} {i}) was removed or switched off"
    if problem is None:
        return source
    logger.warning("%s: the net was changed after read_matpower (%s): it is converted as a "
                   "pandapower net (pandapower's element order and branch model)",
                   Path(source["file"]).name, problem)
    return None


def _matpower_branches(source: dict, vn_kv: np.ndarray, pp_fields: dict) -> dict:
    """Branch fields of the file rows (MATPOWER's model), where the net still holds them.

    ``pp_fields`` are the same fields from pandapower's model of the net, in file order. A row
    pandapower cannot reproduce (a transformer with a shunt or a negative reactance) keeps
    MATPOWER's model (logged: the pandapower oracle solves pandapower's). A row whose net
    element was edited after reading (impedance, status, a line's ``max_i_ka``) takes the net's
    values.
    """
    rows = source["branch_rows"]
    fields = branch_arrays(rows, source["branch_g"], vn_kv)
    keys = ("line_y_ff", "line_y_ft", "line_y_tf", "line_y_tt")
    ours, theirs = (np.stack([f[k] for k in keys]) for f in (fields, pp_fields))
    off = (np.abs(ours - theirs) > 1e-9 * np.abs(ours) + 1e-12).any(axis=0)
    trafo = np.array([t == "trafo" for t, _ in source["branch"]])
    unrepresentable = trafo & ((rows[:, 4] != 0) | (source["branch_g"] != 0) | (rows[:, 3] < 0))
    lim_pp, lim_mp = pp_fields["line_limit_or_a"], fields["line_limit_or_a"]
    limit_edited = np.isfinite(lim_mp) & (np.abs(lim_pp - lim_mp) > 1e-9 * lim_mp)
    limit_edited |= ~np.isfinite(lim_mp) & (lim_pp < 9e7)  # rateA = 0: 99999 kA in the net
    limit_edited &= ~trafo  # a trafo's limit in the net is its sn_mva (baseMVA), not rateA
    edited = (off & ~unrepresentable) | limit_edited | \
        (pp_fields["line_in_service"] != fields["line_in_service"])
    name = Path(source["file"]).name

    def shown(mask: np.ndarray) -> list:
        k = np.flatnonzero(mask) + 1
        return k[:10].tolist() + (["..."] if k.size > 10 else [])

    if (off & unrepresentable).any():
        logger.warning(
            "%s: pandapower's model of branch rows %s differs from MATPOWER's (transformers "
            "with a shunt or a negative reactance): the grid uses MATPOWER's, the pandapower "
            "oracle backend solves pandapower's", name, shown(off & unrepresentable))
    if edited.any():
        logger.info("%s: branch rows %s were edited in the net after reading: the net's values "
                    "are used", name, shown(edited))
        for key, value in fields.items():
            value[edited] = pp_fields[key][edited]
    return fields


def from_pandapower(net, name: str | None = None) -> GridArrays:
    """Convert a pandapower net into :class:`GridArrays`.

    Args:
        net: a ``pandapowerNet``. It is not modified.
        name: a name for the grid (defaults to ``net.name`` or ``"grid"``).

    Raises:
        UnsupportedGridError: if the net holds elements the fast core cannot model; the message
            lists every problem and how to fix it.
    """
    check_supported(net)
    work = copy.deepcopy(net)
    from pandapower.pypower.idx_brch import (
        BR_B,
        BR_G,
        BR_R,
        BR_STATUS,
        BR_X,
        SHIFT,
        TAP,
    )
    from pandapower.pypower.idx_bus import BS, GS
    from pandapower.pypower.makeYbus import branch_vectors

    ppc, lookups = _ppc_of(work)
    bus_lookup = np.asarray(lookups["bus"])
    pp_bus = net.bus.index.to_numpy()
    n_sub = len(pp_bus)
    ppc_bus = bus_lookup[pp_bus]
    if len(np.unique(ppc_bus)) != n_sub:  # pragma: no cover - guarded by check_supported
        raise UnsupportedGridError("pandapower fused some buses; remove bus-bus switches")
    sub_of_pp_bus = {int(b): i for i, b in enumerate(pp_bus)}
    sn = float(net.sn_mva)

    def subs(col) -> np.ndarray:
        return np.array([sub_of_pp_bus[int(b)] for b in col], dtype=np.int64)

    # ---- substations
    bus_tab = ppc["bus"]
    sub_shunt = (bus_tab[ppc_bus, GS] + 1j * bus_tab[ppc_bus, BS]) / sn
    sub_vn = net.bus.vn_kv.to_numpy(dtype=np.float64)

    # ---- branches from pandapower's ppc (exact same model as runpp)
    branch = ppc["branch"].copy()
    rows, kinds, pp_idx, sub_or, sub_ex, names, lim_or, lim_ex = [], [], [], [], [], [], [], []
    if len(net.line):
        start, end = lookups["branch"]["line"]
        rows.append(np.arange(start, end))
        kinds.append(np.full(end - start, BRANCH_LINE, dtype=np.int8))
        pp_idx.append(net.line.index.to_numpy())
        sub_or.append(subs(net.line.from_bus))
        sub_ex.append(subs(net.line.to_bus))
        names.append(_names(net.line, "line"))
        i_a = (net.line.max_i_ka * net.line.df * net.line.parallel).to_numpy(float) * 1e3
        lim_or.append(i_a)
        lim_ex.append(i_a)
    if len(net.trafo):
        start, end = lookups["branch"]["trafo"]
        rows.append(np.arange(start, end))
        kinds.append(np.full(end - start, BRANCH_TRAFO, dtype=np.int8))
        pp_idx.append(net.trafo.index.to_numpy())
        sub_or.append(subs(net.trafo.hv_bus))
        sub_ex.append(subs(net.trafo.lv_bus))
        names.append(_names(net.trafo, "trafo"))
        t = net.trafo
        rated = (t.sn_mva * t.parallel).to_numpy(float)
        lim_or.append(rated / (math.sqrt(3) * t.vn_hv_kv.to_numpy(float)) * 1e3)
        lim_ex.append(rated / (math.sqrt(3) * t.vn_lv_kv.to_numpy(float)) * 1e3)
    if not rows:
        raise UnsupportedGridError("the net has no line and no trafo: nothing to simulate")
    kinds, pp_idx = np.concatenate(kinds), np.concatenate(pp_idx).astype(np.int64)
    source = _usable_source(net, matpower_source(net))
    order = _source_order(source, "branch", [("trafo" if k == BRANCH_TRAFO else "line", i)
                                             for k, i in zip(kinds, pp_idx)])
    rows = np.concatenate(rows)[order]
    kinds, pp_idx, names = kinds[order], pp_idx[order], np.concatenate(names)[order]
    line_sub_or, line_sub_ex = np.concatenate(sub_or)[order], np.concatenate(sub_ex)[order]
    lim_or, lim_ex = np.concatenate(lim_or)[order], np.concatenate(lim_ex)[order]
    br = branch[rows].copy()
    in_service = br[:, BR_STATUS].real > 0
    br[:, BR_STATUS] = 1.0  # admittances of every branch, whatever its initial status
    y_tt, y_ff, y_ft, y_tf = branch_vectors(br, br.shape[0])
    tap = br[:, TAP].real.copy()
    tap[tap == 0] = 1.0
    branches = {
        "line_sub_or_idx": line_sub_or, "line_sub_ex_idx": line_sub_ex,
        "line_r_pu": br[:, BR_R].real.copy(), "line_x_pu": br[:, BR_X].real.copy(),
        "line_g_pu": br[:, BR_G].real.copy(), "line_b_pu": br[:, BR_B].real.copy(),
        "line_tap": tap, "line_shift_rad": np.deg2rad(br[:, SHIFT].real),
        "line_y_ff": y_ff, "line_y_ft": y_ft, "line_y_tf": y_tf, "line_y_tt": y_tt,
        "line_in_service": in_service,
        "line_vn_or_kv": sub_vn[line_sub_or], "line_vn_ex_kv": sub_vn[line_sub_ex],
        "line_limit_or_a": lim_or, "line_limit_ex_a": lim_ex,
    }
    if source is not None:
        branches = _matpower_branches(source, sub_vn, branches)
    for key in ("line_y_ff", "line_y_ft", "line_y_tf", "line_y_tt"):
        branches[key] = np.ascontiguousarray(branches[key], dtype=np.complex128)

    # ---- productions: slack, PV gens, PQ sgens (in-service rows only)
    ext = net.ext_grid[net.ext_grid.in_service.astype(bool)]
    gen = net.gen[net.gen.in_service.astype(bool)] if len(net.gen) else net.gen
    sgen = net.sgen[net.sgen.in_service.astype(bool)] if len(net.sgen) else net.sgen
    dropped = (len(net.gen) - len(gen)) + (len(net.sgen) - len(sgen))
    if dropped:
        logger.info("%d out-of-service gen/sgen rows are not part of the grid model", dropped)
    n_ext, n_gen, n_sgen = len(ext), len(gen), len(sgen)

    def col(df, name, default):
        return df[name].fillna(default).to_numpy(float) if name in df else np.full(len(df), default)

    gen_scale = col(gen, "scaling", 1.0)
    sgen_scale = col(sgen, "scaling", 1.0)
    prod_p = np.concatenate([np.zeros(n_ext), col(gen, "p_mw", 0) * gen_scale,
                             col(sgen, "p_mw", 0) * sgen_scale])
    prod_q = np.concatenate([np.zeros(n_ext + n_gen), col(sgen, "q_mvar", 0) * sgen_scale])
    prod_vm = np.concatenate([col(ext, "vm_pu", 1.0), col(gen, "vm_pu", 1.0), np.ones(n_sgen)])
    pmax = np.concatenate([col(ext, "max_p_mw", np.nan), col(gen, "max_p_mw", np.nan),
                           col(sgen, "max_p_mw", np.nan)])
    prod_kind = np.concatenate([np.full(n_ext, PROD_SLACK), np.full(n_gen, PROD_PV),
                                np.full(n_sgen, PROD_PQ)]).astype(np.int8)
    prod_sub = np.concatenate([subs(ext.bus), subs(gen.bus), subs(sgen.bus)]).astype(np.int64)
    prod_table = np.array(["ext_grid"] * n_ext + ["gen"] * n_gen + ["sgen"] * n_sgen, dtype=object)
    prod_pp = np.concatenate([ext.index.to_numpy(), gen.index.to_numpy(),
                              sgen.index.to_numpy()]).astype(np.int64)
    prod_names = np.concatenate([_names(ext, "ext_grid"), _names(gen, "gen"),
                                 _names(sgen, "sgen")])
    p_order = _source_order(source, "gen", list(zip(prod_table, prod_pp)))
    prod_p, prod_q, prod_vm, pmax, prod_kind, prod_sub, prod_table, prod_pp, prod_names = (
        a[p_order] for a in (prod_p, prod_q, prod_vm, pmax, prod_kind, prod_sub, prod_table,
                             prod_pp, prod_names))

    # PV productions on the slack's bus would fight the slack; pandapower treats that bus as the
    # reference. Keep the same semantics: voltage of that bus is the slack's.
    load = net.load[net.load.in_service.astype(bool)] if len(net.load) else net.load
    if len(load) != len(net.load):
        logger.info("%d out-of-service loads are not part of the grid model",
                    len(net.load) - len(load))
    load_scale = col(load, "scaling", 1.0)

    extra = {}
    if source is not None and "bus_v0" in source:
        v0 = np.asarray(source["bus_v0"], dtype=np.float64)
        n_rows = v0.shape[1] // 2
        if len(pp_bus) == n_rows and (np.sort(pp_bus) == np.arange(n_rows)).all():
            extra["bus_v0"] = np.concatenate([v0[:, pp_bus], v0[:, n_rows + pp_bus]], axis=1)
    return GridArrays(
        extra=extra,
        name=str(name or getattr(net, "name", "") or "grid"),
        sn_mva=sn,
        f_hz=float(getattr(net, "f_hz", 50.0)),
        sub_name=_names(net.bus, "bus"),
        sub_pp_idx=pp_bus.astype(np.int64),
        sub_vn_kv=sub_vn,
        sub_shunt_y_pu=sub_shunt.astype(np.complex128),
        sub_geo_xy=_geo(net),
        prod_name=prod_names,
        prod_sub_idx=prod_sub,
        prod_kind=prod_kind,
        prod_pp_table=prod_table,
        prod_pp_idx=prod_pp,
        prod_p_mw=prod_p,
        prod_q_mvar=prod_q,
        prod_vm_pu=prod_vm,
        prod_p_max_mw=pmax,
        slack_va_rad=float(np.deg2rad(ext.va_degree.iloc[0])),
        load_name=_names(load, "load"),
        load_sub_idx=subs(load.bus),
        load_pp_idx=load.index.to_numpy().astype(np.int64),
        load_p_mw=col(load, "p_mw", 0) * load_scale,
        load_q_mvar=col(load, "q_mvar", 0) * load_scale,
        line_name=names,
        line_kind=kinds,
        line_pp_idx=pp_idx,
        **branches,
    )
