"""End to end with real node processes on loopback: the LV example, a killed node, the nodes of
a closed allocator."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from gym_powergrid.co_sim.bridge import EnvBridge, PandapowerBridge
from gym_powergrid.co_sim.config import NodeConfig
from gym_powergrid.co_sim.curves import read_curves
from gym_powergrid.co_sim.deploy import LocalNode
from gym_powergrid.co_sim.scenarios import lv_example_net

N_STEPS = 50
MAPPING = {f"client{i}": {"load": f"Load_{i}", "pv": f"PV_{i}"} for i in range(1, 6)}


def _run_lv(sim_factory, lv_config, tag: str) -> tuple[list[dict], dict[str, list]]:
    sim = sim_factory()
    records_dir = Path(sim.workdir) / f"records-{tag}"
    records_dir.mkdir()
    for i in range(1, 6):
        sim.create_local_node(lv_config(sim, i, record_file=str(records_dir / f"client{i}.json")))
    sim.wait_for_nodes(timeout=60)
    bridge = PandapowerBridge(lv_example_net(), sim.allocator, MAPPING, timeout_s=10)
    history = [bridge.step(k) for k in range(N_STEPS)]
    logs = sim.stop(timeout=5)
    assert set(logs) == set(MAPPING)
    records = {n: json.loads((records_dir / f"{n}.json").read_text())["voltages"]
               for n in MAPPING}
    return history, records


@pytest.mark.timeout(150)
def test_lv_example_five_processes_two_identical_runs(sim_factory, lv_config, lv_curves):
    import pandapower as pp

    first, first_records = _run_lv(sim_factory, lv_config, "a")
    second, second_records = _run_lv(sim_factory, lv_config, "b")
    for rec in first:
        assert rec["converged"] and rec["late"] == [] and rec["gone"] == []
    v1 = [r["bus_vm_pu"][1] for r in first]
    assert v1 == [r["bus_vm_pu"][1] for r in second]  # bit-identical across runs
    assert first_records == second_records
    for voltages in first_records.values():  # every node was told every voltage
        assert [s for s, _ in voltages] == list(range(N_STEPS))
        assert [v for _, v in voltages] == v1
    assert len(set(v1)) > 10  # the voltage follows the curves
    # the injections really came from the curves replayed by the nodes
    curves = read_curves(lv_curves)
    net = lv_example_net()
    for k in (0, 17, N_STEPS - 1):
        for i in range(1, 6):
            for meter, sign in ((f"Load_{i}", 1.0), (f"PV_{i}", -1.0)):
                p, q = curves.value(meter, k)
                idx = net.load.index[net.load["name"] == meter][0]
                net.load.at[idx, "p_mw"], net.load.at[idx, "q_mvar"] = sign * p, sign * q
        pp.runpp(net, numba=False)
        assert abs(net.res_bus.at[1, "vm_pu"] - v1[k]) < 1e-8


@pytest.mark.timeout(120)
def test_killed_node_is_reported_and_rejoins(sim_factory, lv_config, fake_env):
    sim = sim_factory(node_timeout_s=1.0)
    handles = {i: sim.create_local_node(lv_config(sim, i, scale=1000.0, keepalive_s=0.3))
               for i in (1, 2, 3)}
    sim.wait_for_nodes(timeout=60)
    mapping = {"client1": ("load", 0), "client2": ("load", 4), "client3": ("prod", 2)}
    bridge = EnvBridge(fake_env, sim.allocator, mapping, timeout_s=0.4)
    obs, info = bridge.reset()
    assert info["cosim"]["applied"] == ["client1", "client2", "client3"]
    infos = []
    for k in range(1, 40):
        if k == 5:
            handles[2].kill()
        if k == 20:
            handles[2] = sim.create_local_node(lv_config(sim, 2, scale=1000.0, keepalive_s=0.3))
            sim.wait_for_nodes(["client2"], timeout=60)
        obs, _, _, _, info = bridge.step(np.zeros(3))
        infos.append(info["cosim"])
        if k < 5 or k > 20:
            assert info["cosim"]["fallback"] == [], (k, info["cosim"])
            assert obs["active_loads"][4] != fake_env.chronic(k)[0][4]
        if 5 <= k <= 20:
            assert {"client1", "client3"} <= set(info["cosim"]["applied"])
        if 5 < k < 20 and info["cosim"]["fallback"]:
            assert info["cosim"]["fallback"] == ["client2"]
            # the chronic value was kept for the missing node
            assert obs["active_loads"][4] == np.float32(fake_env.chronic(k)[0][4])
    during = infos[4:19]
    assert any("client2" in i["late"] for i in during)
    assert any("client2" in i["gone"] for i in during)
    assert sim.allocator.statistics()["rejoins"] >= 1
    # SIGTERM: the node leaves politely and exits with status 0
    handles[1].process.send_signal(signal.SIGTERM)
    assert handles[1].process.wait(20) == 0
    deadline = time.monotonic() + 5
    while sim.allocator.nodes()["client1"].status != "left" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.allocator.nodes()["client1"].status == "left"
    logs = sim.stop(timeout=5)
    assert "joined allocator session" in logs["client2"]  # the new process's log was collected


@pytest.mark.timeout(120)
def test_nodes_of_a_closed_allocator_stop_and_the_next_run_refuses_them(
        tmp_path, allocator_factory, lv_curves):
    first = allocator_factory()
    port = first.address.rsplit(":", 1)[1]
    nodes = [
        LocalNode(
            NodeConfig(node_id=f"client{i}", allocator=first.address, curve_file=str(lv_curves),
                       meters={"load": f"Load_{i}", "pv": f"PV_{i}"}, keepalive_s=0.3,
                       join_retry_s=0.1, allocator_timeout_s=3.0),
            tmp_path,
        )
        for i in (1, 2)
    ]
    try:
        assert first.wait_for_nodes(["client1", "client2"], 60)
        for k in range(5):
            assert set(first.lockstep_round(k, timeout=10).reports) == {"client1", "client2"}
        first.close()
        # a new run on the same port: the old nodes keep asking, are refused, then stop
        second = allocator_factory(bind=f"127.0.0.1:{port}")
        assert second.session != first.session
        t0 = time.monotonic()
        for node in nodes:
            assert node.process.wait(30) == 0
        stopped_s = time.monotonic() - t0
        assert second.active_nodes() == [] and second.nodes() == {}
        assert second.statistics()["joins_stale_session"] >= 2
        for node in nodes:
            assert "never joins another run" in node.log_text() or \
                "nothing from the allocator" in node.log_text()
        assert stopped_s < 15
    finally:
        for node in nodes:
            if node.is_alive():
                node.kill()
