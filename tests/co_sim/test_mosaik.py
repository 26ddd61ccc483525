"""mosaik: the grid simulator equals the lock-step co-simulation; failures stop cleanly.

Skipped with the reason when mosaik, mosaik-api-v3 or mosaik-csv is not installed.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("mosaik", reason='mosaik is missing (pip install "gym-powergrid[mosaik]")')
pytest.importorskip("mosaik_api_v3", reason='pip install "gym-powergrid[mosaik]"')
pytest.importorskip("mosaik_csv", reason='pip install "gym-powergrid[mosaik]"')

from gym_powergrid.co_sim.mosaik import META, GridSimulator  # noqa: E402
from gym_powergrid.co_sim.mosaik_scenario import MosaikRunError, run_mosaik_scenario  # noqa: E402
from gym_powergrid.co_sim.scenario import load_scenario, run_scenario  # noqa: E402

HERE = Path(__file__).resolve().parent
N_STEPS = 288  # the whole day: night, PV noon, evening peak


@pytest.mark.timeout(300)
def test_mosaik_equals_lockstep_cosimulation(tmp_path, monkeypatch):
    from gym_powergrid.co_sim import bridge

    # pandapower's default tolerance (1e-8 MVA, warm-started) leaves ~3e-9 p.u. on this
    # 0.4 kV feeder: the lock-step side solves to 1e-11 MVA to compare at 1e-9 p.u.
    init = bridge.PandapowerBridge.__init__

    def tight(self, *args, **kwargs):
        kwargs["runpp_kwargs"] = {"tolerance_mva": 1e-11, **(kwargs.get("runpp_kwargs") or {})}
        init(self, *args, **kwargs)

    monkeypatch.setattr(bridge.PandapowerBridge, "__init__", tight)
    scn = load_scenario("lv_example")
    lockstep = run_scenario(scn, steps=N_STEPS, workdir=tmp_path / "nodes")["rounds"]
    on_mosaik = run_mosaik_scenario(scn, steps=N_STEPS)["rounds"]
    assert len(lockstep) == len(on_mosaik) == N_STEPS
    worst = 0.0
    for a, b in zip(lockstep, on_mosaik):
        assert a["step"] == b["step"] and a["late"] == [] and a["gone"] == [] and b["converged"]
        assert set(a["bus_vm_pu"]) == set(b["bus_vm_pu"]) == {0, 1}
        for bus, v in a["bus_vm_pu"].items():
            worst = max(worst, abs(v - b["bus_vm_pu"][bus]))
        assert a["vm_pu"].keys() == b["vm_pu"].keys()
    assert worst < 1e-9
    load_bus = [r["bus_vm_pu"][1] for r in on_mosaik]
    assert max(load_bus) - min(load_bus) > 1e-3  # the curves really drive the voltage


def _children(sim, grid, kind):
    return [c["eid"] for c in grid["children"] if c["type"] == kind]


def test_simulator_api_entities_and_switches():
    sim = GridSimulator()
    meta = sim.init("Grid-0", time_resolution=1.0)
    assert meta["api_version"] == "3.0" and set(META["models"]) == {
        "Grid", "Bus", "Load", "Production", "Line"}
    grid = sim.create(1, "Grid", grid="case14", step_size=3600)[0]
    assert len(_children(sim, grid, "Bus")) == 14 and len(_children(sim, grid, "Line")) == 20
    load = _children(sim, grid, "Load")[0]
    line = _children(sim, grid, "Line")[0]
    bus = _children(sim, grid, "Bus")[1]
    assert sim.step(0, {}, 10_000) == 3600
    base = sim.get_data({line: ["p_or_mw", "usage", "in_service"], bus: ["vm_pu"]})
    assert base[line]["in_service"] == 1 and base[line]["p_or_mw"] > 0
    # more load, then a line switched off by an agent: the flows follow
    nxt = sim.step(3600, {load: {"p_mw": {"csv.x": 30.0}, "q_mvar": {"csv.x": 5.0}}}, 10_000)
    assert nxt == 7200
    assert sim.get_data({load: ["p_mw"]})[load]["p_mw"] == pytest.approx(30.0)
    sim.step(7200, {line: {"in_service": {"agent.a": 0}}}, 10_000)
    out = sim.get_data({line: ["p_or_mw", "in_service"], grid["eid"]: ["converged"]})
    assert out[line] == {"p_or_mw": 0.0, "in_service": 0} and out[grid["eid"]]["converged"] == 1
    with pytest.raises(ValueError, match="in_service must be 0 or 1"):
        sim.step(10800, {line: {"in_service": {"agent.a": 2}}}, 10_000)
    with pytest.raises(ValueError, match="p_mw = nan is not a finite number"):
        sim.step(10800, {load: {"p_mw": {"csv.x": math.nan}}}, 10_000)
    with pytest.raises(ValueError, match="only 'Grid' can be created"):
        sim.create(1, "Load")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.timeout(120)
@pytest.mark.parametrize("in_process", [True, False])
def test_simulator_raising_mid_run(tmp_path, monkeypatch, in_process):
    monkeypatch.syspath_prepend(str(HERE))
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("FAILING_GRID_PID_FILE", str(pid_file))
    grid = ({"python": "_failing_mosaik_sim:FailingGrid"} if in_process else
            {"cmd": f"{sys.executable} {HERE / '_failing_mosaik_sim.py'} %(addr)s"})
    with pytest.raises(MosaikRunError) as info:
        run_mosaik_scenario(load_scenario("lv_example"), steps=10, sim_config={"Grid": grid})
    text = str(info.value)
    assert "mosaik co-simulation of 'lv_example' failed" in text
    if in_process:
        assert "grid simulator broke at time 900" in text
    else:
        assert "no voltages from step 3 (time 900 s) on" in text
        pid = int(pid_file.read_text())
        assert pid != os.getpid() and not _alive(pid)  # no simulator process left behind


def test_cli_cosim_mosaik(tmp_path, capsys):
    from gym_powergrid.co_sim.cli import cosim_main

    out = tmp_path / "res"
    assert cosim_main(["mosaik", "lv_example", "--steps", "12", "--out", str(out), "--quiet",
                       "--no-plot"]) == 0
    lines = (out / "voltages.csv").read_text().splitlines()
    assert len(lines) == 13 and lines[0].startswith("step,vm_pu_client1")
    assert "lv_example: 12 steps" in capsys.readouterr().out
    assert cosim_main(["mosaik", "lv_example", "--steps", "9999", "--out", str(out)]) == 2
    assert "steps must be in 1..288" in capsys.readouterr().err
