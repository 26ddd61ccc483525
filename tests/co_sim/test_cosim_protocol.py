"""The wire protocol: round trips, and every kind of malformed packet refused with a reason."""

from __future__ import annotations

import math
import pickle

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gym_powergrid.co_sim import protocol as P

pytestmark = pytest.mark.timeout(60)


def _raw(**overrides: object) -> bytes:
    env = {"v": P.PROTOCOL_VERSION, "type": "step", "src": "allocator", "dst": "n1", "seq": 3,
           "payload": {"session": "s", "step": 4}}
    env.update(overrides)
    return msgpack.packb(env, use_bin_type=True)


def test_round_trip_every_type() -> None:
    samples = {
        P.JOIN: {"address": "tcp://127.0.0.1:5000", "incarnation": "abc", "mode": "lockstep"},
        P.JOIN_ACK: {"session": "s1", "accepted": True, "step": None},
        P.ALLOCATION: {"allocation_id": 7, "p_mw": 1.5, "q_mvar": -0.2, "duration_s": 60.0},
        P.ALLOCATION_ACK: {"allocation_id": 7, "p_mw": 1.0, "q_mvar": 0.0, "clipped": True},
        P.CURR_ALLOCATION: {"step": 2, "time_s": 600.0, "p_mw": 0.001, "q_mvar": 0.0,
                            "vm_pu": 1.02, "meters": {"load": (0.002, 0.001), "pv": (0.001, 0)}},
        P.STEP: {"session": "s1", "step": 9},
        P.VOLTAGE: {"step": 9, "vm_pu": 0.98},
        P.STOP: {"reason": "done"},
        P.STOP_ACK: {},
        P.LEAVE: {},
        P.LEAVE_ACK: {},
    }
    assert set(samples) == P.MESSAGE_TYPES
    for msg_type, payload in samples.items():
        packet = P.Packet(msg_type, "a", "b", 1, payload)
        out = P.decode(P.encode(packet))
        assert (out.type, out.src, out.dst, out.seq) == (msg_type, "a", "b", 1)
        assert set(out.payload) == set(payload)
    report = P.Report.from_packet(P.decode(P.encode(
        P.Packet(P.CURR_ALLOCATION, "n1", "allocator", 0, samples[P.CURR_ALLOCATION]))))
    assert report.p_value == 0.001 and report.meters["pv"] == (0.001, 0.0)


def test_integers_are_accepted_as_floats() -> None:
    packet = P.decode(_raw(type="voltage", payload={"step": 1, "vm_pu": 1}))
    assert packet.payload["vm_pu"] == 1.0 and isinstance(packet.payload["vm_pu"], float)


_MALFORMED = [
    (b"\xc1\xc1\xc1", "msgpack"),  # 0xc1 is never used in msgpack
    (b"", "msgpack"),
    (_raw() + b"\x00", "msgpack"),  # trailing bytes
    (msgpack.packb([1, 2, 3]), "envelope"),
    (msgpack.packb({"v": 1}), "envelope"),
    (msgpack.packb({**msgpack.unpackb(_raw()), "x": 1}), "envelope"),
    (_raw(v=2), "version"),
    (_raw(v=True), "version"),
    (_raw(type="hello"), "type"),
    (_raw(type=5), "type"),
    (_raw(src=5), "value"),
    (_raw(src="x" * 1000), "value"),
    (_raw(seq=-1), "value"),
    (_raw(seq=1.5), "value"),
    (_raw(payload=[1]), "field"),
    (_raw(payload={"session": "s"}), "field"),
    (_raw(payload={"session": "s", "step": 1, "more": 2}), "field"),
    (_raw(payload={"session": "s", "step": "1"}), "value"),
    (_raw(payload={"session": "s", "step": True}), "value"),
    (_raw(type="voltage", payload={"step": 1, "vm_pu": math.nan}), "value"),
    (_raw(type="voltage", payload={"step": 1, "vm_pu": math.inf}), "value"),
    (_raw(type="allocation", payload={"allocation_id": 1, "p_mw": 1.0, "q_mvar": 0.0,
                                      "duration_s": 0.0}), "value"),
    (_raw(type="curr_allocation", payload={"step": 1, "time_s": 0.0, "p_mw": 0.0,
                                           "q_mvar": 0.0, "vm_pu": None,
                                           "meters": {"a": [1.0]}}), "value"),
    (msgpack.packb(msgpack.ExtType(5, b"xx")), "msgpack"),
    (pickle.dumps({"v": 1}), "msgpack"),
]


@pytest.mark.parametrize(
    ("data", "reason"),
    [pytest.param(d, r, id=f"{i}-{r}") for i, (d, r) in enumerate(_MALFORMED)],
)
def test_malformed_packets_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(P.ProtocolError) as info:
        P.decode(data)
    assert info.value.reason == reason


def test_size_limit() -> None:
    big = _raw(type="stop", payload={"reason": "x" * 400})
    with pytest.raises(P.ProtocolError) as info:
        P.decode(big, max_bytes=100)
    assert info.value.reason == "oversize"
    assert P.decode(big, max_bytes=len(big)).type == "stop"


def test_encode_refuses_what_decode_would() -> None:
    with pytest.raises(P.ProtocolError):
        P.encode(P.Packet(P.VOLTAGE, "a", "b", 0, {"step": 1, "vm_pu": float("nan")}))
    with pytest.raises(P.ProtocolError):
        P.encode(P.Packet(P.STEP, "a", "b", 0, {"step": 1}))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_protocol_error(data: bytes) -> None:
    try:
        P.decode(data)
    except P.ProtocolError:
        pass


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(P.MESSAGE_TYPES)), st.dictionaries(st.text(max_size=12), _values,
                                                                  max_size=5))
def test_random_payloads_only_raise_protocol_error(msg_type: str, payload: dict) -> None:
    try:
        P.decode(_raw(type=msg_type, payload=payload))
    except P.ProtocolError:
        pass
