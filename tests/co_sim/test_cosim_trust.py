"""Attacks on a running co-simulation with real node processes and sockets (issue 13).

Each test plays one attacker, a plain pyzmq client on the same machine, against real node
processes, and checks that the result is unchanged or that the run says it is not clean:
hijack of a node id, spoofed reports, implausible reports, a join flood, a killed allocator
(its nodes must not become orphans) and nodes of a previous session.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from gym_powergrid.co_sim import protocol as P
from gym_powergrid.co_sim.allocator import NetworkAllocator
from gym_powergrid.co_sim.bridge import EnvBridge
from gym_powergrid.co_sim.config import NodeConfig
from gym_powergrid.co_sim.curves import read_curves
from gym_powergrid.co_sim.deploy import LocalNode, process_exists
from gym_powergrid.co_sim.keys import generate_curve_keys
from gym_powergrid.co_sim.load import NetworkLoad
from gym_powergrid.co_sim.transport import CurveAuth
from gym_powergrid.errors import ConfigurationError

pytestmark = pytest.mark.timeout(180)

SCALE = 1000.0
MAPPING = {"client1": ("load", 0), "client2": ("load", 4)}


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Attacker:
    """A ROUTER to receive what the allocator sends it, a DEALER to talk to the allocator."""

    def __init__(self, allocator: str) -> None:
        ctx = zmq.Context.instance()
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.address = f"tcp://127.0.0.1:{self.router.bind_to_random_port('tcp://127.0.0.1')}"
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.SNDHWM, 100_000)
        self.dealer.connect(allocator)
        self.seq = 0

    def send(self, msg_type: str, src: str, payload: dict) -> None:
        self.seq += 1
        self.dealer.send(P.encode(P.Packet(msg_type, src, "allocator", self.seq, payload)))

    def join(self, node_id: str, incarnation: str = "evil", **extra: str) -> None:
        self.send(P.JOIN, node_id, {"address": self.address, "incarnation": incarnation,
                                    "mode": "lockstep", **extra})

    def received(self, wait_ms: int = 500) -> list[P.Packet]:
        out = []
        while self.router.poll(wait_ms):
            out.append(P.decode(self.router.recv_multipart()[-1]))
            wait_ms = 100
        return out

    def close(self) -> None:
        self.dealer.close()
        self.router.close()


def _expected_load_p(lv_curves: Path, i: int, row: int) -> np.float64:
    curves = read_curves(lv_curves)
    return SCALE * (curves.value(f"Load_{i}", row)[0] - curves.value(f"PV_{i}", row)[0])


def _two_nodes(sim_factory, lv_config, **kwargs):
    sim = sim_factory(**kwargs)
    for i in (1, 2):
        sim.create_local_node(lv_config(sim, i, scale=SCALE))
    sim.wait_for_nodes(timeout=90)
    return sim


def _assert_injections_are_the_nodes(fake_env, lv_curves, n_rounds: int) -> None:
    for r in range(n_rounds):
        assert fake_env.injected[r][0] == pytest.approx(_expected_load_p(lv_curves, 1, r))
        assert fake_env.injected[r][4] == pytest.approx(_expected_load_p(lv_curves, 2, r))


def test_hijack_of_a_live_node_id_is_refused_and_the_result_unchanged(
        sim_factory, lv_config, fake_env, lv_curves):
    sim = _two_nodes(sim_factory, lv_config)
    address = sim.allocator.nodes()["client1"].address
    bridge = EnvBridge(fake_env, sim.allocator, MAPPING, timeout_s=10)
    attacker = Attacker(sim.allocator.address)
    try:
        bridge.reset()
        for k in range(1, 12):
            if k == 3:
                attacker.join("client1")
                attacker.join("client1", token="guessed-token")
            _, _, _, _, info = bridge.step(np.zeros(3))
            assert info["cosim"]["fallback"] == [], info["cosim"]
        got = attacker.received()
        assert got and all(p.type == P.JOIN_ACK and not p.payload["accepted"] for p in got)
        assert "held by a live node" in got[0].payload["reason"]
        stats = sim.allocator.statistics()
        assert stats["identity_conflicts"] == 2 and stats["joins_refused"] == 2
        assert sim.allocator.nodes()["client1"].address == address
        _assert_injections_are_the_nodes(fake_env, lv_curves, 12)
    finally:
        attacker.close()


def test_spoofed_reports_are_dropped_and_the_result_unchanged(
        sim_factory, lv_config, fake_env, lv_curves):
    sim = _two_nodes(sim_factory, lv_config)
    bridge = EnvBridge(fake_env, sim.allocator, MAPPING, timeout_s=10)
    attacker = Attacker(sim.allocator.address)
    stop = threading.Event()

    def spam() -> None:  # reports for every step, claiming to be client1, with and w/o a token
        while not stop.is_set():
            for step in range(15):
                payload = {"step": step, "time_s": 0.0, "p_mw": 50.0, "q_mvar": 0.0,
                           "vm_pu": None}
                attacker.send(P.CURR_ALLOCATION, "client1", payload)
                attacker.send(P.CURR_ALLOCATION, "client1", {**payload, "token": "0" * 16})
            time.sleep(0.01)

    thread = threading.Thread(target=spam, daemon=True)
    try:
        bridge.reset()
        thread.start()
        for _ in range(1, 12):
            bridge.step(np.zeros(3))
        stop.set()
        thread.join(5)
        assert sim.allocator.statistics()["spoofed"] > 20
        _assert_injections_are_the_nodes(fake_env, lv_curves, 12)
    finally:
        stop.set()
        attacker.close()


def test_implausible_reports_are_rejected_counted_and_replaced(sim_factory, lv_config, fake_env):
    sim = sim_factory()
    sim.create_local_node(lv_config(sim, 1, scale=SCALE))
    sim.create_local_node(lv_config(sim, 2, scale=1e9))  # reports ~1e6 MW: a broken meter
    sim.wait_for_nodes(timeout=90)
    bridge = EnvBridge(fake_env, sim.allocator, MAPPING, timeout_s=10)
    bridge.reset()
    for k in range(1, 6):
        obs, _, _, _, info = bridge.step(np.zeros(3))
        assert info["cosim"]["rejected"] == ["client2"]
        assert info["cosim"]["fallback"] == ["client2"] and info["cosim"]["late"] == []
        assert obs["active_loads"][4] == np.float32(fake_env.chronic(k)[0][4])  # chronic kept
        assert obs["active_loads"][0] != np.float32(fake_env.chronic(k)[0][0])  # node used
    stats = sim.allocator.statistics()
    assert stats["reports_rejected"] >= 6
    assert sim.allocator.nodes()["client2"].rejected >= 6


def test_cli_run_with_an_implausible_node_says_it_is_not_clean(tmp_path, lv_curves):
    from gym_powergrid.co_sim.cli import EXIT_NOT_CLEAN, cosim_main
    from gym_powergrid.co_sim.curves import write_curves

    curves = read_curves(lv_curves)
    evil = tmp_path / "evil.csv"
    write_curves(evil, curves.timestamps,
                 {m: np.full(curves.n_rows, 1e9) for m in curves.meters},
                 {m: np.zeros(curves.n_rows) for m in curves.meters})
    text = (Path(__file__).parents[2] / "gym_powergrid/co_sim/scenarios/lv_example/"
            "scenario.yaml").read_text()
    text = text.replace("curves: curves.csv.gz", f"curves: {lv_curves}")
    text = text.replace("{id: client5, host: local,",
                        f"{{id: client5, host: local, curve_file: {evil}, keepalive_s: 0.5,")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(text)
    out = tmp_path / "out"
    assert cosim_main(["run", str(scenario), "--steps", "4", "--out", str(out), "--no-plot",
                       "--quiet"]) == EXIT_NOT_CLEAN
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clean"] is False
    assert summary["rejected_node_rounds"] == 4 and summary["reports_rejected"] >= 4
    assert "rejected_node_rounds=4" in summary["problems"]
    rows = (out / "voltages.csv").read_text().splitlines()
    assert rows[0].endswith("converged,late,gone,rejected")
    assert all(r.endswith(",1,,,client5") for r in rows[1:])


def test_join_flood_does_not_lock_out_real_nodes(allocator_factory, tmp_path, lv_curves, caplog):
    caplog.set_level(logging.INFO, logger="gym_powergrid.co_sim.allocator")
    alloc = allocator_factory(node_timeout_s=1.0, evict_after_s=2.0, max_nodes=50)
    one = Attacker(alloc.address)
    many = [Attacker(alloc.address) for _ in range(20)]
    try:
        for i in range(10_000):  # one connection: rate-limited
            one.join(f"fake{i}")
        for j, att in enumerate(many):  # 20 connections x 10 ids: fills the 50 active slots
            for i in range(10):
                att.join(f"many{j}-{i}")
        assert _wait(lambda: alloc.statistics().get("joins_rate_limited", 0) >= 9_900, 30)
        assert len(alloc.nodes()) <= 41 + 50
        node = LocalNode(NodeConfig(node_id="real", allocator=alloc.address,
                                    curve_file=str(lv_curves), meters={"load": "Load_1"},
                                    keepalive_s=0.3, join_retry_s=0.1), tmp_path)
        try:
            # the flood's ids go silent, become gone, stop counting and are then forgotten
            assert alloc.wait_for_nodes(["real"], 60)
            assert _wait(lambda: list(alloc.nodes()) == ["real"], 30)
            assert alloc.lockstep_round(0, ["real"], timeout=10).reports.keys() == {"real"}
            stats = alloc.statistics()
            assert stats["nodes_evicted"] >= 50
        finally:
            node.stop(timeout=0.1)
        assert len(caplog.records) < 300  # ~10,000 bad joins, a throttled log
    finally:
        for att in [one, *many]:
            att.close()


_ALLOCATOR_SCRIPT = """
import json, sys, time
from gym_powergrid.co_sim.deploy import SmartGridSimulation
sim = SmartGridSimulation(workdir=sys.argv[1], node_timeout_s=2.0)
for i in (1, 2):
    sim.create_local_node(sim.node_config(
        f"client{i}", curve_file=sys.argv[2], meters={"load": f"Load_{i}"}, keepalive_s=0.3,
        join_retry_s=0.1, allocator_timeout_s=3.0))
sim.wait_for_nodes(timeout=90)
for k in range(3):  # the nodes are joined and playing
    assert len(sim.allocator.lockstep_round(k, timeout=30).reports) == 2
print(json.dumps({"address": sim.address, "session": sim.allocator.session,
                  "pids": [h.pid for h in sim.handles]}), flush=True)
time.sleep(600)
"""


def test_killed_allocator_leaves_no_orphans_and_its_nodes_never_join_the_next_run(
        tmp_path, lv_curves, allocator_factory):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", _ALLOCATOR_SCRIPT, str(tmp_path),
                             str(lv_curves)], stdout=subprocess.PIPE, env=env, text=True)
    pids: list[int] = []
    try:
        info = json.loads(proc.stdout.readline())
        pids = info["pids"]
        assert len(pids) == 2 and all(process_exists(p) for p in pids)
        proc.send_signal(signal.SIGKILL)  # no clean-up at all
        proc.wait(10)
        # the next run on the same port
        nxt = allocator_factory(bind=info["address"].removeprefix("tcp://"))
        assert _wait(lambda: not any(process_exists(p) for p in pids), 40)
        assert nxt.nodes() == {}
        assert nxt.statistics().get("joins_stale_session", 0) >= 1
        for i in (1, 2):
            log = (tmp_path / f"client{i}.log").read_text()
            assert "nothing from the allocator" in log
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids:
            if process_exists(pid):
                os.kill(pid, signal.SIGKILL)


def test_stale_node_of_a_previous_session_is_refused_and_stops(allocator_factory, tmp_path,
                                                               lv_curves):
    alloc = allocator_factory()
    node = LocalNode(NodeConfig(node_id="client1", allocator=alloc.address, session="old-run",
                                curve_file=str(lv_curves), meters={"load": "Load_1"},
                                keepalive_s=0.3, join_retry_s=0.1), tmp_path)
    try:
        assert node.process.wait(30) == 0
        assert alloc.nodes() == {} and alloc.statistics()["joins_stale_session"] >= 1
        assert "stale session" in node.log_text()
    finally:
        if node.is_alive():
            node.kill()


def test_curve_keys_are_bound_to_their_node_ids(tmp_path, allocator_factory, node_factory):
    keys = generate_curve_keys(tmp_path / "keys", ["allocator", "client1", "client2"])
    public = str(tmp_path / "keys" / "public")
    alloc = allocator_factory(curve=CurveAuth(str(keys["allocator"][1]), public))

    def curve(name: str) -> CurveAuth:
        return CurveAuth(str(keys[name][1]), public, str(keys["allocator"][0]))

    good = node_factory(alloc.address, "client1", curve=curve("client1"))
    thief = node_factory(alloc.address, "client1", curve=curve("client2"))  # wrong key for the id
    other = node_factory(alloc.address, "client3", curve=curve("client2"))  # id of no key
    assert alloc.wait_for_nodes(["client1"], 20)
    assert _wait(lambda: alloc.statistics().get("identity_conflicts", 0) >= 2)
    assert alloc.nodes()["client1"].public_key == good.transport.public_key
    assert not thief.joined and not other.joined
    assert "client3" not in alloc.nodes()
    assert set(alloc.lockstep_round(0, ["client1"], timeout=5).reports) == {"client1"}


def test_binding_beyond_loopback_without_curve_is_refused():
    with pytest.raises(ConfigurationError, match="gym-powergrid cosim keys"):
        NetworkAllocator("0.0.0.0:0")
    with pytest.raises(ConfigurationError, match="without CURVE"):
        NetworkLoad(node_id="n", allocator="127.0.0.1:5", bind="0.0.0.0:0")
