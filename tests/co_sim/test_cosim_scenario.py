"""Shipped LV example (net, curves, scenario), configuration errors, missing extras, CLI."""

from __future__ import annotations

import builtins
import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from gym_powergrid.co_sim.config import NodeConfig
from gym_powergrid.co_sim.curves import read_curves, write_curves
from gym_powergrid.co_sim.scenario import load_scenario
from gym_powergrid.co_sim.scenarios import (
    available,
    generate_lv_curves,
    lv_example_net,
)
from gym_powergrid.errors import ChronicError, ConfigurationError, MissingExtraError

pytestmark = pytest.mark.timeout(60)


def test_shipped_curves_are_24h_of_5_minutes_and_reproducible(lv_curves: Path) -> None:
    curves = read_curves(lv_curves)
    assert curves.n_rows == 288 and curves.step_s == 300.0
    assert curves.meters == [m for i in range(1, 6) for m in (f"Load_{i}", f"PV_{i}")]
    regenerated = generate_lv_curves(2019)
    for meter in curves.meters:
        np.testing.assert_allclose(curves.p_mw[meter], regenerated["p_kw"][meter] / 1e3,
                                   atol=1e-7)
        assert (curves.p_mw[meter] >= 0).all()
    pv = curves.p_mw["PV_1"]
    assert pv[:60].max() == 0.0 and pv[144] > 0  # dark at night, sunny at noon


def test_lv_example_net_matches_the_seed() -> None:
    net = lv_example_net()
    assert list(net.bus["vn_kv"]) == [0.4, 0.4]
    assert list(net.bus["name"]) == ["MV/LV substation", "Load"]
    assert float(net.ext_grid.at[0, "vm_pu"]) == 1.025
    assert list(net.load["name"]) == [f"{k}_{i}" for i in range(1, 6) for k in ("Load", "PV")]
    assert (net.load["bus"] == 1).all()
    line = net.line.iloc[0]
    assert (line.length_km, line.r_ohm_per_km, line.x_ohm_per_km, line.c_nf_per_km,
            line.max_i_ka) == (0.1, 0.411, 0.12, 220.0, 0.282)


def test_shipped_scenario_loads() -> None:
    assert "lv_example" in available()
    scn = load_scenario("lv_example")
    assert scn.mode == "lockstep" and scn.steps == 288 and scn.curves is not None
    assert scn.curves.is_file()
    assert [n["id"] for n in scn.nodes] == [f"client{i}" for i in range(1, 6)]
    assert all(n.get("host", "local") == "local" for n in scn.nodes)


def test_scenario_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {pandapower: lv_example}\nnodes: [{id: a, element: 0}]\nspeeed: 3\n")
    with pytest.raises(ConfigurationError, match="speeed"):
        load_scenario(bad)
    bad.write_text("grid: {}\nnodes: [{id: a, element: 0}]\n")
    with pytest.raises(ConfigurationError, match="grid"):
        load_scenario(bad)
    bad.write_text("grid: {env: x}\nnodes: [{id: a, element: 0}, {id: a, element: 1}]\n")
    with pytest.raises(ConfigurationError, match="unique"):
        load_scenario(bad)
    with pytest.raises(ConfigurationError, match="available"):
        load_scenario("no_such_scenario")


def test_node_config_validation() -> None:
    cfg = NodeConfig(node_id="a", allocator="127.0.0.1:5555")
    assert NodeConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ConfigurationError, match="colour"):
        NodeConfig.from_dict({"node_id": "a", "allocator": "x:1", "colour": "red"})
    with pytest.raises(ConfigurationError, match="mode"):
        NodeConfig(node_id="a", allocator="x:1", mode="turbo")
    with pytest.raises(ConfigurationError, match="speed"):
        NodeConfig(node_id="a", allocator="x:1", speed=-1)
    with pytest.raises(ConfigurationError, match="meters"):
        NodeConfig(node_id="a", allocator="x:1", curve_file="c.csv")
    with pytest.raises(ConfigurationError, match="node_id"):
        NodeConfig(node_id="", allocator="x:1")


def test_curves_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("timestamp,a_p_kw,a_q_kvar\n0,1,2\n300,1\n")
    with pytest.raises(ChronicError, match="line 3"):
        read_curves(path)
    path.write_text("timestamp,a_p_kw,a_watts\n0,1,2\n")
    with pytest.raises(ChronicError, match="a_watts"):
        read_curves(path)
    path.write_text("timestamp,a_p_kw,a_q_kvar\n0,nan,2\n300,1,1\n")
    with pytest.raises(ChronicError, match="NaN"):
        read_curves(path)
    out = write_curves(tmp_path / "w.csv.gz", ["0", "60"], {"m": [1.0, 2.0]}, {"m": [0.5, 0.0]})
    curves = read_curves(out)
    assert curves.step_s == 60 and curves.value("m", 3) == (0.002, 0.0)


def test_missing_extra_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "zmq" or name.startswith("zmq."):
            raise ImportError("No module named 'zmq'")
        return real_import(name, *args, **kwargs)

    import importlib

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: fake_import(name))
    from gym_powergrid.co_sim import _deps

    with pytest.raises(MissingExtraError, match=r'pip install "gym-powergrid\[cosim\]"'):
        _deps.zmq()


@pytest.mark.timeout(90)
def test_cli_runs_a_small_scenario(tmp_path: Path, lv_curves: Path, capsys) -> None:
    from gym_powergrid.co_sim.cli import cosim_main

    scenario = tmp_path / "two.yaml"
    scenario.write_text(
        f"name: two\ngrid: {{pandapower: lv_example}}\ncurves: {lv_curves}\nsteps: 6\n"
        "step_timeout_s: 5\nnodes:\n"
        "  - {id: client1, meters: {load: Load_1, pv: PV_1}, element: {load: Load_1, pv: PV_1},"
        " keepalive_s: 0.5}\n"
        "  - {id: client2, meters: {load: Load_2, pv: PV_2}, element: Load_2, keepalive_s: 0.5}\n"
    )
    out = tmp_path / "out"
    assert cosim_main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(open(out / "voltages.csv")))
    assert [int(r["step"]) for r in rows] == list(range(6))
    assert all(1.0 < float(r["vm_pu_client1"]) < 1.025 for r in rows)
    assert all(r["late"] == "" and r["gone"] == "" for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["late_rounds"] == 0
    assert "client1 stops: 6 voltages received" in (out / "client1.log").read_text()
    assert "two: 6 steps" in capsys.readouterr().out
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "voltage.png").stat().st_size > 1000
    assert cosim_main(["run", str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2


def test_module_entry_point_and_small_commands(tmp_path: Path, capsys) -> None:
    import subprocess
    import sys

    from gym_powergrid.co_sim.cli import cosim_main

    out = subprocess.run([sys.executable, "-m", "gym_powergrid.co_sim", "list"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "lv_example" in out.stdout.split()
    assert cosim_main(["keys", str(tmp_path / "k"), "allocator", "n1"]) == 0
    assert (tmp_path / "k" / "public" / "n1.key").is_file()
    assert (tmp_path / "k" / "private" / "allocator.key_secret").is_file()
    assert cosim_main(["curves", str(tmp_path / "c.csv.gz")]) == 0
    assert read_curves(tmp_path / "c.csv.gz").n_rows == 288
    assert cosim_main(["node", "--config", '{"node_id": "x"}']) == 2  # names the missing key
