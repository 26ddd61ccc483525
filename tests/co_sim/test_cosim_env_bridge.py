"""The env bridge: against a fake env implementing the hook contract, and the real case14 env."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from gym_powergrid.co_sim.bridge import EnvBridge
from gym_powergrid.co_sim.curves import read_curves
from gym_powergrid.errors import ConfigurationError

pytestmark = pytest.mark.timeout(60)

SCALE = 1000.0  # LV client curves in kW read as MW-scale values on a transmission grid


def _lv_node(node_factory, alloc, lv_curves, i: int, **kw):
    return node_factory(alloc.address, f"client{i}", curve_file=str(lv_curves),
                        meters={"load": f"Load_{i}", "pv": f"PV_{i}"}, scale=SCALE, **kw)


def test_mapped_injections_come_from_the_nodes(
    allocator_factory, node_factory, fake_env, lv_curves
) -> None:
    alloc = allocator_factory()
    nodes = {i: _lv_node(node_factory, alloc, lv_curves, i) for i in (1, 2, 3)}
    _lv_node(node_factory, alloc, lv_curves, 4)  # joined but not mapped: ignored by the bridge
    assert alloc.wait_for_nodes(["client1", "client2", "client3", "client4"], 10)
    mapping = {"client1": ("load", 3), "client2": ("load", 7), "client3": ("prod", 1)}
    bridge = EnvBridge(fake_env, alloc, mapping, timeout_s=5)
    curves = read_curves(lv_curves)

    def net(i: int, row: int) -> tuple[float, float]:
        lp, lq = curves.value(f"Load_{i}", row)
        pp, pq = curves.value(f"PV_{i}", row)
        return SCALE * (lp - pp), SCALE * (lq - pq)

    obs, info = bridge.reset()
    assert info["cosim"] == {"round": 0, "env_step": 0, "applied": sorted(mapping),
                             "late": [], "gone": [], "rejected": [], "fallback": []}
    for k in range(1, 8):
        obs, _, _, _, info = bridge.step(None)
        assert info["cosim"]["round"] == k and info["cosim"]["fallback"] == []
        chronic = fake_env.chronic(k)
        injected = fake_env.injected[-1]
        assert injected[3] == pytest.approx(net(1, k)[0], abs=1e-9)
        assert injected[7] == pytest.approx(net(2, k)[0], abs=1e-9)
        unmapped = [j for j in range(11) if j not in (3, 7)]
        np.testing.assert_array_equal(injected[unmapped], chronic[0][unmapped])
        assert obs["active_productions"][1] == np.float32(-net(3, k)[0])
        assert obs["active_loads"][3] == np.float32(net(1, k)[0])
    # each node was told the voltage of its element, step by step
    alloc.lockstep_round(8, timeout=5)  # a round trip: the voltages of step 7 have arrived
    expected_v = {1: obs["voltage_loads"][3], 2: obs["voltage_loads"][7],
                  3: obs["voltage_productions"][1]}
    for i, node in nodes.items():
        steps = [s for s, _ in node.voltages]
        assert steps == list(range(8))
        assert node.voltages[-1][1] == pytest.approx(float(expected_v[i]))
    bridge.detach()
    assert fake_env.hook is None


def test_late_and_gone_nodes_fall_back_to_chronics(
    allocator_factory, node_factory, fake_env, lv_curves
) -> None:
    alloc = allocator_factory(node_timeout_s=0.6)
    _lv_node(node_factory, alloc, lv_curves, 1)
    quiet = _lv_node(node_factory, alloc, lv_curves, 2)
    assert alloc.wait_for_nodes(["client1", "client2"], 10)
    mapping = {"client1": ("load", 0), "client2": ("load", 1), "never": ("load", 2)}
    bridge = EnvBridge(fake_env, alloc, mapping, timeout_s=0.2)
    _, info = bridge.reset()
    assert info["cosim"]["gone"] == ["never"] and info["cosim"]["late"] == []
    quiet.stop()  # the loop ends without leaving: the allocator only sees silence
    quiet.join(5)
    _, _, _, _, info = bridge.step(None)
    assert info["cosim"]["late"] == ["client2"]
    assert info["cosim"]["fallback"] == ["client2", "never"]
    assert fake_env.injected[-1][1] == fake_env.chronic(1)[0][1]
    assert fake_env.injected[-1][0] != fake_env.chronic(1)[0][0]
    deadline_steps = 0
    while "client2" not in info["cosim"]["gone"] and deadline_steps < 30:
        _, _, _, _, info = bridge.step(None)
        deadline_steps += 1
    assert "client2" in info["cosim"]["gone"] and info["cosim"]["late"] == []


def test_realtime_bridge_uses_latest_reports(allocator_factory, node_factory, fake_env,
                                              lv_curves) -> None:
    alloc = allocator_factory(mode="realtime", speed=3000.0)
    _lv_node(node_factory, alloc, lv_curves, 1, mode="realtime", speed=3000.0)
    assert alloc.wait_for_nodes(["client1"], 10)
    bridge = EnvBridge(fake_env, alloc, {"client1": ("load", 5)})
    assert not bridge.lockstep
    deadline = 50
    while not alloc.latest_reports() and deadline:
        time.sleep(0.05)
        deadline -= 1
    _, _, _, _, info = bridge.step(None)
    assert info["cosim"]["applied"] == ["client1"]


def test_mapping_errors(allocator_factory, fake_env) -> None:
    alloc = allocator_factory()
    with pytest.raises(ConfigurationError, match="'load' or 'prod'"):
        EnvBridge(fake_env, alloc, {"a": ("line", 0)})
    with pytest.raises(ConfigurationError, match="empty"):
        EnvBridge(fake_env, alloc, {})
    bridge = EnvBridge(fake_env, alloc, {"a": ("prod", 9)}, timeout_s=0.1)
    with pytest.raises(ConfigurationError, match="5 prods"):
        bridge.reset()


def _case14_or_skip():
    if importlib.util.find_spec("gym_powergrid.envs") is None:
        pytest.skip("gym_powergrid.envs is not written yet")
    import gymnasium

    import gym_powergrid  # noqa: F401 - registers the ids
    from gym_powergrid.errors import PowerGridError

    try:
        return gymnasium.make("PowerGrid-case14-v0")
    except (ImportError, PowerGridError, FileNotFoundError) as exc:
        # the env module exists but its parameter folders/chronics are still being written;
        # the env's own tests fail loudly on this, here it only means "not yet"
        pytest.skip(f"PowerGrid-case14-v0 cannot be built yet: {exc}")


@pytest.mark.timeout(240)
def test_case14_fed_by_five_node_processes_is_deterministic(sim_factory, lv_config) -> None:
    env = _case14_or_skip()
    try:
        if not hasattr(env.unwrapped, "set_injection_hook"):
            pytest.skip("PowerGridEnv has no set_injection_hook yet")
        runs = []
        for _ in range(2):
            sim = sim_factory()
            for i in range(1, 6):
                sim.create_local_node(lv_config(sim, i, scale=SCALE))
            sim.wait_for_nodes(timeout=60)
            mapping = {f"client{i}": ("load", i) for i in range(1, 6)}
            bridge = EnvBridge(env, sim.allocator, mapping, timeout_s=10)
            action = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)
            bridge.reset(seed=0, options={"chronic": 0, "start_step": 0})
            voltages, loads = [], []
            for _ in range(50):
                obs, _, terminated, truncated, info = bridge.step(action)
                assert info["cosim"]["fallback"] == []
                reports = sim.allocator.latest_reports()
                cut = obs.get("are_loads_cut")
                for i in range(1, 6):  # observations show the agents' injections
                    if cut is None or not cut[i]:
                        assert obs["active_loads"][i] == pytest.approx(
                            reports[f"client{i}"].p_mw, abs=1e-3)
                voltages.append(np.asarray(obs["voltage_loads"]).copy())
                loads.append(np.asarray(obs["active_loads"]).copy())
                if terminated or truncated:
                    bridge.reset()
            bridge.detach()
            sim.stop(timeout=5)
            runs.append((np.array(voltages), np.array(loads)))
        np.testing.assert_array_equal(runs[0][0], runs[1][0])
        np.testing.assert_array_equal(runs[0][1], runs[1][1])
    finally:
        env.close()


@pytest.mark.timeout(120)
def test_pandapower_bridge_in_realtime_mode(allocator_factory, node_factory, lv_curves) -> None:
    from gym_powergrid.co_sim.bridge import PandapowerBridge
    from gym_powergrid.co_sim.scenarios import lv_example_net

    net = lv_example_net()  # import pandapower before the clock starts
    alloc = allocator_factory(mode="realtime", speed=6000.0)  # one 5-min row every 50 ms
    mapping = {f"client{i}": {"load": f"Load_{i}", "pv": f"PV_{i}"} for i in (1, 2)}
    bridge = PandapowerBridge(net, alloc, mapping)
    bridge.warm_up()  # the first power flow of a process is slow: do it before the clock
    nodes = [node_factory(alloc.address, f"client{i}", curve_file=str(lv_curves),
                          meters={"load": f"Load_{i}", "pv": f"PV_{i}"}, mode="realtime",
                          speed=6000.0) for i in (1, 2)]
    assert alloc.wait_for_nodes(["client1", "client2"], 10)
    history = bridge.run_realtime(duration_s=2.0)
    assert len(history) >= 2 and all(r["converged"] for r in history)
    assert len({r["bus_vm_pu"][1] for r in history}) > 1
    assert alloc.allocation_updated is None  # the bridge removed its callback
    assert all(node.voltages for node in nodes)
