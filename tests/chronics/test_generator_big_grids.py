"""Large grids: injections with an AC solution at every step, automatic settings, named cases,
and the shipped folders unchanged by the large-grid machinery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gym_powergrid.chronics.generator import GeneratorConfig, generate_scenarios
from gym_powergrid.errors import ConfigurationError
from gym_powergrid.new_env import _round_trip_grid, resolve_case

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "gym_powergrid" / "envs" / "params"


@pytest.fixture(scope="module")
def case300():
    return _round_trip_grid("case300", "case300")


def test_automatic_settings_depend_on_grid_size(case300):
    small = GeneratorConfig().resolved(_round_trip_grid("case14", "case14"))
    big = GeneratorConfig().resolved(case300)
    assert (small.dispatch, small.secure_outages, small.n1_samples) == ("pro-rata", False, 96)
    assert (small.reactive, small.stress_bridges, small.secure_max_vm_drop_pu,
            small.dc_limits) == ("power-factor", True, None, False)
    assert big.dispatch == "reference" and big.secure_outages
    assert (big.reactive, big.stress_bridges, big.secure_max_vm_drop_pu, big.dc_limits) == (
        "reference", False, 0.05, True)
    assert 8 <= big.n1_samples < 96
    assert (small.n1_ratio, big.n1_ratio) == ((0.8, 1.05), (0.8, 0.95))
    assert (big.n_stressed, big.maintenance_per_month) == (18, 6.8)  # 411 branches
    huge = GeneratorConfig().resolved(_round_trip_grid("case1354pegase", "case1354pegase"))
    assert (huge.n_stressed, huge.maintenance_per_month, huge.hazards_per_month) == (
        19, 7.12, 2.37)  # 1991 branches: counted as MAX_SCALED_LINES = 450
    assert GeneratorConfig(n1_ratio=(0.7, 0.9)).resolved(case300).n1_ratio == (0.7, 0.9)
    with pytest.raises(ConfigurationError, match="dispatch"):
        GeneratorConfig(dispatch="random")
    with pytest.raises(ConfigurationError, match="reactive"):
        GeneratorConfig(reactive="cos-phi")
    with pytest.raises(ConfigurationError, match="secure_max_vm_drop_pu"):
        GeneratorConfig(secure_max_vm_drop_pu=1.5)


@pytest.fixture(scope="module")
def week300(case300):
    cfg = GeneratorConfig(n_chronics=1, days_per_chronic=7, n1_samples=6,
                          maintenance_per_month=40.0, hazards_per_month=40.0)
    return generate_scenarios(case300, seed=3, config=cfg)


def test_case300_loads_keep_the_case_reactive_ratio(case300, week300):
    """reactive="reference": each load's Q/P is the case's (capacitive loads stay so)."""
    c = week300.chronics[0]
    on = (case300.load_p_mw > 1.0) & (np.abs(case300.load_q_mvar) > 1.0)
    ratio = (c.load_q_mvar[:, on] / c.load_p_mw[:, on]) / (case300.load_q_mvar[on]
                                                            / case300.load_p_mw[on])
    assert np.all(np.abs(np.log(ratio)) < 0.15)  # the 2% AR(1) noise and the rounding
    assert (c.load_q_mvar[:, case300.load_q_mvar < -1.0] < 0).all()


def test_case300_renewables_replace_producing_units_at_most_twice(case300, week300):
    from gym_powergrid.grid.arrays import PROD_SLACK

    ren = week300.prod_role >= 2
    ref_p = case300.prod_p_mw
    assert ren.sum() > 10 and (ref_p[ren] > 0).all()
    assert np.all(week300.prod_capacity_mw[ren] <= 2.0 * ref_p[ren] + 1e-9)
    idle = (ref_p <= 0) & (case300.prod_kind != PROD_SLACK)
    assert idle.any() and not ren[idle].any()  # synchronous condensers stay thermal


def test_case300_outages_avoid_fragile_branches_and_bridges_are_not_stressed(
        case300, week300):
    from gym_powergrid.chronics.generator_events import bridge_lines

    fragile = week300.line_fragile_mask
    c = week300.chronics[0]
    hit = (c.maintenance > 0).any(axis=0) | (c.hazards > 0).any(axis=0)
    assert hit.sum() > 8 and fragile.sum() > 0  # maintenance: one a working day at most
    assert not (hit & fragile).any()
    bridges = bridge_lines(case300)
    assert (bridges & ~fragile).any()  # harmless bridges keep their hazards
    assert not (week300.line_stressed_mask & (bridges | fragile)).any()
    assert week300.line_stressed_mask.sum() > 0


def test_contingency_criteria(case300):
    """An outage is fragile when it diverges, isolates too much or drops the voltage."""
    from gym_powergrid.chronics.generator_config import tolerated_cut
    from gym_powergrid.chronics.generator_events import bridge_lines
    from gym_powergrid.chronics.generator_pf import contingency_flows

    g = case300
    args = (g, g.prod_p_mw[None], g.prod_vm_pu[None], g.load_p_mw[None], g.load_q_mvar[None],
            np.empty(0, dtype=np.int64))
    bridges = np.flatnonzero(bridge_lines(g))
    plain = contingency_flows(*args, checked=bridges).fragile_mask
    cut = contingency_flows(*args, checked=bridges, max_cut=tolerated_cut(g)).fragile_mask
    assert (cut & ~plain).any()  # a bridge feeding more loads than the game tolerates
    assert not (plain & ~cut).any()
    lines = np.flatnonzero(~bridge_lines(g))[:60]
    args = args[:-1] + (np.empty(0, dtype=np.int64),)
    base = contingency_flows(*args, checked=lines).fragile_mask
    drop = contingency_flows(*args, checked=lines, max_vm_drop_pu=0.05).fragile_mask
    assert (drop & ~base).any() and not (base & ~drop).any()


def test_an_outage_leaving_an_island_of_lines_is_fragile(case300):
    """With ``max_cut`` (the game's tolerance), a bridge whose outage leaves lines in service
    cut off from the slack with a load or a production is fragile however few loads it
    isolates (the game's ``diverged`` rule); a bridge to a single busbar is not."""
    from gym_powergrid.chronics.generator_config import tolerated_cut
    from gym_powergrid.chronics.generator_events import bridge_lines
    from gym_powergrid.chronics.generator_pf import contingency_flows
    from gym_powergrid.core.game_rules import ISLAND_DIVERGES, island_without_slack
    from gym_powergrid.core.pf_kernel import pack_injections, pack_topology
    from gym_powergrid.core.powerflow import NumbaPowerFlow
    from gym_powergrid.core.results import Injections
    from gym_powergrid.grid import Topology

    g = case300
    bridges = np.flatnonzero(bridge_lines(g) & g.line_in_service)
    max_cut = tolerated_cut(g)
    fragile = contingency_flows(g, g.prod_p_mw[None], g.prod_vm_pu[None], g.load_p_mw[None],
                                g.load_q_mvar[None], np.empty(0, dtype=np.int64),
                                checked=bridges, max_cut=max_cut).fragile_mask
    pf = NumbaPowerFlow(g)
    base = Topology.reference(g)
    inj = Injections.reference(g)
    packed = pack_injections(inj.prod_p_mw, inj.prod_q_mvar, inj.prod_v_pu, inj.load_p_mw,
                             inj.load_q_mvar)
    island_only = harmless = 0
    for k in bridges:
        status = base.line_status.copy()
        status[k] = False
        topo = Topology(base.prod_node, base.load_node, base.line_or_node, base.line_ex_node,
                        status)
        pf.reset_voltages()
        res = pf.run_ac(topo, inj)
        few = res.converged and res.load_cut_mask.sum() <= max_cut[0] and (
            res.prod_cut_mask.sum() <= max_cut[1])
        island = res.converged and island_without_slack(
            pf.grid_i, pack_topology(topo.prod_node, topo.load_node, topo.line_or_node,
                                     topo.line_ex_node, topo.line_status),
            packed, res.bus_energized_mask) == ISLAND_DIVERGES
        if island:
            assert fragile[k]
            island_only += int(few)
        elif few:
            assert not fragile[k]
            harmless += 1
    assert island_only > 0 and harmless > 0


def test_island_partners_match_a_brute_force_check(case300):
    """island_partners: a branch that is not a bridge is flagged iff some other outage c
    makes {c, k} a cut whose side without the slack still holds a branch (brute force on a
    sample)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from gym_powergrid.chronics.generator_events import bridge_lines, island_partners

    g = case300
    flagged = island_partners(g)
    on = np.flatnonzero(g.line_in_service & (g.line_sub_or_idx != g.line_sub_ex_idx))
    a, b = g.line_sub_or_idx, g.line_sub_ex_idx
    slack = g.prod_sub_idx[g.slack_prod_idx]

    bridge = bridge_lines(g)

    def islands(k):
        for c in on:
            if c == k or bridge[c]:  # a bridge islands alone
                continue
            keep = on[(on != c) & (on != k)]
            _, comp = connected_components(coo_matrix(
                (np.ones(keep.size), (a[keep], b[keep])), shape=(g.n_sub, g.n_sub)),
                directed=False)
            side = comp != comp[slack]
            if (side[a[keep]] & side[b[keep]]).any():
                return True
        return False

    rng = np.random.default_rng(0)
    yes = rng.choice(np.flatnonzero(flagged), 8, replace=False)
    no = rng.choice(np.flatnonzero(~flagged & g.line_in_service & ~bridge), 8, replace=False)
    assert 30 < flagged.sum() < 150
    assert all(islands(k) for k in yes) and not any(islands(k) for k in no)


def test_case300_converges_at_every_step(case300):
    cfg = GeneratorConfig(n_chronics=1, days_per_chronic=2, n1_samples=4)
    out = generate_scenarios(case300, seed=1, config=cfg)
    assert out.stats[0].n_diverged == 0  # the pro-rata dispatch diverged at 43 of 48 steps
    c = out.chronics[0]
    cap = out.prod_capacity_mw
    assert np.all(c.prod_p_mw[:, out.prod_role != 0] <= cap[out.prod_role != 0] + 1e-6)
    assert np.all(c.prod_p_mw[:, out.prod_role != 0] >= -1e-6)


def test_pro_rata_dispatch_of_case300_is_repaired(case300):
    cfg = GeneratorConfig(n_chronics=1, days_per_chronic=1, n1_samples=0, dispatch="pro-rata")
    assert generate_scenarios(case300, seed=1, config=cfg).stats[0].n_diverged == 0
    bare = cfg.replace(repair_diverged=False)
    assert generate_scenarios(case300, seed=1, config=bare).stats[0].n_diverged > 0


def test_named_cases_of_pandapower_are_accepted():
    net = resolve_case("case9")  # not in gym_powergrid.grid.cases.NAMED_CASES
    assert len(net.bus) == 9
    assert resolve_case("case14") == "case14"
    with pytest.raises(ConfigurationError, match="case1354pegase"):
        resolve_case("case1354pegas")


def _new_env(tmp_path, *extra):
    return subprocess.run(
        [sys.executable, "-m", "gym_powergrid.new_env", "n9", "--case", "case9", "--out",
         str(tmp_path), "--seed", "1", "--n-chronics", "1", "--days", "1", "--set",
         "n1_samples=2", "--overwrite", *extra],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TQDM_DISABLE": "1"})


def test_new_env_logs_info_only_with_verbose(tmp_path):
    quiet = _new_env(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO" not in quiet.stderr and "wrote" in quiet.stdout
    loud = _new_env(tmp_path, "-v")
    assert loud.returncode == 0, loud.stderr
    assert "INFO gym_powergrid" in loud.stderr


def test_shipped_case14_is_regenerated_byte_for_byte(tmp_path):
    """The recorded command still writes the shipped level0 folder (big-grid options no-op)."""
    from gym_powergrid.new_env import main

    record = (SHIPPED / "case14" / "GENERATED.md").read_text()
    assert "--seed 2" in record
    assert main(["case14", "--case", "case14", "--out", str(tmp_path), "--seed", "2",
                 "-q"]) == 0
    new, old = tmp_path / "case14" / "level0", SHIPPED / "case14" / "level0"
    files = sorted(p.relative_to(old) for p in old.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(new) for p in new.rglob("*") if p.is_file())
    for f in files:
        assert (new / f).read_bytes() == (old / f).read_bytes(), f
    body = lambda text: text.split("```", 2)[2]  # noqa: E731 - the report after the command
    assert body((tmp_path / "case14" / "GENERATED.md").read_text()) == body(record)


def test_dc_limits_cover_the_dc_currents(case300, week300):
    """dc_limits: fewer branches start above their limit in DC (base topology)."""
    from gym_powergrid.chronics.generator_pf import base_topology_dc_currents

    c = week300.chronics[0]
    dc_a = base_topology_dc_currents(case300, c.prod_p_mw, c.prod_v_pu, c.load_p_mw,
                                     c.load_q_mvar)
    ac_only = generate_scenarios(case300, seed=3, config=week300.config.replace(
        dc_limits=False)).chronics[0]
    over = (dc_a > c.line_limit_a).sum()
    over_ac_only = (dc_a > ac_only.line_limit_a).sum()
    assert over_ac_only > 0 and over < over_ac_only
