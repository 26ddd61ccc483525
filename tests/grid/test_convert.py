"""pandapower net -> GridArrays: named cases, sizes, untouched user nets, refused tables."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from strategies import CASES, load_case

from gym_powergrid.core.results import Injections
from gym_powergrid.errors import InjectionError, TopologyError, UnsupportedGridError
from gym_powergrid.grid import (
    BRANCH_LINE,
    BRANCH_TRAFO,
    PROD_PQ,
    PROD_PV,
    PROD_SLACK,
    Topology,
    check_supported,
    from_pandapower,
    load_grid,
)
from gym_powergrid.grid import convert as convert_module


def assert_nets_identical(before, after) -> None:
    """Every table and attribute of two pandapower nets is identical (values, dtypes, index)."""
    assert set(before.keys()) == set(after.keys())
    for key in before.keys():
        old, new = before[key], after[key]
        if isinstance(old, pd.DataFrame):
            pd.testing.assert_frame_equal(old, new, check_exact=True, obj=f"net.{key}")
        elif isinstance(old, pd.Series):
            pd.testing.assert_series_equal(old, new, check_exact=True, obj=f"net.{key}")
        elif isinstance(old, np.ndarray):
            np.testing.assert_array_equal(old, new, err_msg=f"net.{key}")
        elif isinstance(old, (str, int, float, bool, type(None))):
            assert old == new or (old != old and new != new), f"net.{key}: {old!r} -> {new!r}"


@pytest.mark.parametrize("case", CASES)
def test_named_case_converts_with_matching_sizes(case: str) -> None:
    net, grid = load_case(case)  # from_pandapower(pandapower_case(case), name=case), cached
    assert grid.name == case
    assert grid.n_sub == len(net.bus) and grid.n_bus == 2 * len(net.bus)
    on = {t: net[t][net[t].in_service.astype(bool)] for t in ("ext_grid", "gen", "sgen", "load")}
    assert grid.n_prod == len(on["ext_grid"]) + len(on["gen"]) + len(on["sgen"])
    assert grid.n_load == len(on["load"])
    assert grid.n_line == len(net.line) + len(net.trafo)
    assert Topology.vector_length(grid) == grid.n_prod + grid.n_load + 3 * grid.n_line
    # ordering and index maps back to pandapower
    assert (grid.prod_kind[:1] == PROD_SLACK).all()
    assert (grid.prod_kind[1:1 + len(on["gen"])] == PROD_PV).all()
    assert (grid.prod_kind[1 + len(on["gen"]):] == PROD_PQ).all()
    np.testing.assert_array_equal(grid.prod_pp_idx[1:1 + len(on["gen"])], on["gen"].index)
    np.testing.assert_array_equal(grid.load_pp_idx, on["load"].index)
    np.testing.assert_array_equal(grid.line_pp_idx[: len(net.line)], net.line.index)
    np.testing.assert_array_equal(grid.line_pp_idx[len(net.line):], net.trafo.index)
    assert (grid.line_kind[: len(net.line)] == BRANCH_LINE).all()
    assert (grid.line_kind[len(net.line):] == BRANCH_TRAFO).all()
    bus_pos = {b: i for i, b in enumerate(net.bus.index)}
    np.testing.assert_array_equal(grid.line_sub_or_idx[: len(net.line)],
                                  [bus_pos[b] for b in net.line.from_bus])
    np.testing.assert_array_equal(grid.line_sub_ex_idx[len(net.line):],
                                  [bus_pos[b] for b in net.trafo.lv_bus])
    np.testing.assert_allclose(grid.load_p_mw, on["load"].p_mw * on["load"].scaling)
    # every array has one entry per element and no NaN where the core reads it
    for name in ("line_r_pu", "line_x_pu", "line_b_pu", "line_tap", "line_limit_or_a",
                 "line_limit_ex_a", "prod_p_mw", "prod_vm_pu", "load_q_mvar"):
        arr = getattr(grid, name)
        assert np.isfinite(arr).all(), name
    for name in ("line_y_ff", "line_y_ft", "line_y_tf", "line_y_tt"):
        arr = getattr(grid, name)
        assert arr.shape == (grid.n_line,) and np.isfinite(arr).all(), name
    assert (grid.line_limit_or_a > 0).all()


@pytest.mark.parametrize("case", CASES)
def test_conversion_leaves_the_user_net_unchanged(case: str) -> None:
    net = copy.deepcopy(load_case(case)[0])
    pp.runpp(net, numba=False)  # results tables too must survive untouched
    before = copy.deepcopy(net)
    from_pandapower(net)
    assert_nets_identical(before, net)
    if case == "case14":  # pandapower's own comparison agrees (slow on big nets)
        assert pp.toolbox.nets_equal(before, net, check_only_results=False)


def test_load_grid_accepts_names_and_nets() -> None:
    net, grid = load_case("case14")
    assert load_grid("case14").n_line == grid.n_line
    assert load_grid(copy.deepcopy(net)).n_sub == grid.n_sub
    with pytest.raises(UnsupportedGridError, match="case14"):
        load_grid("case41")  # "Did you mean 'case14'?"


def _with_trafo3w(net) -> None:
    hv, mv, lv = (pp.create_bus(net, vn_kv=v) for v in (110.0, 20.0, 10.0))
    pp.create_transformer3w_from_parameters(
        net, hv, mv, lv, vn_hv_kv=110, vn_mv_kv=20, vn_lv_kv=10, sn_hv_mva=40, sn_mv_mva=20,
        sn_lv_mva=20, vk_hv_percent=10, vk_mv_percent=10, vk_lv_percent=10, vkr_hv_percent=0.3,
        vkr_mv_percent=0.3, vkr_lv_percent=0.3, pfe_kw=30, i0_percent=0.1)


UNSUPPORTED = {
    "trafo3w": _with_trafo3w,
    "impedance": lambda net: pp.create_impedance(net, 0, 1, rft_pu=0.01, xft_pu=0.05, sn_mva=100),
    "ward": lambda net: pp.create_ward(net, 3, ps_mw=1, qs_mvar=1, pz_mw=1, qz_mvar=1),
    "xward": lambda net: pp.create_xward(net, 3, ps_mw=1, qs_mvar=1, pz_mw=1, qz_mvar=1,
                                         r_ohm=1, x_ohm=5, vm_pu=1.0),
    "dcline": lambda net: pp.create_dcline(net, 0, 5, p_mw=10, loss_percent=1, loss_mw=0.5,
                                           vm_from_pu=1.0, vm_to_pu=1.0),
    "switch": lambda net: pp.create_switch(net, 3, 4, et="b", closed=True),
    "ext_grid": lambda net: pp.create_ext_grid(net, 5, vm_pu=1.0),
}


@pytest.mark.parametrize("table", sorted(UNSUPPORTED))
def test_unsupported_tables_are_refused_up_front(table: str, monkeypatch) -> None:
    net = copy.deepcopy(load_case("case14")[0])
    UNSUPPORTED[table](net)
    before = copy.deepcopy(net)

    def must_not_run(*args, **kwargs):
        raise AssertionError("conversion started before the net was checked")

    monkeypatch.setattr(convert_module, "_ppc_of", must_not_run)
    with pytest.raises(UnsupportedGridError, match=f"'{table}'|{table}") as info:
        from_pandapower(net)
    assert table in str(info.value)
    with pytest.raises(UnsupportedGridError):
        check_supported(net)
    assert_nets_identical(before, net)


def test_every_problem_is_listed_at_once() -> None:
    net = copy.deepcopy(load_case("case14")[0])
    UNSUPPORTED["ward"](net)
    UNSUPPORTED["impedance"](net)
    with pytest.raises(UnsupportedGridError) as info:
        from_pandapower(net)
    assert "ward" in str(info.value) and "impedance" in str(info.value)


def test_topology_from_vector_validates() -> None:
    _, grid = load_case("case14")
    n = Topology.vector_length(grid)
    ref = Topology.reference(grid)
    back = Topology.from_vector(grid, ref.to_vector())
    np.testing.assert_array_equal(back.to_vector(), ref.to_vector())
    with pytest.raises(TopologyError, match=rf"length {n}.*got shape \({n + 1},\)"):
        Topology.from_vector(grid, np.zeros(n + 1))
    with pytest.raises(TopologyError, match="0 or 1"):
        Topology.from_vector(grid, np.full(n, 2))
    with pytest.raises(TopologyError, match="0 or 1"):
        Topology.from_vector(grid, np.full(n, np.nan))
    with pytest.raises(TopologyError, match="numbers"):
        Topology.from_vector(grid, np.array(["x"] * n))


def test_injections_with_nan_are_refused() -> None:
    _, grid = load_case("case14")
    inj = Injections.reference(grid)
    assert inj.validated(grid).load_p_mw.dtype == np.float64
    inj.load_q_mvar = inj.load_q_mvar.copy()
    inj.load_q_mvar[4] = np.nan
    with pytest.raises(InjectionError, match=r"load_q_mvar.*index 4"):
        inj.validated(grid)
    inj = Injections.reference(grid)
    inj.prod_p_mw = inj.prod_p_mw[:2]
    with pytest.raises(InjectionError, match="prod_p_mw must have shape"):
        inj.validated(grid)
