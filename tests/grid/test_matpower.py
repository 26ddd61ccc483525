"""MATPOWER files: pypownet's sister buses, element order, .m/.mat reading and .m writing."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gym_powergrid.errors import UnsupportedGridError
from gym_powergrid.grid import from_pandapower, load_grid
from gym_powergrid.grid.matpower import (
    ColumnOrder,
    find_sister_buses,
    pypownet_column_order,
    read_matpower,
    write_matpower,
)

HEAD = """function mpc = reference_grid5
%% MATPOWER Case Format : Version 2
mpc.version = '2';
mpc.baseMVA = 100;
"""
BUS_HEADER = "%\tbus_i\ttype\tPd\tQd\tGs\tBs\tarea\tVm\tVa\tbaseKV\tzone\tVmax\tVmin\n"
MAIN_BUSES = [
    "1\t3\t0\t0\t0\t0\t1\t1.06\t0\t100\t1\t1.06\t0.94",
    "2\t2\t21.7\t12.7\t0\t0\t1\t1.045\t0\t100\t1\t1.06\t0.94",
    "3\t1\t94.2\t19\t0\t5\t1\t1.01\t0\t100\t1\t1.06\t0.94",
    "4\t1\t47.8\t-3.9\t0\t0\t1\t1.019\t0\t100\t1\t1.06\t0.94",
    "5\t2\t0\t0\t0\t0\t1\t1.02\t0\t100\t1\t1.06\t0.94",
]
GEN = ("mpc.gen = [\n"
       "\t1\t232.4\t-16.9\t10\t0\t1.06\t100\t1\t332.4\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;\n"
       "\t{g2}\t40\t42.4\t50\t-40\t1.045\t100\t1\t140\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;\n"
       "\t{g3}\t20\t0\t30\t-30\t1.02\t100\t0\t100\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;\n"
       "];\n")
BRANCH = ("mpc.branch = [\n"
          "\t1\t2\t0.01938\t0.05917\t0.0528\t0\t0\t0\t0\t0\t1\t-360\t360;\n"
          "\t1\t3\t0.05403\t0.22304\t0.0492\t0\t0\t0\t0\t0\t1\t-360\t360;\n"
          "\t2\t{b3}\t0.04699\t0.19797\t0.0438\t0\t0\t0\t0\t0\t1\t-360\t360;\n"
          "\t2\t4\t0.05811\t0.17632\t0.034\t0\t0\t0\t0.978\t0\t1\t-360\t360;\n"
          "\t3\t4\t0.06701\t0.17103\t0.0128\t0\t0\t0\t0\t0\t1\t-360\t360;\n"
          "\t4\t5\t0.01335\t0.04211\t0\t0\t0\t0\t0\t0\t1\t-360\t360;\n"
          "\t{b7}\t5\t0.02\t0.05\t0\t0\t0\t0\t0\t0\t0\t-360\t360;\n"
          "];\n")


def _case(sisters: bool, on_sisters: bool = False) -> str:
    """A 5-bus pypownet-style case; ``on_sisters`` attaches some elements to sister buses."""
    buses = list(MAIN_BUSES)
    if sisters:
        for n, line in enumerate(MAIN_BUSES, start=1):
            fields = line.split("\t")
            fields[0], fields[1], fields[2], fields[3] = f"666{n}", "4", "0", "0"
            buses.append("\t".join(fields))  # keeps Bs: pypownet copies the bus row
    if on_sisters:  # move bus 4's load onto its sister, and a gen and a branch end too
        buses[3] = "4\t1\t0\t0\t0\t0\t1\t1.019\t0\t100\t1\t1.06\t0.94"
        buses[5 + 3] = "6664\t4\t47.8\t-3.9\t0\t0\t1\t1.019\t0\t100\t1\t1.06\t0.94"
    gen = GEN.format(g2=2, g3="6665" if on_sisters else "5")
    branch = BRANCH.format(b3="6663" if on_sisters else "3", b7="6664" if on_sisters else "4")
    body = "\n".join(f"\t{b};" for b in buses)
    return HEAD + BUS_HEADER + f"mpc.bus = [\n{body}\n];\n" + gen + branch


@pytest.fixture(autouse=True)
def _quiet_pandapower():
    logging.getLogger("pandapower").setLevel(logging.ERROR)


def _write(tmp_path, text, name="reference_grid.m"):
    path = tmp_path / name
    path.write_text(text)
    return path


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """The three variants read once (pandapower is slow to build nets): nets, grids, logs."""
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    tmp = tmp_path_factory.mktemp("mp")
    out = {}
    logger = logging.getLogger("gym_powergrid.grid.matpower")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    for key, text in (("clean", _case(False)), ("sisters", _case(True)),
                      ("moved", _case(True, on_sisters=True))):
        handler = _Records()
        logger.addHandler(handler)
        try:
            net = read_matpower(_write(tmp, text, f"{key}.m"))
        finally:
            logger.removeHandler(handler)
        out[key] = (net, from_pandapower(net), "\n".join(handler.lines))
    logger.setLevel(old_level)
    return out


def test_sister_buses_are_dropped(cases):
    net, grid, text = cases["sisters"]
    assert net.bus.index.tolist() == [0, 1, 2, 3, 4]
    assert (len(net.load), len(net.gen) + len(net.ext_grid) + len(net.sgen)) == (3, 3)
    assert (len(net.line), len(net.trafo)) == (6, 1)
    assert "dropped 5 pypownet sister buses" in text
    assert "productions with status 0 are switched on" in text
    assert net.shunt.q_mvar.tolist() == [-5.0]  # sister 6663 duplicates bus 3's Bs: not doubled
    assert (grid.n_sub, grid.n_prod, grid.n_load, grid.n_line) == (5, 3, 3, 7)
    assert grid.line_in_service.tolist().count(False) == 1
    assert "sister" not in cases["clean"][2]


def test_elements_on_sister_buses_move_to_busbar_0(cases):
    text = cases["moved"][2]
    assert "load on sister bus 6664 is moved onto bus 4" in text
    assert "production (gen row) 3 is attached to sister bus 6665; moved onto bus 5" in text
    assert "branch 3 is attached to sister bus 6663; moved onto bus 3" in text
    assert "branch 7 is attached to sister bus 6664" in text  # out of service: debug level
    assert "initial topology always has every element on busbar 0" in text
    g_clean, g_moved = cases["clean"][1], cases["moved"][1]
    for attr in ("line_sub_or_idx", "line_sub_ex_idx", "line_y_ff", "line_y_ft", "prod_sub_idx",
                 "load_sub_idx", "load_p_mw", "sub_shunt_y_pu", "line_in_service"):
        np.testing.assert_array_equal(getattr(g_clean, attr), getattr(g_moved, attr),
                                      err_msg=attr)


def test_power_flow_matches_a_case_without_sister_buses(cases):
    import copy

    import pandapower as pp

    nets = [copy.deepcopy(cases[k][0]) for k in ("clean", "sisters")]
    for net in nets:
        pp.runpp(net, numba=False)
    np.testing.assert_allclose(nets[0].res_bus.vm_pu, nets[1].res_bus.vm_pu, atol=1e-10)


def test_column_order_follows_file_rows(cases):
    net, grid, _ = cases["sisters"]
    order = pypownet_column_order(net, grid)
    # productions: ext_grid (gen row 0), gen at bus 2 (row 1), gen at bus 5 (row 2)
    assert order.prod.tolist() == [0, 1, 2]
    assert grid.load_sub_idx[np.argsort(order.load)].tolist() == [1, 2, 3]  # bus order
    # lines follow the file's branch rows, the transformer (file row 4) included
    assert order.line.tolist() == list(range(7))
    assert grid.line_kind.tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_line_k_is_branch_row_k(tmp_path):
    """Line k's end buses, status, limit and name follow MATPOWER branch row k."""
    from matpowercaseframes import CaseFrames

    text = _case(True).replace("0.0528\t0\t0\t0", "0.0528\t90\t0\t0").replace(
        "0.034\t0\t0\t0\t0.978", "0.034\t45\t0\t0\t0.978")
    path = _write(tmp_path, text)
    grid = from_pandapower(read_matpower(path))
    branch = CaseFrames(str(path)).branch.to_numpy(float)
    np.testing.assert_array_equal(grid.line_sub_or_idx + 1, branch[:, 0])
    np.testing.assert_array_equal(grid.line_sub_ex_idx + 1, branch[:, 1])
    np.testing.assert_array_equal(grid.line_in_service, branch[:, 10] > 0)
    kv = 100.0  # every bus of the case
    rated = np.flatnonzero(branch[:, 5] > 0)
    assert rated.tolist() == [0, 3]
    np.testing.assert_allclose(grid.line_limit_or_a[rated],
                               branch[rated, 5] / (np.sqrt(3) * kv) * 1e3, rtol=1e-9)
    assert grid.line_kind[3] == 1 and grid.line_name[3].startswith("trafo")


def test_sister_detection_rules():
    def bus(ids, types):
        b = np.zeros((len(ids), 13))
        b[:, 0], b[:, 1] = ids, types
        return b

    assert find_sister_buses(bus([1, 2, 6661, 6662], [3, 1, 4, 4])) == {6661: 1, 6662: 2}
    # complete layout: sisters whatever their type
    assert find_sister_buses(bus([1, 2, 6661, 6662], [3, 1, 1, 4])) == {6661: 1, 6662: 2}
    # incomplete layout: only isolated ones, and only when the original exists
    assert find_sister_buses(bus([1, 2, 3, 6661, 6662, 6669], [3, 1, 1, 1, 4, 4])) == {6662: 2}
    assert find_sister_buses(bus([1, 2, 66602], [3, 1, 4])) == {}


def test_mat_file_reads_like_m_file(tmp_path, cases):
    import scipy.io
    from matpowercaseframes import CaseFrames

    m_path = _write(tmp_path, _case(sisters=True))
    cf = CaseFrames(str(m_path))
    scipy.io.savemat(tmp_path / "reference_grid.mat", {"mpc": {
        "version": "2", "baseMVA": 100.0, "bus": cf.bus.to_numpy(float),
        "gen": cf.gen.to_numpy(float), "branch": cf.branch.to_numpy(float)}})
    a = cases["sisters"][1]
    b = from_pandapower(read_matpower(tmp_path / "reference_grid.mat"))
    np.testing.assert_array_equal(a.line_y_ff, b.line_y_ff)
    np.testing.assert_array_equal(a.load_p_mw, b.load_p_mw)


@pytest.mark.parametrize("text, fragment", [
    ("this is not matpower\n", "cannot parse MATPOWER file"),
    (HEAD + "mpc.bus = [\n\t1\t3\t0;\n];\n" + GEN.format(g2=1, g3=1) + BRANCH.format(b3=1, b7=1),
     "mpc.bus has shape (1, 3), needs at least 13 columns"),
    (_case(False).replace("1\t3\t0\t0", "1\t2\t0\t0", 1), "mpc.bus has 0 reference buses"),
    (_case(False).replace("2\t2\t21.7", "2\t3\t21.7", 1), "mpc.bus has 2 reference buses"),
    (_case(False).replace("\t2\t40\t42.4", "\t9\t40\t42.4"), "buses [9] that mpc.bus does not"),
    (_case(False).replace("0.01938\t0.05917", "0.01938\tNaN"),
     "mpc.branch row 1 column 4 (x) is nan; it must be a finite number"),
    (_case(False).replace("0.05403\t0.22304", "0.05403\tInf"),
     "mpc.branch row 2 column 4 (x) is inf; it must be a finite number"),
    (_case(False).replace("0.04699\t0.19797", "0\t0"),
     "mpc.branch row 3 (2 -> 3) has zero impedance (r = x = 0)"),
    (_case(False).replace("mpc.baseMVA = 100;", "mpc.baseMVA = 0;"),
     "mpc.baseMVA = 0; it must be a positive number of MVA"),
    (_case(False).replace("\t1\t2\t0.01938\t0.05917\t0.0528\t0\t0\t0\t0\t0\t1\t-360\t360;",
                          "\t1\t2\t0.01938\t0.05917\t0.0528\t0;"),
     "mpc.branch row 2 has 13 columns but row 1 has 6"),
    (_case(False).replace("4\t1\t47.8\t-3.9\t0\t0\t1\t1.019\t0\t100",
                          "4\t1\t47.8\t-3.9\t0\t0\t1\t1.019\t0\t-1"),
     "mpc.bus row 4 column 10 (baseKV) is -1.0; it must be >= 0 kV"),
    (_case(False).replace("mpc.gen = [", "mpc.gen_off = ["), "mpc.gen missing"),
    (HEAD + "mpc.bus = [\n];\nmpc.gen = [\n];\nmpc.branch = [\n];\n", "mpc.bus is empty"),
])
def test_files_that_cannot_be_used(tmp_path, text, fragment):
    with pytest.raises(UnsupportedGridError) as info:
        read_matpower(_write(tmp_path, text))
    assert fragment in str(info.value) and "reference_grid.m" in str(info.value)


def test_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_matpower(tmp_path / "nope.m")
    with pytest.raises(UnsupportedGridError, match="must end in .m or .mat"):
        read_matpower(_write(tmp_path, "x", "grid.txt"))


@pytest.fixture(scope="module")
def case14():
    return load_grid("case14")


#: GridArrays fields a write/read round trip keeps bit for bit (element fields in file order)
EXACT_FIELDS = ("line_y_ff", "line_y_ft", "line_y_tf", "line_y_tt", "line_r_pu", "line_x_pu",
                "line_b_pu", "line_g_pu", "line_tap", "line_shift_rad", "line_sub_or_idx",
                "line_sub_ex_idx", "line_in_service", "line_kind", "line_vn_or_kv",
                "line_vn_ex_kv", "sub_shunt_y_pu", "sub_vn_kv", "prod_p_mw", "prod_vm_pu",
                "prod_sub_idx", "prod_kind", "load_p_mw", "load_q_mvar", "load_sub_idx")


def assert_round_trip(grid, path, fields=EXACT_FIELDS) -> None:
    """Writing ``grid`` and reading it back gives identical admittances and limits."""
    order = write_matpower(grid, path)
    net = read_matpower(path)
    back = from_pandapower(net)
    back_order = pypownet_column_order(net, back)
    assert (back.n_sub, back.n_prod, back.n_load, back.n_line) == \
        (grid.n_sub, grid.n_prod, grid.n_load, grid.n_line)
    for attr in fields:
        kind = attr.split("_")[0]
        a, b = np.asarray(getattr(grid, attr)), np.asarray(getattr(back, attr))
        if kind in ("prod", "load", "line"):  # file column j holds argsort(order)[j]
            a = a[np.argsort(getattr(order, kind))]
            b = b[np.argsort(getattr(back_order, kind))]
        np.testing.assert_array_equal(a, b, err_msg=attr)
    # limits go through rateA (MVA): within one rounding of the conversion
    for attr in ("line_limit_or_a", "line_limit_ex_a"):
        np.testing.assert_allclose(getattr(back, attr), getattr(grid, attr), rtol=4e-16,
                                   err_msg=attr)


def test_write_then_read_case14(tmp_path, case14):
    assert_round_trip(case14, tmp_path / "reference_grid.m")
    text = (tmp_path / "reference_grid.m").read_text()
    assert "\t66614\t4\t" in text and "mpc.version = '2';" in text
    assert "gym_powergrid_branch_g" not in text  # no branch conductance in case14


def test_write_then_read_case300_is_exact(tmp_path):
    """pandapower's case300 (transformers with a shunt conductance) round trips bit for bit.

    Its 8 static generators (PQ) come back as PV productions: MATPOWER has no PQ generator and
    pypownet makes every production bus a PV bus (the writer logs it).
    """
    grid = load_grid("case300")
    assert (grid.line_g_pu != 0).sum() > 10
    fields = [f for f in EXACT_FIELDS if f not in ("prod_kind", "prod_vm_pu")]
    assert_round_trip(grid, tmp_path / "reference_grid.m", fields)
    assert "mpc.gym_powergrid_branch_g = [" in (tmp_path / "reference_grid.m").read_text()


def test_read_then_write_keeps_the_file_physics(tmp_path, cases):
    """A grid read from a MATPOWER file (a transformer mid-file) round trips bit for bit."""
    assert_round_trip(cases["sisters"][1], tmp_path / "reference_grid.m")


def test_write_refuses_two_loads_on_a_bus(tmp_path, case14):
    import dataclasses

    subs = case14.load_sub_idx.copy()
    subs[1] = subs[0]
    with pytest.raises(UnsupportedGridError, match="one load per bus"):
        write_matpower(dataclasses.replace(case14, load_sub_idx=subs), tmp_path / "g.m")


def test_column_order_helpers():
    from chronics.chronic_factory import make_chronic

    chronic = make_chronic()
    order = ColumnOrder(np.array([1, 0]), np.array([2, 0, 1]), np.arange(4))
    assert not order.is_identity
    in_grid = order.file_to_grid(chronic)
    np.testing.assert_array_equal(in_grid.load_p_mw[:, 0], chronic.load_p_mw[:, 2])
    np.testing.assert_array_equal(order.grid_to_file(in_grid).load_p_mw, chronic.load_p_mw)
    identity = ColumnOrder(np.arange(2), np.arange(3), np.arange(4))
    assert identity.file_to_grid(chronic) is chronic


def test_net_edited_after_reading(tmp_path, cases, caplog):
    """Edits of the net after read_matpower are honoured, never silently replaced by the file."""
    import copy

    net = copy.deepcopy(cases["clean"][0])
    net.line.loc[0, "x_ohm_per_km"] *= 2  # line 0 is branch row 1
    net.line.loc[1, "in_service"] = False
    with caplog.at_level(logging.INFO, logger="gym_powergrid.grid.convert"):
        grid = from_pandapower(net)
    assert "branch rows [1, 2] were edited in the net after reading" in caplog.text
    clean = cases["clean"][1]
    assert abs(grid.line_x_pu[0] - 2 * clean.line_x_pu[0]) < 1e-12
    assert grid.line_in_service.tolist()[:2] == [True, False]
    np.testing.assert_array_equal(grid.line_y_ff[2:], clean.line_y_ff[2:])
    # a removed element: the net is converted as a plain pandapower net (lines, then trafos)
    net.line = net.line.drop(index=5)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gym_powergrid.grid.convert"):
        grid = from_pandapower(net)
    assert "the net was changed after read_matpower (elements were added or removed)" in \
        caplog.text
    assert grid.n_line == 6 and grid.line_kind.tolist() == [0, 0, 0, 0, 0, 1]
