"""MATPOWER's own branch model, and the pandapower net that carries a MATPOWER case.

Branch equations (MATPOWER's ``makeYbus``, also PYPOWER's and pypownet's): an ideal transformer
of complex ratio ``t = ratio * exp(j * shift)`` on the **from** side (``ratio = 0`` means 1), then a
pi section of series admittance ``ys = 1 / (r + j x)`` and total shunt ``g + j b``::

    y_tt = ys + (g + j b) / 2      y_ff = y_tt / |t|^2      y_ft = -ys / conj(t)      y_tf = -ys / t

The branch keeps the file's orientation (origin = ``fbus``) whatever the buses' voltages. MATPOWER
branches have no ``g``; a file written by :func:`~gym_powergrid.grid.matpower.write_matpower` may
carry one in the extra field ``mpc.gym_powergrid_branch_g`` (MATPOWER and pypownet ignore it).

Ampere limits: ``rateA`` (MVA) becomes ``rateA / (sqrt(3) * baseKV)`` at each end, with the end
bus's ``baseKV`` (``mpc.bus`` column 10); ``rateA = 0`` is MATPOWER's "unlimited" (``inf``).

The pandapower net (:func:`build_net`) is what the pandapower oracle backend solves: one ``line``
per branch without ratio or shift between buses of equal ``baseKV``, else one ``trafo`` whose
high-voltage side is ``fbus`` (the tap on that side). pandapower can then reproduce every branch
exactly except transformers with a shunt (``b`` or ``g``: pandapower's magnetising admittance is
inductive and has another model) and transformers with a negative reactance;
:func:`~gym_powergrid.grid.convert.from_pandapower` logs those rows.
"""

from __future__ import annotations

import logging
import math

import numpy as np

logger = logging.getLogger(__name__)

# MATPOWER column indices (0-based)
BUS_I, BUS_TYPE, PD, QD, GS, BS, VM, VA, BASE_KV, VMAX, VMIN = 0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12
GEN_BUS, PG, QG, QMAX, QMIN, VG, GEN_STATUS, PMAX, PMIN = 0, 1, 2, 3, 4, 5, 7, 8, 9
F_BUS, T_BUS, BR_R, BR_X, BR_B, RATE_A, TAP, SHIFT, BR_STATUS = 0, 1, 2, 3, 4, 5, 8, 9, 10
#: extra ``mpc`` field holding each branch's total shunt conductance (p.u.), written by us
BRANCH_G_FIELD = "gym_powergrid_branch_g"
#: key of the net's MATPOWER source (file orders and branch rows)
SOURCE_KEY = "gym_powergrid_matpower"
_BIG_KA = 99999.0  # pandapower needs a finite max_i_ka; the grid uses inf ("unlimited")


def is_transformer(branch: np.ndarray, vn_f: np.ndarray, vn_t: np.ndarray) -> np.ndarray:
    """Rows modelled as transformers: a ratio, a shift, or ends of different ``baseKV``."""
    return (branch[:, TAP] != 0) | (branch[:, SHIFT] != 0) | (vn_f != vn_t)


def pi_admittances(r, x, g, b, tap, shift_rad) -> tuple[np.ndarray, ...]:
    """``(y_ff, y_ft, y_tf, y_tt)`` of MATPOWER's branch model (``tap`` already 1 for lines)."""
    ys = 1.0 / (np.asarray(r, float) + 1j * np.asarray(x, float))
    t = np.asarray(tap, float) * np.exp(1j * np.asarray(shift_rad, float))
    y_tt = ys + (np.asarray(g, float) + 1j * np.asarray(b, float)) / 2
    return y_tt / (t * np.conj(t)), -ys / np.conj(t), -ys / t, y_tt


def shift_rad(shift_deg: np.ndarray) -> np.ndarray:
    """MATPOWER's shift (degrees) in radians, as ``makeYbus`` converts it (``pi / 180 * deg``)."""
    return math.pi / 180 * np.asarray(shift_deg, float)


def limit_a(rate_mva: np.ndarray, vn_kv: np.ndarray) -> np.ndarray:
    """Ampere limit of ``rateA`` at an end of voltage ``vn_kv`` (``rateA = 0``: ``inf``)."""
    rate = np.asarray(rate_mva, float)
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, rate / (math.sqrt(3) * np.asarray(vn_kv, float)) * 1e3, np.inf)


def branch_arrays(rows: np.ndarray, g: np.ndarray, vn_kv: np.ndarray) -> dict[str, np.ndarray]:
    """:class:`GridArrays` branch fields of MATPOWER ``branch`` rows (buses as 0-based rows)."""
    f = rows[:, F_BUS].astype(np.int64)
    t = rows[:, T_BUS].astype(np.int64)
    tap = np.where(rows[:, TAP] == 0, 1.0, rows[:, TAP])
    shift = shift_rad(rows[:, SHIFT])
    y_ff, y_ft, y_tf, y_tt = pi_admittances(rows[:, BR_R], rows[:, BR_X], g, rows[:, BR_B], tap,
                                            shift)
    return {
        "line_sub_or_idx": f, "line_sub_ex_idx": t,
        "line_r_pu": rows[:, BR_R].copy(), "line_x_pu": rows[:, BR_X].copy(),
        "line_g_pu": np.asarray(g, float).copy(), "line_b_pu": rows[:, BR_B].copy(),
        "line_tap": tap, "line_shift_rad": shift,
        "line_y_ff": y_ff, "line_y_ft": y_ft, "line_y_tf": y_tf, "line_y_tt": y_tt,
        "line_in_service": rows[:, BR_STATUS] > 0,
        "line_vn_or_kv": vn_kv[f], "line_vn_ex_kv": vn_kv[t],
        "line_limit_or_a": limit_a(rows[:, RATE_A], vn_kv[f]),
        "line_limit_ex_a": limit_a(rows[:, RATE_A], vn_kv[t]),
    }


def exact_preimage(target: float, forward, guess: float) -> float:
    """A float ``v`` near ``guess`` with ``forward(v) == target`` (``guess`` if none is found).

    The writer uses it so that reading a written file back gives bit-identical values (e.g. a
    shift written in degrees and read back in radians).
    """
    if not math.isfinite(guess) or forward(guess) == target:
        return guess
    lo = hi = guess
    for _ in range(8):
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
        for v in (lo, hi):
            if forward(v) == target:
                return v
    return guess


def build_net(name: str, sn_mva: float, f_hz: float, bus: np.ndarray, gen: np.ndarray,
              branch: np.ndarray, loads: list[tuple[int, float, float]], slack_gen: int):
    """The pandapower net of a cleaned MATPOWER case (bus numbers already 0-based rows).

    Productions: an ``ext_grid`` for gen row ``slack_gen``, a ``gen`` for every other row, in row
    order. Loads in ``loads`` order. Branches in file order (lines and trafos, see module doc).
    Returns the net and, per gen row and branch row, the ``(table, index)`` created for it.
    """
    import pandapower as pp

    net = pp.create_empty_network(name=name, f_hz=f_hz, sn_mva=sn_mva)
    n_bus = bus.shape[0]
    vn = bus[:, BASE_KV]
    pp.create_buses(net, n_bus, vn_kv=vn, index=np.arange(n_bus), name=[f"bus_{i}" for i in
                                                                         range(n_bus)],
                    max_vm_pu=bus[:, VMAX], min_vm_pu=bus[:, VMIN])
    sh = np.flatnonzero((bus[:, GS] != 0) | (bus[:, BS] != 0))
    if sh.size:
        pp.create_shunts(net, buses=sh, p_mw=bus[sh, GS], q_mvar=-bus[sh, BS])
    gen_bus = gen[:, GEN_BUS].astype(np.int64)
    # MATPOWER: the voltage set-point of a bus is the Vg of its (last) generator row
    v_set = dict(zip(gen_bus.tolist(), gen[:, VG].tolist()))
    vm = np.array([v_set[b] for b in gen_bus.tolist()])
    row = gen[slack_gen]
    b = int(gen_bus[slack_gen])
    ext = pp.create_ext_grid(net, bus=b, vm_pu=vm[slack_gen], va_degree=float(bus[b, VA]),
                             max_p_mw=row[PMAX], min_p_mw=row[PMIN], max_q_mvar=row[QMAX],
                             min_q_mvar=row[QMIN])
    prods: list[tuple[str, int]] = [("ext_grid", int(ext))] * gen.shape[0]
    others = np.array([k for k in range(gen.shape[0]) if k != slack_gen], dtype=np.int64)
    if others.size:
        g = gen[others]
        idx = pp.create_gens(net, buses=gen_bus[others], p_mw=g[:, PG], vm_pu=vm[others],
                             max_p_mw=g[:, PMAX], min_p_mw=g[:, PMIN], max_q_mvar=g[:, QMAX],
                             min_q_mvar=g[:, QMIN])
        for k, i in zip(others, idx):
            prods[k] = ("gen", int(i))
    load_idx: list[int] = []
    if loads:
        lb, lp, lq = (np.array(v) for v in zip(*loads))
        load_idx = [int(i) for i in pp.create_loads(net, buses=lb.astype(np.int64), p_mw=lp,
                                                    q_mvar=lq)]
    f = branch[:, F_BUS].astype(np.int64)
    t = branch[:, T_BUS].astype(np.int64)
    trafo = is_transformer(branch, vn[f], vn[t])
    branches: list[tuple[str, int]] = [("", -1)] * branch.shape[0]
    lines = np.flatnonzero(~trafo)
    if lines.size:
        br, zb = branch[lines], vn[f[lines]] ** 2 / sn_mva
        rate = br[:, RATE_A]
        idx = pp.create_lines_from_parameters(
            net, from_buses=f[lines], to_buses=t[lines], length_km=1.0,
            r_ohm_per_km=br[:, BR_R] * zb, x_ohm_per_km=br[:, BR_X] * zb,
            c_nf_per_km=br[:, BR_B] / (zb * 2 * math.pi * f_hz) * 1e9,
            max_i_ka=np.where(rate > 0, rate / (math.sqrt(3) * vn[f[lines]]), _BIG_KA),
            in_service=br[:, BR_STATUS] > 0)
        for k, i in zip(lines, idx):
            branches[k] = ("line", int(i))
    trafos = np.flatnonzero(trafo)
    if trafos.size:
        br = branch[trafos]
        ratio = np.where(br[:, TAP] == 0, 1.0, br[:, TAP])
        idx = pp.create_transformers_from_parameters(
            net, hv_buses=f[trafos], lv_buses=t[trafos], sn_mva=sn_mva,
            vn_hv_kv=vn[f[trafos]], vn_lv_kv=vn[t[trafos]],
            vkr_percent=br[:, BR_R] * 100, vk_percent=np.abs(br[:, BR_R] + 1j * br[:, BR_X]) * 100,
            pfe_kw=0.0, i0_percent=0.0, shift_degree=br[:, SHIFT], tap_side="hv",
            tap_neutral=0, tap_min=-1, tap_max=1, tap_pos=1,
            tap_step_percent=(ratio - 1.0) * 100, tap_step_degree=0.0,
            tap_changer_type="Ratio", in_service=br[:, BR_STATUS] > 0)
        for k, i in zip(trafos, idx):
            branches[k] = ("trafo", int(i))
    return net, prods, load_idx, branches
