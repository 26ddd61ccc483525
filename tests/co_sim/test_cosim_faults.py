"""Faults on real loopback sockets: garbage, malformed packets, duplicate joins, retries, CURVE."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from gym_powergrid.co_sim import protocol as P
from gym_powergrid.co_sim.keys import generate_curve_keys
from gym_powergrid.co_sim.transport import CurveAuth

pytestmark = pytest.mark.timeout(40)


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _dealer(address: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    return sock


def _packet(msg_type: str, src: str, payload: dict, dst: str = "allocator", seq: int = 0) -> bytes:
    return P.encode(P.Packet(msg_type, src, dst, seq, payload))


def test_garbage_and_malformed_packets_are_dropped_and_counted(
    allocator_factory, node_factory, lv_curves
) -> None:
    alloc = allocator_factory()
    port = _port(alloc.address)
    # 1. raw garbage over TCP: bad ZMTP greetings, random bytes, a half-open connection
    for payload in (os.urandom(300), b"\xff" + os.urandom(64), b"GET / HTTP/1.0\r\n\r\n" * 5,
                    b"\x00" * 64):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            raw.sendall(payload)
            time.sleep(0.05)
    # 2. well-formed ZeroMQ frames holding malformed packets
    bad = [
        b"\xc1\xc1",  # not msgpack
        msgpack.packb({"v": 99, "type": "join"}),  # wrong envelope / version
        msgpack.packb({"v": 1, "type": "join", "src": "x", "dst": "allocator", "seq": 0,
                       "payload": {"address": 5}}),  # bad field type
        msgpack.packb({"v": 1, "type": "voltage", "src": "x", "dst": "allocator", "seq": 0,
                       "payload": {"step": 1, "vm_pu": float("nan")}}),
        _packet(P.STOP, "x", {"reason": "x" * 400}) + b"\x00",  # trailing byte
        b"x" * (P.MAX_MESSAGE_BYTES + 10),  # over the size limit
        pickle_like := b"\x80\x04\x95" + os.urandom(20),
        _packet(P.STEP, "x", {"session": "s", "step": 1}, dst="someone-else"),
    ]
    dealer = _dealer(alloc.address)
    for data in bad:
        dealer.send(data)
    dealer.send_multipart([b"two", b"frames"])
    # 3. a valid packet from an unregistered node
    dealer.send(_packet(P.CURR_ALLOCATION, "ghost", {"step": 0, "time_s": 0.0, "p_mw": 1.0,
                                                     "q_mvar": 0.0, "vm_pu": None}))
    assert pickle_like
    assert _wait(lambda: alloc.statistics().get("malformed", 0) >= len(bad) + 1
                 and alloc.statistics().get("unknown_source", 0) >= 1)
    stats = alloc.statistics()
    assert stats["malformed_oversize"] >= 1 and stats["malformed_dst"] == 1
    assert stats["malformed_frames"] >= 1  # random raw bytes can also parse as extra frames
    assert stats.get("handshake_failed", 0) + stats.get("malformed_msgpack", 0) >= 3
    # 4. service continues: a real node joins and plays lock-step rounds
    node = node_factory(alloc.address, "client1", curve_file=str(lv_curves),
                        meters={"load": "Load_1", "pv": "PV_1"})
    assert alloc.wait_for_nodes(["client1"], 10)
    for step in range(3):
        result = alloc.lockstep_round(step, ["client1"], timeout=5)
        assert set(result.reports) == {"client1"} and not result.late
    assert alloc.nodes().keys() == {"client1"}
    dealer.close()
    assert node.statistics().get("malformed", 0) == 0


def test_node_survives_garbage_and_spoofed_allocator(allocator_factory, node_factory) -> None:
    alloc = allocator_factory()
    node = node_factory(alloc.address, "n1")
    assert alloc.wait_for_nodes(["n1"], 10)
    dealer = _dealer(node.address)
    dealer.send(b"\x93\x01\x02")
    dealer.send(_packet(P.STOP, "mallory", {}, dst="n1"))  # not its allocator
    assert _wait(lambda: node.statistics().get("malformed", 0) >= 1
                 and node.statistics().get("unknown_source", 0) >= 1)
    assert node.running
    assert alloc.lockstep_round(0, ["n1"], timeout=5).reports.keys() == {"n1"}
    dealer.close()


def test_duplicate_joins_keep_one_registration(allocator_factory) -> None:
    alloc = allocator_factory()
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    my_address = f"tcp://127.0.0.1:{port}"
    dealer = _dealer(alloc.address)
    join = {"address": my_address, "incarnation": "inc-1", "mode": "lockstep"}
    for seq in range(5):
        dealer.send(_packet(P.JOIN, "dup", join, seq=seq))
    acks = []
    while len(acks) < 5 and router.poll(3000):
        frames = router.recv_multipart()
        acks.append(P.decode(frames[-1]))
    assert [a.type for a in acks] == [P.JOIN_ACK] * 5
    assert {a.payload["session"] for a in acks} == {alloc.session}
    stats = alloc.statistics()
    assert stats["joins"] == 1 and stats["duplicate_joins"] == 4
    assert list(alloc.nodes()) == ["dup"] and alloc.nodes()["dup"].joins == 1
    # a new incarnation of a live id is refused (a hijack) unless it proves it is that node
    dealer.send(_packet(P.JOIN, "dup", {**join, "incarnation": "inc-2"}, seq=9))
    assert _wait(lambda: alloc.statistics().get("identity_conflicts", 0) == 1)
    assert alloc.nodes()["dup"].incarnation == "inc-1"
    token = acks[0].payload["token"]
    dealer.send(_packet(P.JOIN, "dup", {**join, "incarnation": "inc-2", "token": token}, seq=10))
    assert _wait(lambda: alloc.statistics().get("rejoins", 0) == 1)
    assert list(alloc.nodes()) == ["dup"] and alloc.nodes()["dup"].incarnation == "inc-2"
    # a node of the wrong mode is refused with a reason
    dealer.send(_packet(P.JOIN, "rt", {**join, "mode": "realtime", "incarnation": "x"}))
    refused = None
    while router.poll(3000):
        packet = P.decode(router.recv_multipart()[-1])
        if packet.dst == "rt":
            refused = packet
            break
    assert refused is not None and refused.payload["accepted"] is False
    assert "mode" in refused.payload["reason"]
    dealer.close()
    router.close()


def test_allocation_is_retried_until_acknowledged(allocator_factory) -> None:
    alloc = allocator_factory(allocation_retry_s=0.1)
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer = _dealer(alloc.address)
    dealer.send(_packet(P.JOIN, "slow", {"address": f"tcp://127.0.0.1:{port}",
                                         "incarnation": "i", "mode": "lockstep"}))
    assert alloc.wait_for_nodes(["slow"], 5)
    future = alloc.send_allocation("slow", 2.0, 0.5, 300.0)
    seen, token = [], None
    while len(seen) < 3 and router.poll(3000):  # ignore the first two sends
        packet = P.decode(router.recv_multipart()[-1])
        if packet.type == P.ALLOCATION:
            seen.append(packet)
        elif packet.type == P.JOIN_ACK:
            token = packet.payload["token"]
    assert len({p.payload["allocation_id"] for p in seen}) == 1
    aid = seen[0].payload["allocation_id"]
    assert seen[0].payload["session"] == alloc.session
    ack = {"allocation_id": aid, "p_mw": 2.0, "q_mvar": 0.5, "clipped": False}
    dealer.send(_packet(P.ALLOCATION_ACK, "slow", ack, seq=1))  # without the token: spoofed
    assert _wait(lambda: alloc.statistics().get("spoofed", 0) == 1)
    dealer.send(_packet(P.ALLOCATION_ACK, "slow", {**ack, "token": token}, seq=2))
    assert future.result(5)["allocation_id"] == aid
    assert alloc.statistics()["allocation_retries"] >= 2
    with pytest.raises(KeyError):
        alloc.send_allocation("nobody", 1.0, 0.0, 1.0).result(5)
    dealer.close()
    router.close()


def test_node_applies_allocation_within_cap(allocator_factory, node_factory, lv_curves) -> None:
    alloc = allocator_factory()
    node_factory(alloc.address, "c1", curve_file=str(lv_curves),
                 meters={"load": "Load_1", "pv": "PV_1"}, cap_mw=0.01)
    assert alloc.wait_for_nodes(["c1"], 10)
    ack = alloc.send_allocation("c1", 0.5, -0.002, duration_s=600.0).result(5)
    assert ack == {"allocation_id": ack["allocation_id"], "p_mw": 0.01, "q_mvar": -0.002,
                   "clipped": True}
    # applied at virtual time 0 for 600 s: step 1 (300 s) is overridden, step 2 (600 s) is not
    reports = [alloc.lockstep_round(k, ["c1"], timeout=5).reports["c1"] for k in (1, 2)]
    assert (reports[0].p_mw, reports[0].q_mvar) == (0.01, -0.002) and not reports[0].meters
    assert reports[1].p_mw != 0.01 and set(reports[1].meters) == {"load", "pv"}


def test_curve_allocator_refuses_clients_without_the_right_key(
    tmp_path: Path, allocator_factory, node_factory
) -> None:
    keys = generate_curve_keys(tmp_path / "keys", ["allocator", "good"])
    generate_curve_keys(tmp_path / "other", ["intruder"])
    public_dir = tmp_path / "keys" / "public"
    alloc = allocator_factory(curve=CurveAuth(secret_key_file=str(keys["allocator"][1]),
                                              authorized_keys_dir=str(public_dir)))
    server_key = str(keys["allocator"][0])
    good = node_factory(alloc.address, "good", curve=CurveAuth(
        secret_key_file=str(keys["good"][1]), authorized_keys_dir=str(public_dir),
        server_public_key_file=server_key))
    intruder = node_factory(alloc.address, "intruder", curve=CurveAuth(
        secret_key_file=str(tmp_path / "other" / "private" / "intruder.key_secret"),
        authorized_keys_dir=str(public_dir), server_public_key_file=server_key))
    assert alloc.wait_for_nodes(["good"], 10)
    result = alloc.lockstep_round(0, timeout=5)
    assert set(result.reports) == {"good"}
    assert good.joined
    assert _wait(lambda: alloc.statistics().get("auth_failed", 0) >= 1)
    time.sleep(0.3)
    assert not intruder.joined and "intruder" not in alloc.nodes()
    # a plain (non-CURVE) client cannot even complete the handshake
    plain = _dealer(alloc.address)
    plain.send(_packet(P.JOIN, "plain", {"address": "tcp://127.0.0.1:1", "incarnation": "p",
                                         "mode": "lockstep"}))
    assert _wait(lambda: alloc.statistics().get("handshake_failed", 0) >= 2)
    assert set(alloc.nodes()) == {"good"} and alloc.statistics().get("malformed", 0) == 0
    plain.close()


def test_slow_callback_does_not_block_the_allocator(allocator_factory, node_factory) -> None:
    seen: list[tuple[str, int]] = []

    def slow(report, node_id):
        time.sleep(0.3)
        seen.append((node_id, report.step))

    alloc = allocator_factory(allocation_updated=slow)
    node_factory(alloc.address, "n1")
    assert alloc.wait_for_nodes(["n1"], 10)
    t0 = time.monotonic()
    for step in range(5):
        assert alloc.lockstep_round(step, ["n1"], timeout=5).reports.keys() == {"n1"}
    assert time.monotonic() - t0 < 1.0  # 5 rounds while the callback sleeps 1.5 s in total
    assert _wait(lambda: len(seen) == 5, timeout=5)
    assert seen == [("n1", k) for k in range(5)]  # in order, none lost
