"""The numba power flow agrees with pandapower (``runpp`` / ``rundcpp``) on any valid topology.

Three opinions are compared on every topology: the numba core, the pandapower oracle
(:class:`PandapowerPowerFlow`) and, for connectivity, a scipy connected-components check
(:func:`strategies.slack_island_mask`). Every result is also checked for Kirchhoff's current law
at each busbar, which catches element-to-busbar mapping errors in either backend.
"""

from __future__ import annotations

import copy
import functools
import logging
import warnings

import numpy as np
import pandapower as pp
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import (
    CASES,
    describe,
    element_buses,
    load_case,
    random_topology,
    slack_island_mask,
    topologies,
)

from gym_powergrid.core.results import Injections, PowerFlowResult
from gym_powergrid.core.status import PFStatus
from gym_powergrid.grid import GridArrays, Topology, from_pandapower
from gym_powergrid.grid.pandapower_backend import PandapowerPowerFlow

logger = logging.getLogger(__name__)

#: random topologies (besides the reference) on which both backends must converge and agree
N_RANDOM = 50
#: give up drawing after this many topologies (some diverge in pandapower: case57 is stressed)
MAX_DRAWS = 200
SEEDS = {"case14": 14, "case30": 30, "case57": 57, "case118": 118, "case300": 300}

#: field -> (absolute tolerance, relative tolerance)
AC_TOL = {
    "bus_vm_pu": (1e-6, 0), "bus_va_rad": (1e-6, 0),
    "line_p_or_mw": (1e-4, 0), "line_p_ex_mw": (1e-4, 0),
    "line_q_or_mvar": (1e-4, 0), "line_q_ex_mvar": (1e-4, 0),
    "line_a_or": (1e-3, 1e-6), "line_a_ex": (1e-3, 1e-6),
    "line_v_or_pu": (1e-6, 0), "line_v_ex_pu": (1e-6, 0),
    "prod_p_mw": (1e-4, 0), "prod_q_mvar": (1e-4, 0), "prod_v_pu": (1e-6, 0),
    "load_p_mw": (1e-6, 0), "load_q_mvar": (1e-6, 0), "load_v_pu": (1e-6, 0),
}
DC_TOL = {
    "bus_vm_pu": (1e-9, 0), "bus_va_rad": (1e-6, 0),
    "line_p_or_mw": (1e-4, 0), "line_p_ex_mw": (1e-4, 0),
    "line_a_or": (1e-3, 1e-6), "line_a_ex": (1e-3, 1e-6),
    "line_v_or_pu": (1e-9, 0), "line_v_ex_pu": (1e-9, 0),
    "prod_p_mw": (1e-4, 0), "prod_v_pu": (1e-9, 0), "load_p_mw": (1e-6, 0), "load_v_pu": (1e-9, 0),
}
#: reactive power in a DC power flow: rundcpp reports 0 everywhere
DC_Q_FIELDS = ("prod_q_mvar", "load_q_mvar", "line_q_or_mvar", "line_q_ex_mvar")
MASKS = ("bus_energized_mask", "prod_cut_mask", "load_cut_mask")


# ---------------------------------------------------------------------------------- helpers
def differences(ours: PowerFlowResult, ref: PowerFlowResult, tol: dict) -> list[str]:
    """Every field where ``ours`` and ``ref`` disagree, with the worst index and both values."""
    out = []
    for name, (atol, rtol) in tol.items():
        a = np.asarray(getattr(ours, name), float)
        b = np.asarray(getattr(ref, name), float)
        if a.shape != b.shape:
            out.append(f"{name}: shape {a.shape} vs {b.shape}")
            continue
        excess = np.abs(a - b) - (atol + rtol * np.abs(b))
        if not np.isfinite(a).all():
            out.append(f"{name}: non-finite values at {np.flatnonzero(~np.isfinite(a)).tolist()}")
        elif (excess > 0).any():
            i = int(np.argmax(excess))
            out.append(f"{name}[{i}] numba {a[i]:.6g} vs pandapower {b[i]:.6g} "
                       f"(|diff| {abs(a[i] - b[i]):.3g}, {int((excess > 0).sum())} entries off)")
    for name in MASKS:
        a, b = np.asarray(getattr(ours, name)), np.asarray(getattr(ref, name))
        if a.shape != b.shape or not np.array_equal(a, b):
            bad = np.flatnonzero(a != b).tolist() if a.shape == b.shape else "shape"
            out.append(f"{name}: differs at {bad}")
    return out


def kcl_mismatch(grid: GridArrays, topo: Topology, r: PowerFlowResult, ac: bool) -> float:
    """Largest P (and, in AC, Q) imbalance in MW/Mvar over all busbars of a result."""
    prod_bus, load_bus, or_bus, ex_bus = element_buses(grid, topo)
    nb, ns = grid.n_bus, grid.n_sub

    def net_injection(prod, load, line_or, line_ex):
        return (np.bincount(prod_bus, prod, nb) - np.bincount(load_bus, load, nb)
                - np.bincount(or_bus, line_or, nb) - np.bincount(ex_bus, line_ex, nb))

    v2 = r.bus_vm_pu[:ns] ** 2 if ac else r.bus_energized_mask[:ns].astype(float)
    p = net_injection(r.prod_p_mw, r.load_p_mw, r.line_p_or_mw, r.line_p_ex_mw)
    p[:ns] -= grid.sub_shunt_y_pu.real * v2 * grid.sn_mva  # shunts consume G * V^2
    worst = float(np.abs(p).max())
    if ac:
        q = net_injection(r.prod_q_mvar, r.load_q_mvar, r.line_q_or_mvar, r.line_q_ex_mvar)
        q[:ns] += grid.sub_shunt_y_pu.imag * v2 * grid.sn_mva  # and produce B * V^2
        worst = max(worst, float(np.abs(q).max()))
    return worst


def sanity(grid: GridArrays, topo: Topology, r: PowerFlowResult, who: str, ac: bool) -> list[str]:
    """Backend-independent checks of one converged result: connectivity, KCL, no NaN."""
    out = []
    island = slack_island_mask(grid, topo)
    if not np.array_equal(r.bus_energized_mask, island):
        out.append(f"{who}: bus_energized_mask differs from the connected components at "
                   f"{np.flatnonzero(r.bus_energized_mask != island).tolist()}")
    mismatch = kcl_mismatch(grid, topo, r, ac)
    if not mismatch < 1e-5:
        out.append(f"{who}: Kirchhoff's current law violated by {mismatch:.3g} MW/Mvar")
    return out


@functools.cache
def _oracle(case: str) -> tuple:
    """``(net, grid, PandapowerPowerFlow)`` of a named case, built once per session."""
    net, grid = load_case(case)
    return net, grid, PandapowerPowerFlow(grid, net)


def _check_genuine(ref: PandapowerPowerFlow, topo: Topology, inj: Injections,
                   ours: PowerFlowResult) -> list[str]:
    """pandapower failed from a flat start but numba converged: is numba's answer a solution?"""
    ref.set_initial_voltages(ours.bus_vm_pu, ours.bus_va_rad)
    seeded = ref.run_ac(topo, inj, warm_start=True)
    if not seeded.converged:
        return [f"numba reports CONVERGED but pandapower cannot solve from numba's voltages "
                f"either ({seeded.status.name})"]
    if seeded.n_iter > 2:
        return [f"numba reports CONVERGED but its voltages are not a solution: pandapower "
                f"needed {seeded.n_iter} iterations from them"]
    return differences(ours, seeded, AC_TOL)


# ------------------------------------------------------------------------------ the oracle
@pytest.mark.parametrize("case", CASES)
def test_oracle_reference_topology_equals_plain_runpp(case: str) -> None:
    """The two-busbar pandapower net gives exactly plain ``runpp``/``rundcpp`` of the user net."""
    net, grid, ref = _oracle(case)
    plain = copy.deepcopy(net)
    topo, inj = Topology.reference(grid), Injections.reference(grid)
    for ac in (True, False):
        if ac:
            r = ref.run_ac(topo, inj, warm_start=False)
            pp.runpp(plain, calculate_voltage_angles=True, init="flat", tolerance_mva=1e-10,
                     trafo_model="t", enforce_q_lims=False, voltage_depend_loads=False,
                     numba=False)
        else:
            r = ref.run_dc(topo, inj)
            pp.rundcpp(plain, trafo_model="t", numba=False)
        assert r.converged
        np.testing.assert_allclose(r.bus_vm_pu[: grid.n_sub], plain.res_bus.vm_pu, atol=1e-9)
        np.testing.assert_allclose(r.bus_va_rad[: grid.n_sub],
                                   np.deg2rad(plain.res_bus.va_degree), atol=1e-9)
        assert not r.bus_energized_mask[grid.n_sub:].any()  # busbars 1 are empty
        n_l = len(plain.line)
        np.testing.assert_allclose(r.line_p_or_mw[:n_l], plain.res_line.p_from_mw, atol=1e-7)
        np.testing.assert_allclose(r.line_p_ex_mw[n_l:], plain.res_trafo.p_lv_mw, atol=1e-7)
        np.testing.assert_allclose(r.line_a_or[:n_l], plain.res_line.i_from_ka * 1e3, atol=1e-6)
        np.testing.assert_allclose(r.prod_p_mw[grid.slack_prod_idx],
                                   plain.res_ext_grid.p_mw.iloc[0], atol=1e-7)
        np.testing.assert_allclose(r.load_p_mw, plain.res_load.p_mw, atol=1e-9)
        assert sanity(grid, topo, r, "pandapower", ac) == []


def test_oracle_folds_scaling_like_the_converter() -> None:
    """Nets with ``scaling`` != 1 give the same answer through GridArrays and the oracle."""
    net, _ = load_case("case14")
    net = copy.deepcopy(net)
    net.load["scaling"] = 1.3
    net.gen["scaling"] = 0.8
    grid = from_pandapower(net)
    r = PandapowerPowerFlow(grid, net).run_ac(Topology.reference(grid),
                                              Injections.reference(grid), warm_start=False)
    pp.runpp(net, calculate_voltage_angles=True, init="flat", tolerance_mva=1e-10, numba=False)
    np.testing.assert_allclose(r.bus_vm_pu[: grid.n_sub], net.res_bus.vm_pu, atol=1e-9)
    np.testing.assert_allclose(r.load_p_mw, net.res_load.p_mw, atol=1e-9)
    np.testing.assert_allclose(r.prod_p_mw[1:5], net.res_gen.p_mw, atol=1e-9)


def test_oracle_never_modifies_the_user_net() -> None:
    net, _ = load_case("case30")
    net = copy.deepcopy(net)
    grid = from_pandapower(net)
    before = copy.deepcopy(net)
    ref = PandapowerPowerFlow(grid, net)
    rng = np.random.default_rng(0)
    ref.run_ac(random_topology(grid, rng), Injections.reference(grid))
    ref.run_dc(random_topology(grid, rng), Injections.reference(grid))
    for key in before.keys():
        old, new = before[key], net[key]
        if hasattr(old, "equals"):
            assert old.equals(new), f"net.{key} was modified"
    assert len(net.bus) == grid.n_sub


def test_oracle_warm_start_gives_the_flat_start_answer() -> None:
    net, grid = load_case("case118")
    ref = PandapowerPowerFlow(grid, net)
    inj = Injections.reference(grid)
    ref.run_ac(Topology.reference(grid), inj)
    topo = random_topology(grid, np.random.default_rng(3), max_outages=1)
    warm = ref.run_ac(topo, inj, warm_start=True)
    flat = ref.run_ac(topo, inj, warm_start=False)
    assert warm.converged and flat.converged
    assert differences(warm, flat, AC_TOL) == []


# ------------------------------------------------------------------- numba vs pandapower
def _report(where: str, diffs: list[str], res: PowerFlowResult | None = None) -> list[str]:
    """One line per topology: the first fields that differ (and numba's lowest |V|)."""
    if not diffs:
        return []
    extra = ""
    if res is not None and res.bus_energized_mask.any():
        extra = (f" [numba min |V| {res.bus_vm_pu[res.bus_energized_mask].min():.3g}, "
                 f"{res.n_iter} iterations]")
    more = f"; +{len(diffs) - 3} more" if len(diffs) > 3 else ""
    return [f"{where}{extra}: " + "; ".join(diffs[:3]) + more]


@pytest.mark.parametrize("case", CASES)
def test_ac_matches_runpp_on_random_topologies(case: str, numba_pf_class) -> None:
    """Reference + 50 random topologies on which pandapower converges: numba agrees.

    numba runs twice per topology: from a flat start, and warm-started from the previous
    topology's solution as an environment does step after step. pandapower starts flat.
    """
    net, grid, ref = _oracle(case)
    flat, warm = numba_pf_class(grid), numba_pf_class(grid)
    inj = Injections.reference(grid)
    rng = np.random.default_rng(SEEDS[case])
    problems: list[str] = []
    warm_failures: list[str] = []
    n_compared = n_draws = 0
    while n_compared < N_RANDOM + 1 and n_draws < MAX_DRAWS:
        topo = Topology.reference(grid) if n_draws == 0 else random_topology(grid, rng)
        n_draws += 1
        where = f"{case} #{n_draws - 1} ({describe(grid, topo)})"
        r_ref = ref.run_ac(topo, inj, warm_start=False)
        runs = {"flat start": flat.run_ac(topo, inj, warm_start=False),
                "warm start": warm.run_ac(topo, inj, warm_start=True)}
        if not r_ref.converged:  # no answer to compare with: numba must not invent one
            for how, r in runs.items():
                if r.converged:
                    problems += _report(f"{where} {how}", _check_genuine(ref, topo, inj, r), r)
            continue
        n_compared += 1
        for how, r in runs.items():
            if not r.converged:
                if how == "warm start":  # refresh the warm state, as a reset would
                    warm_failures.append(f"{where}: {r.status.name}")
                    warm.run_ac(topo, inj, warm_start=False)
                else:
                    problems.append(f"{where} {how}: numba {r.status.name}, pandapower converges")
                continue
            problems += _report(f"{where} {how}", differences(r, r_ref, AC_TOL), r)
            problems += _report(f"{where} {how}", sanity(grid, topo, r, "numba", True))
        problems += _report(where, sanity(grid, topo, r_ref, "pandapower", True))
    logger.info("%s: %d compared out of %d drawn", case, n_compared, n_draws)
    if warm_failures:
        warnings.warn(f"{case}: numba warm start failed on {len(warm_failures)} topologies where "
                      "pandapower and a numba flat start converge:\n" + "\n".join(warm_failures),
                      stacklevel=1)
    assert n_compared >= N_RANDOM + 1, f"only {n_compared} topologies converged in pandapower"
    assert not problems, f"{len(problems)} discrepancies:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize("case", CASES)
def test_dc_matches_rundcpp_on_random_topologies(case: str, numba_pf_class) -> None:
    net, grid, ref = _oracle(case)
    fast = numba_pf_class(grid)
    inj = Injections.reference(grid)
    rng = np.random.default_rng(SEEDS[case] + 1)
    problems: list[str] = []
    topos = [Topology.reference(grid)] + [random_topology(grid, rng) for _ in range(N_RANDOM)]
    for k, topo in enumerate(topos):
        where = f"{case} DC topology #{k} ({describe(grid, topo)})"
        r_ref, r_fast = ref.run_dc(topo, inj), fast.run_dc(topo, inj)
        assert r_ref.converged, where
        if not r_fast.converged:
            problems.append(f"{where}: numba {r_fast.status.name}")
            continue
        problems += _report(where, differences(r_fast, r_ref, DC_TOL))
        problems += _report(where, sanity(grid, topo, r_ref, "pandapower", False))
        problems += _report(where, sanity(grid, topo, r_fast, "numba", False))
    assert not problems, f"{len(problems)} discrepancies:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize("case", ["case14", "case118"])
def test_ac_matches_runpp_hypothesis(case: str, numba_pf_class) -> None:
    """Property-based: hypothesis draws (and shrinks) topologies; both backends agree."""
    net, grid, ref = _oracle(case)
    fast = numba_pf_class(grid)
    inj = Injections.reference(grid)

    @settings(max_examples=20, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(topo=topologies(grid))
    def check(topo: Topology) -> None:
        r_ref = ref.run_ac(topo, inj, warm_start=False)
        r_fast = fast.run_ac(topo, inj, warm_start=False)
        if not r_ref.converged:
            assert not r_fast.converged or not _check_genuine(ref, topo, inj, r_fast)
            return
        assert r_fast.converged, f"numba {r_fast.status.name} where pandapower converges"
        assert differences(r_fast, r_ref, AC_TOL) == []
        r_ref, r_fast = ref.run_dc(topo, inj), fast.run_dc(topo, inj)
        assert differences(r_fast, r_ref, DC_TOL) == []

    check()


# ------------------------------------------------------------------ islands and failures
@pytest.fixture(params=["numba", "pandapower"])
def backend(request):
    """Factory ``(case) -> (grid, power flow)`` for each backend."""
    def make(case: str):
        net, grid = load_case(case)
        if request.param == "pandapower":
            return grid, PandapowerPowerFlow(grid, net)
        return grid, request.getfixturevalue("numba_pf_class")(grid)

    return make


def test_load_split_from_the_slack_is_cut(backend) -> None:
    grid, pf = backend("case14")
    topo = Topology.reference(grid)
    load = 3  # alone on busbar 1 of its substation: no branch feeds it
    topo.load_node[load] = 1
    bus = grid.load_sub_idx[load] + grid.n_sub
    for r in (pf.run_ac(topo, Injections.reference(grid)),
              pf.run_dc(topo, Injections.reference(grid))):
        assert r.converged
        assert r.load_cut_mask.tolist() == [i == load for i in range(grid.n_load)]
        assert r.load_p_mw[load] == 0 and r.load_q_mvar[load] == 0 and r.load_v_pu[load] == 0
        assert not r.bus_energized_mask[bus] and r.bus_vm_pu[bus] == 0
        assert not r.prod_cut_mask.any()


def test_island_without_slack_is_cut(backend) -> None:
    """Opening trafo 6-7 of case14 leaves the synchronous condenser at bus 7 alone."""
    grid, pf = backend("case14")
    topo = Topology.reference(grid)
    branch = int(np.flatnonzero((grid.line_sub_or_idx == 6) & (grid.line_sub_ex_idx == 7))[0])
    topo.line_status[branch] = False
    prod = int(np.flatnonzero(grid.prod_sub_idx == 7)[0])
    r = pf.run_ac(topo, Injections.reference(grid))
    assert r.converged
    assert r.prod_cut_mask.tolist() == [i == prod for i in range(grid.n_prod)]
    assert r.prod_p_mw[prod] == 0 and r.prod_q_mvar[prod] == 0 and r.prod_v_pu[prod] == 0
    assert r.line_p_or_mw[branch] == 0 and r.line_a_or[branch] == 0
    assert r.line_v_or_pu[branch] == 0 and r.line_v_ex_pu[branch] == 0
    assert np.isfinite(r.line_p_or_mw).all() and np.isfinite(r.bus_vm_pu).all()


def test_heavy_load_has_no_solution(backend) -> None:
    grid, pf = backend("case14")
    inj = Injections.reference(grid)
    inj.load_p_mw = inj.load_p_mw * 20
    inj.load_q_mvar = inj.load_q_mvar * 20
    r = pf.run_ac(Topology.reference(grid), inj, warm_start=False)
    assert r.status != PFStatus.CONVERGED
    assert np.isfinite(r.bus_vm_pu).all() and np.isfinite(r.line_p_or_mw).all()


def test_failed_solve_reports_no_stale_values(backend) -> None:
    """A non-converged result must not carry the previous solve's voltages or flows."""
    grid, pf = backend("case14")
    assert pf.run_ac(Topology.reference(grid), Injections.reference(grid)).converged
    inj = Injections.reference(grid)
    inj.load_p_mw = inj.load_p_mw * 20
    r = pf.run_ac(Topology.reference(grid), inj)
    assert not r.converged
    for name in ("bus_vm_pu", "bus_va_rad", "line_p_or_mw", "line_a_or", "prod_p_mw",
                 "load_v_pu"):
        assert not np.any(getattr(r, name)), f"{name} holds values of a failed solve"


@pytest.mark.parametrize("case", ["case14", "case300"])
def test_dc_reports_no_reactive_power(case: str, numba_pf_class) -> None:
    """Like ``rundcpp``: a DC power flow has no Q, every Q output reads 0."""
    net, grid, ref = _oracle(case)
    topo, inj = Topology.reference(grid), Injections.reference(grid)
    for r, who in ((ref.run_dc(topo, inj), "pandapower"),
                   (numba_pf_class(grid).run_dc(topo, inj), "numba")):
        for name in DC_Q_FIELDS:
            assert not np.any(getattr(r, name)), f"{who} DC {name} is not 0"


def test_weak_topology_has_no_solution(backend) -> None:
    """case14 fed through a chain of two lines (0-4 then 4-1): no AC solution exists.

    Line 0-1 is open; at substation 4 the slack's line 0-4 and line 1-4 share busbar 1, so all the
    grid's power flows through them; generator 1 and line 1-2 sit alone on busbar 1 of
    substation 1. The DC angles reach 78 degrees across the chain.
    """
    grid, pf = backend("case14")
    topo = Topology.reference(grid)
    topo.prod_node[1] = 1
    topo.line_or_node[2] = 1
    topo.line_ex_node[[1, 4, 14]] = 1
    topo.line_status[0] = False
    r = pf.run_ac(topo, Injections.reference(grid), warm_start=False)
    assert r.status != PFStatus.CONVERGED


def test_isolated_slack_moves_to_the_next_generator(backend) -> None:
    """pypownet's rule (as PYPOWER applies it): when no in-service branch reaches the slack's
    busbar, the first other generator in service with a connected busbar balances the grid;
    both backends give the same solution, and the old slack is reported cut."""
    grid, pf = backend("case14")
    topo = Topology.reference(grid)
    topo.line_status[[0, 1]] = False  # both lines of the slack's substation
    inj = Injections.reference(grid)
    for r in (pf.run_ac(topo, inj), pf.run_dc(topo, inj)):
        assert r.converged
        assert r.prod_cut_mask[grid.slack_prod_idx]
        assert r.prod_p_mw[grid.slack_prod_idx] == 0.0
        assert abs(r.prod_p_mw.sum() - r.load_p_mw.sum()) < 0.2 * r.load_p_mw.sum()
    assert pf.run_ac(Topology.reference(grid), inj).converged  # and it recovers


def test_moved_slack_and_production_off_agree_with_pandapower(numba_pf_class) -> None:
    """A production with a voltage set-point <= 0 is out of service (pypownet's chronic
    convention); when it is the slack, the next generator takes over. numba == runpp."""
    net, grid = load_case("case14")
    ref, ours = PandapowerPowerFlow(grid, net), numba_pf_class(grid)
    inj = Injections.reference(grid)
    pv = [k for k in range(grid.n_prod) if k != grid.slack_prod_idx]
    for off in ([pv[0]], [grid.slack_prod_idx], [grid.slack_prod_idx, pv[0]]):
        v = inj.prod_v_pu.copy()
        v[off] = 0.0
        case = Injections(inj.prod_p_mw, v, inj.load_p_mw, inj.load_q_mvar, inj.prod_q_mvar)
        for run in ("run_ac", "run_dc"):
            a = getattr(ours, run)(Topology.reference(grid), case)
            b = getattr(ref, run)(Topology.reference(grid), case)
            assert a.converged and b.converged, (off, run)
            assert (a.prod_p_mw[off] == 0).all() and (a.prod_v_pu[off] == 0).all()
            assert not a.prod_cut_mask[off].any()  # off, not isolated
            tol = {"line_a_or": (1e-6, 1e-6), "bus_vm_pu": (1e-8, 0), "prod_p_mw": (1e-6, 1e-6)}
            diffs = differences(a, b, tol)
            assert not diffs, (off, run, diffs)
