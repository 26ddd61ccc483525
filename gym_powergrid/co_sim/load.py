"""The network load agent: a client that replays its curve and reports to its allocator.

Life of a :class:`NetworkLoad`:

1. It sends ``join`` to its allocator every ``join_retry_s`` until a ``join_ack`` arrives. Once
   joined, it re-sends ``join`` (with the token of its registration) whenever the allocator has
   been silent for ``keepalive_s``. A node belongs to one session (``NodeConfig.session``, set
   by deployments, or the first one that accepts it): it never joins another, and stops when
   refused as a node of a stale session.
   When nothing comes from the allocator for ``allocator_timeout_s`` (killed, network lost)
   the node stops by itself: no orphan processes.
2. A simpy process replays the curve: every row spacing ``dt`` it sets the node's meters from the
   next row. In real-time mode it also reports (``curr_allocation``) at each row; in lock-step
   mode the allocator's ``step`` k advances the clock to ``k * dt`` and the node reports row k.
3. An ``allocation`` command overrides the net P/Q for its duration, clipped to ``cap_mw``; it is
   acknowledged (``allocation_ack``), and a repeated id is acknowledged again but applied once.
4. ``voltage`` packets are recorded; the last one is sent back in each report.
5. ``stop`` is acknowledged and ends the loop; :meth:`NetworkLoad.leave` leaves politely.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

from gym_powergrid.co_sim import protocol as P
from gym_powergrid.co_sim.comm import CommAgent, LogThrottle
from gym_powergrid.co_sim.config import NodeConfig
from gym_powergrid.co_sim.curves import Curves, read_curves
from gym_powergrid.co_sim.transport import normalize_address

logger = logging.getLogger(__name__)

DEFAULT_STEP_S = 300.0  # row spacing of a node without curves
MAX_RECORDS = 1_000_000  # voltages/allocations kept in memory (the oldest are dropped)


@functools.lru_cache(maxsize=16)
def _read_cached(path: str, mtime_ns: int) -> Curves:
    return read_curves(path)


def _cached_curves(path: str) -> Curves:
    """Read a curves file once per process (many multiplexed nodes often share one file)."""
    resolved = Path(path).resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError:
        return read_curves(path)  # raises the ChronicError naming the file
    return _read_cached(str(resolved), mtime)


class NetworkLoad(CommAgent):
    """A load/production client that talks to a :class:`~gym_powergrid.co_sim.NetworkAllocator`.

    Args:
        config: The node configuration; or pass its fields as keyword arguments.
        **kwargs: Fields of :class:`~gym_powergrid.co_sim.config.NodeConfig` when ``config`` is
            None (``node_id`` and ``allocator`` are required).

    Attributes:
        voltages: ``(step, vm_pu)`` pairs told by the allocator, in arrival order (the last
            million).
        joined: Whether the allocator acknowledged the join of the current session.
        session: Allocator session id of the last ``join_ack``.
        step: Current lock-step step (or curve row index since start in real-time mode).
    """

    def __init__(self, config: NodeConfig | None = None, **kwargs: Any) -> None:
        self.config = config if config is not None else NodeConfig(**kwargs)
        cfg = self.config
        super().__init__(
            cfg.node_id,
            cfg.bind,
            advertise=cfg.advertise,
            curve=cfg.curve,
            max_message_bytes=cfg.max_message_bytes,
            mode=cfg.mode,
            speed=cfg.speed,
        )
        try:
            self.curves: Curves | None = _cached_curves(cfg.curve_file) if cfg.curve_file else None
            if self.curves is not None:
                for column in cfg.meters.values():
                    self.curves.value(column, 0)  # KeyError names the missing column
        except Exception:
            self.transport.close(linger_ms=0)
            raise
        self.dt = self.curves.step_s if self.curves is not None else DEFAULT_STEP_S
        self.incarnation = uuid.uuid4().hex[:16]
        self.allocator_address = normalize_address(cfg.allocator)
        self._server_key = cfg.curve.server_key() if cfg.curve is not None else None
        self.joined = False
        self.session: str | None = cfg.session
        self.token: str | None = None
        self.step = 0
        self.row = cfg.start_row
        self.meter_values: dict[str, tuple[float, float]] = {}
        self.p_mw = 0.0
        self.q_mvar = 0.0
        self.last_vm_pu: float | None = None
        self.voltages: deque[tuple[int, float]] = deque(maxlen=MAX_RECORDS)
        self.allocations: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
        self._override: tuple[float, float, float] | None = None  # (p, q, until virtual time)
        self._acks: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._last_heard = time.monotonic()
        self._leaving = False
        self._throttle = LogThrottle(logger)
        self.orphaned = False
        """True when the node stopped because the allocator went silent or refused it."""
        self._replay_proc: Any = None

    # ---------------------------------------------------------------------------- set-up
    def _on_start(self) -> None:
        self._start_replay()
        self._send_join()
        self.call_later(self.config.keepalive_s / 2, self._keepalive)
        logger.info("node %s at %s joining %s (%s mode)", self.node_id, self.address,
                    self.allocator_address, self.mode)

    def _start_replay(self) -> None:
        self._set_row(self.config.start_row)
        self._replay_proc = self.schedule(self._replay())

    def _replay(self) -> Any:
        while True:
            yield self.env.timeout(self.dt)
            index = round(self.env.now / self.dt)
            self._set_row(self.config.start_row + index)
            if self.mode == "realtime":
                self.step = index
                self._report()

    def _set_row(self, row: int) -> None:
        self.row = row
        cfg = self.config
        p_net = q_net = 0.0
        values: dict[str, tuple[float, float]] = {}
        if self.curves is not None:
            for meter, column in cfg.meters.items():
                p, q = self.curves.value(column, row)
                p, q = p * cfg.scale, q * cfg.scale
                values[meter] = (p, q)
                sign = -1.0 if meter in cfg.production_meters else 1.0
                p_net += sign * p
                q_net += sign * q
        self.meter_values = values
        self.p_mw, self.q_mvar = p_net, q_net

    # ---------------------------------------------------------------------------- sending
    def _to_allocator(self, msg_type: str, payload: dict[str, Any]) -> bool:
        return self.send(
            self.config.allocator_id, self.allocator_address, msg_type, payload, self._server_key
        )

    def _send_join(self) -> None:
        payload: dict[str, Any] = {
            "address": self.address,
            "incarnation": self.incarnation,
            "mode": self.mode,
        }
        if self.session is not None:
            payload["session"] = self.session
        if self.token is not None:
            payload["token"] = self.token
        if self.transport.public_key is not None:
            payload["curve_public_key"] = self.transport.public_key
        self._to_allocator(P.JOIN, payload)
        self.stats["join_sent"] += 1
        if not self.joined and not self._leaving:
            self.call_later(self.config.join_retry_s, self._retry_join)

    def _retry_join(self) -> None:
        if not self.joined and not self._leaving and not self._stop_requested.is_set():
            self.stats["join_retries"] += 1
            self._send_join()

    def _keepalive(self) -> None:
        if self._stop_requested.is_set():
            return
        silent = time.monotonic() - self._last_heard
        if silent > self.config.allocator_timeout_s:
            logger.error("%s: nothing from the allocator at %s for %.1f s: it is gone; the node "
                         "stops (allocator_timeout_s=%g)", self.node_id, self.allocator_address,
                         silent, self.config.allocator_timeout_s)
            self.stats["allocator_timeout"] += 1
            self.orphaned = True
            self.stop()
            return
        if self.joined and silent > self.config.keepalive_s:
            self.stats["keepalive_joins"] += 1
            self._send_join()
        self.call_later(self.config.keepalive_s / 2, self._keepalive)

    def current(self) -> tuple[float, float]:
        """Return the net ``(p_mw, q_mvar)`` now, with an active allocation applied."""
        if self._override is not None:
            p, q, until = self._override
            if self.now < until:
                return p, q
            self._override = None
        return self.p_mw, self.q_mvar

    def _report(self) -> None:
        if not self.joined:
            return
        p, q = self.current()
        payload: dict[str, Any] = {
            "step": self.step,
            "time_s": float(self.now),
            "p_mw": p,
            "q_mvar": q,
            "vm_pu": self.last_vm_pu,
        }
        if self._override is None and self.meter_values:
            payload["meters"] = self.meter_values
        if self.token is not None:
            payload["token"] = self.token
        self._to_allocator(P.CURR_ALLOCATION, payload)
        self.stats["reports"] += 1

    # ---------------------------------------------------------------------------- receiving
    def _from_allocator(self, packet: P.Packet) -> bool:
        if packet.src != self.config.allocator_id:
            self.stats["unknown_source"] += 1
            self._throttle(logging.WARNING, "unknown_source", "%s dropped %s from unknown "
                           "source %r", self.node_id, packet.type, packet.src)
            return False
        self._last_heard = time.monotonic()
        return True

    def _handle_join_ack(self, packet: P.Packet, user: str | None) -> None:
        pl = packet.payload
        if not pl["accepted"]:
            # a refusal is not a sign of life of our allocator (a new run refuses a stale node
            # until allocator_timeout_s stops it) and, once joined, may be forged: ignored
            self.stats["join_refused"] += 1
            if self.joined or packet.src != self.config.allocator_id:
                return
            reason = pl.get("reason") or ""
            self._throttle(logging.ERROR, "refused", "%s: allocator refused the join: %s",
                           self.node_id, reason)
            if reason.startswith("stale session"):
                self.orphaned = True
                self.stop()
            return
        if not self._from_allocator(packet):
            return
        if self.session is not None and pl["session"] != self.session:
            self.stats["foreign_session"] += 1
            logger.error("%s belongs to session %s and does not join session %s; it stops",
                         self.node_id, self.session, pl["session"])
            self.orphaned = True
            self.stop()
            return
        self.token = pl.get("token") or self.token
        if not self.joined:
            self.session = pl["session"]
            # a new session restarts the replay: at the allocator's step in lock-step mode,
            # at the first row in real-time mode (nodes joining together stay aligned)
            self.step = (pl["step"] or 0) if self.mode == "lockstep" else 0
            self.reset_clock(self.step * self.dt)
            self._override = None
            self._start_replay()
            self._set_row(self.config.start_row + self.step)
            logger.info("%s joined allocator session %s at step %s", self.node_id, self.session,
                        self.step)
        self.joined = True

    def _session_ok(self, packet: P.Packet) -> bool:
        if not self.joined or packet.payload.get("session") != self.session:
            self.stats["stale"] += 1
            return False
        return True

    def _handle_step(self, packet: P.Packet, user: str | None) -> None:
        if not self._from_allocator(packet) or not self._session_ok(packet):
            return
        if self.mode != "lockstep":
            self.stats["unexpected"] += 1
            return
        step = packet.payload["step"]
        if step < self.step:
            self.stats["stale"] += 1
            return
        self.advance_to(step * self.dt)
        self.step = step
        self._report()

    def _handle_voltage(self, packet: P.Packet, user: str | None) -> None:
        if not self._from_allocator(packet) or not self._session_ok(packet):
            return
        step, vm = packet.payload["step"], packet.payload["vm_pu"]
        self.last_vm_pu = vm
        self.voltages.append((step, vm))
        logger.debug("%s step %d: vm = %.6f pu", self.node_id, step, vm)

    def _handle_allocation(self, packet: P.Packet, user: str | None) -> None:
        if not self._from_allocator(packet) or not self._session_ok(packet):
            return
        alloc = P.Allocation.from_payload(packet.payload)
        ack = self._acks.get(alloc.allocation_id)
        if ack is None:
            cap = self.config.cap_mw
            p, q = alloc.p_mw, alloc.q_mvar
            if cap is not None:
                p, q = min(max(p, -cap), cap), min(max(q, -cap), cap)
            clipped = (p, q) != (alloc.p_mw, alloc.q_mvar)
            self._override = (p, q, self.now + alloc.duration_s)
            ack = {"allocation_id": alloc.allocation_id, "p_mw": p, "q_mvar": q,
                   "clipped": clipped}
            self._acks[alloc.allocation_id] = ack
            while len(self._acks) > 1024:
                self._acks.popitem(last=False)
            self.allocations.append({**ack, "duration_s": alloc.duration_s, "at_s": self.now})
            logger.info("%s applies allocation %d: P=%.6g MW Q=%.6g MVAr for %g s%s",
                        self.node_id, alloc.allocation_id, p, q, alloc.duration_s,
                        " (clipped to cap)" if clipped else "")
        else:
            self.stats["duplicate_allocations"] += 1
        self._to_allocator(P.ALLOCATION_ACK, {**ack, "token": self.token})

    def _handle_stop(self, packet: P.Packet, user: str | None) -> None:
        if not self._from_allocator(packet) or not self._session_ok(packet):
            return
        logger.info("%s stopped by the allocator (%s)", self.node_id,
                    packet.payload.get("reason") or "no reason")
        self._to_allocator(P.STOP_ACK, {"token": self.token})
        self.stop()

    def _handle_leave_ack(self, packet: P.Packet, user: str | None) -> None:
        if self._from_allocator(packet) and self._leaving:
            self.stop()

    # ---------------------------------------------------------------------------- leaving
    def leave(self, reason: str = "leaving", timeout_s: float = 2.0) -> None:
        """Thread-safe: send ``leave`` (retried) and stop after ``leave_ack`` or ``timeout_s``."""

        def begin() -> None:
            if self._leaving:
                return
            self._leaving = True
            deadline = time.monotonic() + timeout_s

            def attempt() -> None:
                if self._stop_requested.is_set():
                    return
                if time.monotonic() >= deadline or not self.joined:
                    self.stop()
                    return
                self._to_allocator(P.LEAVE, {"reason": reason, "token": self.token})
                self.call_later(min(0.3, timeout_s), attempt)

            attempt()

        if self.running:
            self.submit(begin)
        else:
            self.stop()

    def _on_stop(self) -> None:
        logger.info("node %s stops: %d voltages received, last %s, stats %s", self.node_id,
                    len(self.voltages), self.last_vm_pu, self.statistics())
        if self.config.record_file:
            record = {
                "node_id": self.node_id,
                "voltages": list(self.voltages),
                "allocations": list(self.allocations),
                "stats": self.statistics(),
            }
            try:
                Path(self.config.record_file).write_text(json.dumps(record))
            except OSError:
                logger.exception("%s cannot write its record file", self.node_id)
        super()._on_stop()
