"""Grid2Op environment folders as parameter sources (issue 15, item 1).

A small folder in Grid2Op's layout, written here from pandapower's case14 (slack as a ``gen``
row with ``slack=True``, as Grid2Op's grids), always runs; its flows are checked against
``pandapower.runpp`` on the same net. The live comparison with Grid2Op + lightsim2grid on the
environments shipped in the grid2op wheel runs when both are installed.
"""

from __future__ import annotations

import bz2
import copy
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gym_powergrid.envs.powergrid_env import PowerGridEnv
from gym_powergrid.errors import ChronicError, ConfigurationError, UnsupportedGridError
from gym_powergrid.grid2op_source import Grid2OpFolder, grid2op_names, is_grid2op_folder

T = 6
LIMITS = [1e5 + 10 * i for i in range(20)]  # case14 has 0.208 kV buses: big currents


def grid2op_style_net():
    """pandapower case14 with its ext_grid turned into a slack gen appended last (Grid2Op)."""
    import pandapower as pp
    import pandapower.networks as pn

    net = pn.case14()
    ext = net.ext_grid.iloc[0]
    pp.create_gen(net, bus=int(ext.bus), p_mw=0.0, vm_pu=float(ext.vm_pu), slack=True,
                  name="slack")
    net.ext_grid = net.ext_grid.iloc[0:0]
    return net


def _write(path: Path, names, values, compress: bool) -> None:
    text = ";".join(names) + "\n" + "\n".join(";".join(f"{v:.6g}" for v in row)
                                             for row in values) + "\n"
    if compress:
        path.with_name(path.name + ".bz2").write_bytes(bz2.compress(text.encode()))
    else:
        path.write_text(text)


def write_grid2op_folder(root: Path, n_scenarios: int = 2, file_order_reversed: bool = True):
    """Write a Grid2Op-layout folder; return (folder, net, scenario arrays by name)."""
    import pandapower as pp

    net = grid2op_style_net()
    root.mkdir(parents=True, exist_ok=True)
    pp.to_json(net, str(root / "grid.json"))
    (root / "config.py").write_text(
        "from grid2op.Backend import PandaPowerBackend\n"
        "config = {\n    'backend': PandaPowerBackend,\n"
        f"    'thermal_limits': {LIMITS},\n    'names_chronics_to_grid': None,\n}}\n")
    (root / "prods_charac.csv").write_text("Pmax,Pmin,name\n1,0,gen_1_0\n")
    names = grid2op_names(net)
    vn = net.bus.vn_kv.to_numpy()[net.gen.bus.to_numpy()]
    data = {}
    for s in range(n_scenarios):
        rng = np.random.default_rng(s)
        f = 1.0 + 0.05 * rng.standard_normal((T, 1))
        load_p = net.load.p_mw.to_numpy() * f
        load_q = net.load.q_mvar.to_numpy() * f
        prod_p = np.tile(net.gen.p_mw.to_numpy(), (T, 1)) * f
        prod_v = np.tile(net.gen.vm_pu.to_numpy() * vn, (T, 1))
        maint = np.zeros((T, len(names["line"])))
        maint[2:4, 3] = 1  # line 3 out at steps 2 and 3
        arrays = {"load_p": load_p, "load_q": load_q, "prod_p": prod_p, "prod_v": prod_v,
                  "load_p_forecasted": load_p * 1.01, "load_q_forecasted": load_q,
                  "prod_p_forecasted": prod_p, "prod_v_forecasted": prod_v,
                  "maintenance": maint}
        folder = root / "chronics" / f"{s:04d}"
        folder.mkdir(parents=True)
        for stem, values in arrays.items():
            kind = {"load": "load", "prod": "prod", "main": "line"}[stem[:4]]
            cols = list(names[kind])
            idx = np.arange(len(cols))[::-1] if file_order_reversed else np.arange(len(cols))
            _write(folder / f"{stem}.csv", [cols[i] for i in idx], values[:, idx],
                   compress=stem.startswith("load"))
        (folder / "start_datetime.info").write_text("2019-01-05 23:55\n")
        (folder / "time_interval.info").write_text("00:05\n")
        data[f"{s:04d}"] = arrays
    return root, net, data


@pytest.fixture(scope="module")
def g2o(tmp_path_factory):
    return write_grid2op_folder(tmp_path_factory.mktemp("g2o") / "mini_g2o")


def test_folder_reads_grid2op_names_order_dates_and_limits(g2o):
    folder, net, data = g2o
    assert is_grid2op_folder(folder)
    f = Grid2OpFolder(folder)
    g = f.grid
    assert list(g.prod_name) == [f"gen_{b}_{i}" for i, b in enumerate(net.gen.bus)]
    assert g.prod_name[-1] == "gen_0_4" and g.slack_prod_idx == 4  # the slack keeps its place
    assert list(g.line_name[:2]) == ["0_1_0", "0_4_1"] and g.n_line == 20
    c = f.chronics["0000"]
    np.testing.assert_allclose(c.load_p_mw, data["0000"]["load_p"], rtol=1e-5)
    np.testing.assert_allclose(c.prod_p_mw, data["0000"]["prod_p"], rtol=1e-5)
    np.testing.assert_allclose(c.prod_v_pu, np.tile(net.gen.vm_pu, (T, 1)), rtol=1e-5)
    # forecast row t (made at t, for t + 1) is planned row t + 1
    np.testing.assert_allclose(c.load_p_planned_mw[1:], data["0000"]["load_p"][:-1] * 1.01,
                               rtol=1e-5)
    assert c.maintenance[2, 3] == 2 and c.maintenance.sum() == 2
    assert str(c.datetimes[0]) == "2019-01-06T00:00" and c.timestep_seconds == 300
    np.testing.assert_array_equal(c.line_limit_a, LIMITS)
    assert f.config.max_number_actionned_lines == 1
    assert f.config.hard_overflow_coefficient == 2.0


def test_env_flows_match_pandapower_and_loading_is_lazy(g2o):
    import pandapower as pp

    folder, net, data = g2o
    env = PowerGridEnv(parameters=str(folder))
    obs, _ = env.reset(options={"chronic": "0001"})
    assert env.chronics.is_loaded("0001") and not env.chronics.is_loaded("0000")
    noop = np.zeros(env.action_space.n, np.int8)
    arr = data["0001"]
    for t in range(2):
        ref = copy.deepcopy(net)
        ref.load["p_mw"], ref.load["q_mvar"] = arr["load_p"][t], arr["load_q"][t]
        ref.gen["p_mw"] = arr["prod_p"][t]
        pp.runpp(ref, tolerance_mva=1e-9)
        p_or = np.r_[ref.res_line.p_from_mw, ref.res_trafo.p_hv_mw]
        np.testing.assert_allclose(obs["active_flows_origin"], p_or, rtol=1e-4,
                                   atol=1e-4 * np.abs(p_or).max())
        np.testing.assert_allclose(obs["active_productions"], ref.res_gen.p_mw, rtol=1e-4,
                                   atol=1e-3)
        obs, *_ = env.step(noop)
    np.testing.assert_array_equal(obs["thermal_limits"], LIMITS)


def test_gym_make_takes_a_grid2op_folder(g2o):
    import gymnasium as gym

    import gym_powergrid  # noqa: F401

    env = gym.make("PowerGrid-case14-v0", parameters=str(g2o[0]))
    obs, _ = env.reset(seed=0)
    assert obs["active_loads"].shape == (11,)
    env.close()


def test_unsupported_parts_reported_once(g2o, caplog):
    import gym_powergrid.grid2op_source as mod

    mod._REPORTED.clear()
    with caplog.at_level(logging.WARNING, logger="gym_powergrid.grid2op_source"):
        Grid2OpFolder(g2o[0])
        Grid2OpFolder(g2o[0])
    msgs = [r.getMessage() for r in caplog.records if "prods_charac.csv" in r.getMessage()]
    assert len(msgs) == 1 and "redispatching" in msgs[0]


def test_missing_file_is_named(tmp_path):
    folder, _, _ = write_grid2op_folder(tmp_path / "g", n_scenarios=1)
    (folder / "chronics/0000/load_q.csv.bz2").unlink()
    env = PowerGridEnv(parameters=str(folder))
    with pytest.raises(ChronicError, match=r"missing scenario file\(s\) load_q"):
        env.reset()


def test_column_count_mismatch_is_named(tmp_path):
    folder, _, _ = write_grid2op_folder(tmp_path / "g", n_scenarios=1)
    p = folder / "chronics/0000/prod_p.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join(";".join(x.split(";")[:-1]) for x in lines) + "\n")
    with pytest.raises(ChronicError, match=r"prod_p\.csv: 4 columns, but the grid has 5"):
        Grid2OpFolder(folder).chronics[0]


def test_unknown_column_name_and_bad_limits(tmp_path):
    folder, _, _ = write_grid2op_folder(tmp_path / "g", n_scenarios=1)
    p = folder / "chronics/0000/prod_p.csv"
    p.write_text(p.read_text().replace("gen_1_0", "gen_x"))
    with pytest.raises(ChronicError, match=r"prod_p\.csv: column names \['gen_x'\]"):
        Grid2OpFolder(folder).chronics[0]
    (folder / "config.py").write_text("config = {'thermal_limits': [1.0, 2.0]}\n")
    with pytest.raises(ConfigurationError, match="thermal_limits must be 20 positive"):
        _ = Grid2OpFolder(folder).thermal_limits_a


def test_distributed_slack_and_missing_grid_refused(tmp_path):
    import pandapower as pp

    folder, net, _ = write_grid2op_folder(tmp_path / "g", n_scenarios=1)
    net.gen.loc[net.gen.index[0], "slack"] = True
    pp.to_json(net, str(folder / "grid.json"))
    with pytest.raises(UnsupportedGridError, match="2 slack=True rows"):
        PowerGridEnv(parameters=str(folder))
    (folder / "grid.json").unlink()
    with pytest.raises(FileNotFoundError, match="no grid.json"):
        Grid2OpFolder(folder)


def test_info_and_new_env_from_grid2op(g2o, tmp_path):
    folder = g2o[0]
    run = [sys.executable, "-m", "gym_powergrid"]
    out = subprocess.run([*run, "info", str(folder), "--json"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert '"count": 2' in out.stdout and '"first_start": "2019-01-06T00:00"' in out.stdout
    out = subprocess.run([*run, "new-env", "conv", "--from-grid2op", str(folder), "--out",
                          str(tmp_path), "-q"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    a, b = PowerGridEnv(parameters=str(folder)), PowerGridEnv(parameters=str(tmp_path / "conv"))
    oa, _ = a.reset(options={"chronic": 1})
    ob, _ = b.reset(options={"chronic": 1})
    np.testing.assert_allclose(ob["ampere_flows"], oa["ampere_flows"], rtol=1e-4)
    assert b.config.max_number_actionned_lines == 1
    bad = subprocess.run([*run, "new-env", "x", "--from-grid2op", str(tmp_path / "nope"),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "no grid.json" in bad.stderr


# ---------------------------------------------------------------- live Grid2Op comparison
@pytest.mark.parametrize("name,scenario", [("l2rpn_case14_sandbox", 0),
                                           ("rte_case14_realistic", 1)])
def test_do_nothing_flows_equal_grid2op_lightsim2grid(name, scenario):
    grid2op = pytest.importorskip("grid2op", reason="grid2op is not installed "
                                  "(pip install grid2op lightsim2grid)")
    lightsim = pytest.importorskip("lightsim2grid", reason="lightsim2grid is not installed")
    import warnings

    folder = Path(grid2op.__file__).parent / "data" / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = grid2op.make(str(folder), backend=lightsim.LightSimBackend())
    go = g.reset(options={"time serie id": scenario})
    env = PowerGridEnv(parameters=str(folder))
    assert list(env.grid.line_name) == list(g.name_line)
    assert list(env.grid.prod_name) == list(g.name_gen)
    assert list(env.grid.load_name) == list(g.name_load)
    obs, _ = env.reset(options={"chronic": scenario})
    noop = np.zeros(env.action_space.n, np.int8)
    steps = 0
    while True:
        pairs = {"p_or": (obs["active_flows_origin"], go.p_or),
                 "q_or": (obs["reactive_flows_origin"], go.q_or),
                 "a_or": (obs["ampere_flows"], go.a_or), "gen_p": (obs["active_productions"],
                                                                  go.gen_p),
                 "gen_q": (obs["reactive_productions"], go.gen_q)}
        for key, (ours, theirs) in pairs.items():
            err = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
            assert err < 1e-4, f"{name} step {steps}: {key} differs by {err:.2e} (relative)"
        assert obs["date_hour"][0] == go.hour_of_day and obs["date_minute"][0] == go.minute_of_hour
        go, _, done, _ = g.step(g.action_space({}))
        obs, _, term, trunc, _ = env.step(noop)
        steps += 1
        if done or not go.line_status.all():
            break  # Grid2Op's first automatic disconnection or its end of episode
        assert not (term or trunc), f"{name}: our episode ended at step {steps}, not Grid2Op's"
    assert steps > 100
    g.close()
