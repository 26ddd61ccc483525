"""The co-simulation wire protocol: msgpack packets with a version field, strictly validated.

Every packet on the wire is one msgpack map::

    {"v": 1, "type": "curr_allocation", "src": "client1", "dst": "allocator",
     "seq": 42, "payload": {...}}

``v`` is :data:`PROTOCOL_VERSION`; ``type`` is one of :data:`MESSAGE_TYPES`; ``payload`` is a map
whose fields are fixed per type (see :data:`SCHEMAS`). Nothing else is accepted: unknown keys,
missing fields, wrong value types, non-finite numbers, msgpack extension types, trailing bytes and
packets larger than the size limit all make :func:`decode` raise :class:`ProtocolError`, whose
``reason`` is a short code that nodes count in their statistics before dropping the packet.
Pickle is never used.

Message types:

========================  ==============================================================
``join`` / ``join_ack``   a node asks to join (and keeps re-sending it as a keep-alive when
                          the allocator is silent), naming the session it belongs to once it
                          knows one; the allocator answers with its session and a token that
                          proves the node's identity in later joins
``allocation`` / ``_ack`` the allocator commands a P/Q set-point for a duration; acknowledged
``curr_allocation``       a node reports its current P/Q (and last measured voltage)
``step``                  lock-step: the allocator asks every node for its value of a step
``voltage``               the allocator tells a node the voltage of its bus after a power flow
``stop`` / ``stop_ack``   the allocator stops a node
``leave`` / ``leave_ack`` a node leaves the co-simulation
========================  ==============================================================

Identity: the ``token`` a node receives in its ``join_ack`` goes into every later packet it sends
(``curr_allocation``, acknowledgements, ``leave``, keep-alive ``join``); the allocator drops a
packet whose token does not match the one it gave that ``src``. The allocator's packets to a
node carry its ``session``, which the node checks. Neither is a secret on an untrusted network:
there, CURVE (which authenticates each connection by its key) is required.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from gym_powergrid.co_sim import _deps
from gym_powergrid.errors import PowerGridError

PROTOCOL_VERSION = 1
"""Version written into and required from every packet."""

MAX_MESSAGE_BYTES = 16 * 1024
"""Default size limit of one packet, in bytes."""

MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 512
MAX_METERS = 16
MAX_INT = 2**53

JOIN = "join"
JOIN_ACK = "join_ack"
ALLOCATION = "allocation"
ALLOCATION_ACK = "allocation_ack"
CURR_ALLOCATION = "curr_allocation"
STEP = "step"
VOLTAGE = "voltage"
STOP = "stop"
STOP_ACK = "stop_ack"
LEAVE = "leave"
LEAVE_ACK = "leave_ack"

_ENVELOPE_KEYS = frozenset({"v", "type", "src", "dst", "seq", "payload"})

# Field kinds: "str", "opt_str", "int", "opt_int", "float", "opt_float", "pos_float", "bool",
# "meters" (map name -> [p_mw, q_mvar]).
SCHEMAS: dict[str, dict[str, tuple[str, bool]]] = {
    JOIN: {
        "address": ("str", True),
        "incarnation": ("str", True),
        "mode": ("str", True),
        "curve_public_key": ("opt_str", False),
        "session": ("opt_str", False),
        "token": ("opt_str", False),
    },
    JOIN_ACK: {
        "session": ("str", True),
        "accepted": ("bool", True),
        "step": ("opt_int", True),
        "reason": ("opt_str", False),
        "token": ("opt_str", False),
    },
    ALLOCATION: {
        "allocation_id": ("int", True),
        "p_mw": ("float", True),
        "q_mvar": ("float", True),
        "duration_s": ("pos_float", True),
        "session": ("opt_str", False),
    },
    ALLOCATION_ACK: {
        "allocation_id": ("int", True),
        "p_mw": ("float", True),
        "q_mvar": ("float", True),
        "clipped": ("bool", True),
        "token": ("opt_str", False),
    },
    CURR_ALLOCATION: {
        "step": ("int", True),
        "time_s": ("float", True),
        "p_mw": ("float", True),
        "q_mvar": ("float", True),
        "vm_pu": ("opt_float", True),
        "meters": ("meters", False),
        "token": ("opt_str", False),
    },
    STEP: {"session": ("str", True), "step": ("int", True)},
    VOLTAGE: {"step": ("int", True), "vm_pu": ("float", True), "session": ("opt_str", False)},
    STOP: {"reason": ("opt_str", False), "session": ("opt_str", False)},
    STOP_ACK: {"token": ("opt_str", False)},
    LEAVE: {"reason": ("opt_str", False), "token": ("opt_str", False)},
    LEAVE_ACK: {},
}
"""Payload fields of each message type: name -> (kind, required)."""

MESSAGE_TYPES = frozenset(SCHEMAS)
"""All valid values of the ``type`` field."""


class ProtocolError(PowerGridError, ValueError):
    """A packet is malformed. ``reason`` is a short code used in the node statistics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"malformed co-simulation packet ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class Packet(NamedTuple):
    """One validated message (an immutable named tuple: cheap to build on the hot path).

    Attributes:
        type: One of :data:`MESSAGE_TYPES`.
        src: Id of the sending node.
        dst: Id of the receiving node.
        seq: Sender's sequence number (monotonic per sender process).
        payload: Validated payload; numbers are Python floats/ints, meters are tuples.
    """

    type: str
    src: str
    dst: str
    seq: int
    payload: dict[str, Any] = {}  # shared default, never mutated


@dataclass(frozen=True, slots=True)
class Allocation:
    """A P/Q set-point commanded by the allocator to a node for a duration.

    Attributes:
        allocation_id: Id chosen by the allocator, echoed in the acknowledgement.
        p_mw: Active power in MW (consumption positive).
        q_mvar: Reactive power in MVAr (consumption positive).
        duration_s: How long the set-point holds, in virtual seconds (> 0).
    """

    allocation_id: int
    p_mw: float
    q_mvar: float
    duration_s: float

    def to_payload(self) -> dict[str, Any]:
        """Return the ``allocation`` payload."""
        return {
            "allocation_id": int(self.allocation_id),
            "p_mw": float(self.p_mw),
            "q_mvar": float(self.q_mvar),
            "duration_s": float(self.duration_s),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Allocation:
        """Build from a validated ``allocation`` payload."""
        return cls(
            int(payload["allocation_id"]),
            float(payload["p_mw"]),
            float(payload["q_mvar"]),
            float(payload["duration_s"]),
        )


class Report(NamedTuple):
    """A node's ``curr_allocation`` report as seen by the allocator (an immutable named tuple).

    Attributes:
        node_id: Reporting node.
        step: Lock-step step (or curve row in real-time mode) of the value.
        time_s: Node's virtual time of the value, in seconds.
        p_mw: Net active consumption (consumption meters minus production meters), MW.
        q_mvar: Net reactive consumption, MVAr.
        vm_pu: Last voltage the node was told, or None.
        meters: Per-meter values ``name -> (p_mw, q_mvar)``, as positive magnitudes.
    """

    node_id: str
    step: int
    time_s: float
    p_mw: float
    q_mvar: float
    vm_pu: float | None
    meters: dict[str, tuple[float, float]] = {}  # shared default, never mutated

    # Seed compatibility: SENS callbacks read ``allocation.p_value`` / ``q_value``.
    @property
    def p_value(self) -> float:
        """Alias of :attr:`p_mw` (the SENS example's name)."""
        return self.p_mw

    @property
    def q_value(self) -> float:
        """Alias of :attr:`q_mvar` (the SENS example's name)."""
        return self.q_mvar

    @classmethod
    def from_packet(cls, packet: Packet) -> Report:
        """Build from a validated ``curr_allocation`` packet."""
        p = packet.payload
        return cls(
            packet.src,
            p["step"],
            p["time_s"],
            p["p_mw"],
            p["q_mvar"],
            p["vm_pu"],
            dict(p.get("meters") or {}),
        )


def _ext_hook(code: int, data: bytes) -> Any:
    raise ProtocolError("msgpack", f"extension type {code} is not allowed")


def _check_str(name: str, value: Any, limit: int) -> str:
    if type(value) is not str:
        raise ProtocolError("value", f"field '{name}' must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ProtocolError("value", f"field '{name}' is longer than {limit} characters")
    return value


def _check_number(name: str, value: Any) -> float:
    kind = type(value)
    if kind is float:
        out = value
    elif kind is int:
        out = float(value)
    else:
        raise ProtocolError("value", f"field '{name}' must be a number, got {kind.__name__}")
    if not math.isfinite(out):
        raise ProtocolError("value", f"field '{name}' must be finite, got {value!r}")
    return out


def _check_int(name: str, value: Any) -> int:
    if type(value) is not int:
        raise ProtocolError(
            "value", f"field '{name}' must be an integer, got {type(value).__name__}"
        )
    if not 0 <= value < MAX_INT:
        raise ProtocolError("value", f"field '{name}' must be in [0, 2**53), got {value}")
    return value


def _check_pos_float(name: str, value: Any) -> float:
    out = _check_number(name, value)
    if out <= 0.0:
        raise ProtocolError("value", f"field '{name}' must be > 0, got {value!r}")
    return out


def _check_bool(name: str, value: Any) -> bool:
    if type(value) is not bool:
        raise ProtocolError("value", f"field '{name}' must be a boolean")
    return value


def _check_meters(name: str, value: Any) -> dict[str, tuple[float, float]]:
    if type(value) is not dict:
        raise ProtocolError("value", "field 'meters' must be a map")
    if len(value) > MAX_METERS:
        raise ProtocolError("value", f"field 'meters' has more than {MAX_METERS} entries")
    out: dict[str, tuple[float, float]] = {}
    for key, pq in value.items():
        _check_str("meters key", key, MAX_ID_CHARS)
        if type(pq) not in (list, tuple) or len(pq) != 2:
            raise ProtocolError("value", f"meter '{key}' must be a [p_mw, q_mvar] pair")
        out[key] = (
            _check_number(f"meters.{key}.p", pq[0]),
            _check_number(f"meters.{key}.q", pq[1]),
        )
    return out


_CHECKERS: dict[str, Callable[[str, Any], Any]] = {
    "str": lambda name, value: _check_str(name, value, MAX_TEXT_CHARS),
    "int": _check_int,
    "float": _check_number,
    "pos_float": _check_pos_float,
    "bool": _check_bool,
    "meters": _check_meters,
}

# Schemas compiled once: type -> (field names, [(name, checker, required, nullable), ...])
_COMPILED: dict[str, tuple[frozenset[str], tuple[tuple[str, Any, bool, bool], ...]]] = {
    msg_type: (
        frozenset(fields),
        tuple(
            (name, _CHECKERS[kind.removeprefix("opt_")], required, kind.startswith("opt_"))
            for name, (kind, required) in fields.items()
        ),
    )
    for msg_type, fields in SCHEMAS.items()
}


def validate_payload(msg_type: str, payload: Any) -> dict[str, Any]:
    """Validate a payload against :data:`SCHEMAS` and return a normalised copy.

    Args:
        msg_type: The message type (must be in :data:`MESSAGE_TYPES`).
        payload: The decoded payload.

    Returns:
        A new dict with numbers as Python floats/ints and meters as tuples.

    Raises:
        ProtocolError: If a field is unknown, missing or has a bad value.
    """
    compiled = _COMPILED.get(msg_type)
    if compiled is None:
        raise ProtocolError("type", f"unknown message type {msg_type!r}")
    if type(payload) is not dict:
        raise ProtocolError("field", "payload must be a map")
    names, fields = compiled
    if not names.issuperset(payload):
        unknown = sorted(map(str, set(payload) - names))
        raise ProtocolError("field", f"unknown payload field(s) {unknown}")
    out: dict[str, Any] = {}
    for name, check, required, nullable in fields:
        if name not in payload:
            if required:
                raise ProtocolError("field", f"missing payload field '{name}' for '{msg_type}'")
            continue
        value = payload[name]
        out[name] = None if (nullable and value is None) else check(name, value)
    return out


_LOCAL = threading.local()  # one reusable msgpack Packer per thread


def _packb(obj: Any) -> bytes:
    packer = getattr(_LOCAL, "packer", None)
    if packer is None:
        packer = _LOCAL.packer = _deps.msgpack().Packer(use_bin_type=True)
    return packer.pack(obj)


def _unpackb(data: bytes) -> Any:
    unpackb = getattr(_LOCAL, "unpackb", None)
    if unpackb is None:
        unpackb = _LOCAL.unpackb = _deps.msgpack().unpackb
    return unpackb(data, raw=False, strict_map_key=True, use_list=True, ext_hook=_ext_hook)


def encode(packet: Packet) -> bytes:
    """Encode a packet to msgpack bytes, validating its payload first.

    Args:
        packet: The packet to send.

    Returns:
        The msgpack bytes.

    Raises:
        ProtocolError: If the packet would not pass :func:`decode` on the other side.
    """
    payload = validate_payload(packet.type, packet.payload)
    if "meters" in payload:
        payload["meters"] = {k: list(v) for k, v in payload["meters"].items()}
    _check_str("src", packet.src, MAX_ID_CHARS)
    _check_str("dst", packet.dst, MAX_ID_CHARS)
    _check_int("seq", packet.seq)
    return _packb(
        {
            "v": PROTOCOL_VERSION,
            "type": packet.type,
            "src": packet.src,
            "dst": packet.dst,
            "seq": packet.seq,
            "payload": payload,
        }
    )


def decode(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Packet:
    """Decode and validate one packet received from the network.

    Args:
        data: Raw bytes of one ZeroMQ frame.
        max_bytes: Size limit; larger frames are rejected before decoding.

    Returns:
        The validated :class:`Packet`.

    Raises:
        ProtocolError: With ``reason`` in ``oversize``, ``msgpack``, ``envelope``, ``version``,
            ``type``, ``field`` or ``value``.
    """
    if len(data) > max_bytes:
        raise ProtocolError("oversize", f"{len(data)} bytes > limit {max_bytes}")
    try:
        obj = _unpackb(data)
    except ProtocolError:
        raise
    except Exception as exc:  # msgpack raises several ValueError/TypeError subclasses
        raise ProtocolError("msgpack", f"cannot decode: {type(exc).__name__}: {exc}") from None
    if type(obj) is not dict:
        raise ProtocolError("envelope", f"top level must be a map, got {type(obj).__name__}")
    if len(obj) != len(_ENVELOPE_KEYS) or not _ENVELOPE_KEYS.issuperset(obj):
        raise ProtocolError("envelope", f"envelope keys must be {sorted(_ENVELOPE_KEYS)}")
    version = obj["v"]
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError("version", f"protocol version {version!r} != {PROTOCOL_VERSION}")
    msg_type = obj["type"]
    if type(msg_type) is not str or msg_type not in MESSAGE_TYPES:
        raise ProtocolError("type", f"unknown message type {msg_type!r}")
    src = _check_str("src", obj["src"], MAX_ID_CHARS)
    dst = _check_str("dst", obj["dst"], MAX_ID_CHARS)
    seq = _check_int("seq", obj["seq"])
    payload = validate_payload(msg_type, obj["payload"])
    return Packet(msg_type, src, dst, seq, payload)
