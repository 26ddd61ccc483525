"""The network allocator: registry of load nodes, lock-step rounds, allocations and voltages.

:class:`NetworkAllocator` usually runs its loop in a background thread (:meth:`~NetworkAllocator.
start`); every public method is thread-safe and may be called from the thread that steps the
environment. Reports (``curr_allocation``) are handed to the ``allocation_updated(report,
node_id)`` callback by a separate dispatcher thread, so a slow callback never blocks the network
loop (the SENS example pushes them to a queue).

Node states: ``active`` (joined, heard from within ``node_timeout_s``), ``gone`` (silent too
long; its DEALER is closed so stale packets are not delivered when it comes back), ``left``
(sent ``leave``), ``stopped`` (acknowledged ``stop``). Any of them may ``join`` again; records
that stay inactive for ``evict_after_s`` are forgotten, and only active nodes count against
``max_nodes``.

Trust rules (node ids bound to their registration, tokens, sessions, CURVE key bindings, rate
limits, report bounds) are listed in :mod:`gym_powergrid.co_sim.guard`.
"""

from __future__ import annotations

import itertools
import logging
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from gym_powergrid.co_sim import protocol as P
from gym_powergrid.co_sim.comm import CommAgent, LogThrottle
from gym_powergrid.co_sim.guard import JoinRateLimiter, KeyBindings, report_problem
from gym_powergrid.co_sim.rounds import Collector, NodeRecord, RoundResult
from gym_powergrid.co_sim.transport import CurveAuth

logger = logging.getLogger(__name__)

ReportCallback = Callable[[P.Report, str], None]
__all__ = ["NetworkAllocator", "NodeRecord", "RoundResult"]


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("sending voltages failed: %s", future.exception())


class NetworkAllocator(CommAgent):
    """Serve joins and leaves, keep the node registry, collect reports, send commands.

    Args:
        bind: ``host:port`` of the allocator's ROUTER (port 0: any free port, see
            :attr:`address`).
        node_id: Allocator id (nodes address packets to it).
        advertise: Host announced in :attr:`address` when ``bind`` is a wildcard host.
        mode: ``"lockstep"`` or ``"realtime"``; nodes of the other mode are refused.
        speed: Real-time speed factor (for the allocator's own simpy clock).
        curve: CURVE key files; with ``authorized_keys_dir`` only known nodes may connect.
        node_timeout_s: A node silent this long (wall seconds) is marked gone.
        evict_after_s: An inactive record is forgotten after this long (default
            ``max(10, 5 * node_timeout_s)``).
        allocation_retry_s: Re-send an unacknowledged allocation after this long.
        allocation_max_retries: Give up (the Future fails) after this many re-sends.
        max_nodes: Joins beyond this many active nodes are refused.
        max_message_bytes: Size limit of incoming packets.
        join_rate: Joins per second accepted from one connection (each node has its own), in
            bursts of ``2 * join_rate``; the excess is dropped and counted.
        key_node_ids: With CURVE, key name -> extra node ids (or glob patterns) it may use;
            by default a key may register only the node id equal to its file name.
        report_limits: Node id -> largest plausible |P| and |Q| (MW, MVAr) of its reports
            and meters; see :meth:`set_report_limits`.
        allocation_updated: Callback ``(report, node_id)`` for each report, called from a
            dispatcher thread; may also be assigned after construction.
    """

    def __init__(
        self,
        bind: str = "127.0.0.1:0",
        *,
        node_id: str = "allocator",
        advertise: str | None = None,
        mode: str = "lockstep",
        speed: float = 1.0,
        curve: CurveAuth | None = None,
        node_timeout_s: float = 3.0,
        evict_after_s: float | None = None,
        allocation_retry_s: float = 0.5,
        allocation_max_retries: int = 5,
        max_nodes: int = 10_000,
        max_message_bytes: int = P.MAX_MESSAGE_BYTES,
        join_rate: float = 20.0,
        key_node_ids: Mapping[str, Iterable[str]] | None = None,
        report_limits: Mapping[str, float] | None = None,
        allocation_updated: ReportCallback | None = None,
    ) -> None:
        super().__init__(
            node_id, bind, advertise=advertise, curve=curve, max_message_bytes=max_message_bytes,
            mode=mode, speed=speed,
        )
        self.session = uuid.uuid4().hex[:16]
        self.node_timeout_s = float(node_timeout_s)
        self.evict_after_s = (max(10.0, 5 * self.node_timeout_s) if evict_after_s is None
                              else float(evict_after_s))
        self._join_limiter = JoinRateLimiter(join_rate, 2 * join_rate)
        self._keys = (KeyBindings(curve.authorized_keys_dir, key_node_ids)
                      if curve is not None else None)
        self._limits: dict[str, float] = {}
        if report_limits:
            self.set_report_limits(report_limits)
        self._throttle = LogThrottle(logger)
        self._n_active = 0
        self.allocation_retry_s = float(allocation_retry_s)
        self.allocation_max_retries = int(allocation_max_retries)
        self.max_nodes = int(max_nodes)
        self.allocation_updated: ReportCallback | None = allocation_updated
        self.node_event: Callable[[str, str], None] | None = None
        """Optional callback ``(event, node_id)`` for joined/rejoined/gone/left/stopped."""
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._registry: dict[str, NodeRecord] = {}
        self._step: int | None = None
        self._collector: Collector | None = None
        self._alloc_ids = itertools.count(1)
        self._pending: dict[int, dict[str, Any]] = {}
        self._stop_waiting: set[str] = set()
        self._stop_acked: set[str] = set()
        self._stop_done = threading.Event()
        self._callbacks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None

    # ============================================================================ loop side
    def _on_start(self) -> None:
        self._dispatcher = threading.Thread(
            target=self._dispatch_callbacks, name=f"{self.name}-callbacks", daemon=True
        )
        self._dispatcher.start()
        self.call_later(self._sweep_interval(), self._sweep)
        logger.info("allocator %s listening on %s (session %s, %s mode)", self.node_id,
                    self.address, self.session, self.mode)

    def _on_stop(self) -> None:
        self._callbacks.put(None)
        for pend in self._pending.values():
            pend["future"].cancel()
        self._pending.clear()
        with self._changed:
            self._changed.notify_all()
        logger.info("allocator %s stops; stats %s", self.node_id, self.statistics())
        super()._on_stop()

    def _dispatch_callbacks(self) -> None:
        while True:
            item = self._callbacks.get()
            if item is None:
                return
            callback, report, node_id = item
            try:
                callback(report, node_id)
            except Exception:
                logger.exception("allocation_updated callback failed for %s", node_id)

    def _sweep_interval(self) -> float:
        return max(0.02, min(0.25, self.node_timeout_s / 4))

    def _sweep(self) -> None:
        now = time.monotonic()
        for rec in list(self._registry.values()):
            if rec.status == "active" and now - rec.last_seen > self.node_timeout_s:
                self._set_status(rec, "gone", linger_ms=0)
                self._throttle(logging.WARNING, "gone", "node %s is gone (silent for %.1f s)",
                               rec.node_id, now - rec.last_seen)
            elif rec.status != "active" and now - rec.last_seen > self.evict_after_s:
                self._evict(rec)
        self.call_later(self._sweep_interval(), self._sweep)

    def _evict(self, rec: NodeRecord) -> None:
        with self._changed:
            del self._registry[rec.node_id]
        self.transport.drop(rec.address)
        self.stats["nodes_evicted"] += 1
        self._throttle(logging.INFO, "evicted", "forgot node %s (%s for %.0f s)", rec.node_id,
                       rec.status, time.monotonic() - rec.last_seen)

    def _set_status(self, rec: NodeRecord, status: str, linger_ms: int = 500) -> None:
        with self._changed:
            self._n_active += int(status == "active") - int(rec.status == "active")
            rec.status = status
            self._changed.notify_all()
        self.stats[f"nodes_{status}"] += 1
        if status != "active":
            if linger_ms == 0:
                self.transport.drop(rec.address)
            else:  # let the last acknowledgement leave before closing
                self.call_later(linger_ms / 1000, self._drop_if_inactive, rec.node_id)
            col = self._collector
            if col is not None and rec.node_id in col.expected:
                col.discard(rec.node_id)
            if self._stop_waiting and status != "stopped":
                self._stop_waiting.discard(rec.node_id)
                if not self._stop_waiting:
                    self._stop_done.set()
        self._emit(status if status != "active" else "joined", rec.node_id)

    def _drop_if_inactive(self, node_id: str) -> None:
        rec = self._registry.get(node_id)
        if rec is not None and rec.status != "active":
            self.transport.drop(rec.address)

    def _emit(self, event: str, node_id: str) -> None:
        cb = self.node_event
        if cb is not None:
            self._callbacks.put((lambda _r, n: cb(event, n), None, node_id))

    def _send_to(self, rec: NodeRecord, msg_type: str, payload: dict[str, Any]) -> bool:
        return self.send(rec.node_id, rec.address, msg_type, payload, rec.public_key)

    def _known(self, packet: P.Packet, user: str | None) -> NodeRecord | None:
        rec = self._registry.get(packet.src)
        if rec is None:
            self.stats["unknown_source"] += 1
            logger.debug("dropped %s from unregistered node %r", packet.type, packet.src)
            return None
        if self.transport.curve is not None and user != rec.public_key:
            self.stats["auth_mismatch"] += 1
            self.stats["spoofed"] += 1
            self._throttle(logging.WARNING, "spoof", "dropped %s claiming to be %r from another "
                           "CURVE key", packet.type, packet.src)
            return None
        if packet.payload.get("token") != rec.token:
            self.stats["spoofed"] += 1
            self._throttle(logging.WARNING, "spoof", "dropped %s claiming to be %r without its "
                           "registration token", packet.type, packet.src)
            return None
        rec.last_seen = time.monotonic()
        if rec.status == "gone":  # it was only slow: take it back
            self._set_status(rec, "active")
            self.stats["nodes_returned"] += 1
        return rec

    def _refuse_join(self, packet: P.Packet, key: str | None, counter: str, reason: str) -> None:
        self.stats["joins_refused"] += 1
        if counter != "joins_refused":
            self.stats[counter] += 1
        self._throttle(logging.WARNING, counter, "refused join of %r: %s", packet.src, reason)
        address = packet.payload["address"]
        self.send(packet.src, address, P.JOIN_ACK,
                  {"session": self.session, "accepted": False, "step": self._step,
                   "reason": reason}, key)
        if not any(r.address == address for r in self._registry.values()):
            self.call_later(0.5, self._drop_unused, address)

    def _drop_unused(self, address: str) -> None:
        if not any(r.address == address for r in self._registry.values()):
            self.transport.drop(address)

    def _join_problem(self, packet: P.Packet, user: str | None,
                      rec: NodeRecord | None) -> tuple[str, str] | None:
        """(counter, reason) when the join must be refused, else None."""
        pl, nid = packet.payload, packet.src
        if pl["mode"] != self.mode:
            return "joins_refused", (f"node mode {pl['mode']!r} differs from allocator mode "
                                     f"{self.mode!r}")
        if pl.get("session") not in (None, self.session):
            return "joins_stale_session", (
                f"stale session: the node belongs to session {pl['session']!r}, this run is "
                f"{self.session!r}; a node never joins another run")
        if self._keys is not None and user is not None and not self._keys.may_use(user, nid):
            return "identity_conflicts", (
                f"CURVE key {self._keys.name_of(user)!r} may not register node id {nid!r}")
        if rec is not None and rec.status == "active":
            same = (rec.incarnation, rec.address) == (pl["incarnation"], pl["address"])
            proven = pl.get("token") == rec.token or (
                self._keys is not None and user == rec.public_key)
            if not same and not proven:
                return "identity_conflicts", (
                    f"node id {nid!r} is held by a live node (incarnation {rec.incarnation}); "
                    "a second process may take it only after it is gone")
            return None
        if self._n_active >= self.max_nodes:
            return "joins_refused", f"allocator is full ({self.max_nodes} active nodes)"
        return None

    def _handle_join(self, packet: P.Packet, user: str | None) -> None:
        pl, nid = packet.payload, packet.src
        if not self._join_limiter.allow(self._peer):  # per connection (one per node)
            self.stats["joins_rate_limited"] += 1
            self._throttle(logging.WARNING, "join_rate", "dropped join of %r: more than %g "
                           "joins/s from one source", nid, self._join_limiter.rate)
            return
        key = pl.get("curve_public_key")
        if self.transport.curve is not None and (key is None or key != user):
            self.stats["auth_mismatch"] += 1
            self._throttle(logging.WARNING, "auth_mismatch", "refused join of %r: its CURVE key "
                           "does not match its connection", nid)
            return
        rec = self._registry.get(nid)
        problem = self._join_problem(packet, user, rec)
        if problem is not None:
            self._refuse_join(packet, key, *problem)
            return
        event = None
        with self._changed:
            if rec is None:
                if len(self._registry) >= 2 * self.max_nodes:  # bounded even under a flood
                    self._evict_oldest_inactive()
                rec = NodeRecord(nid, pl["address"], pl["incarnation"], public_key=key,
                                 token=secrets.token_hex(8), status="gone")
                self._registry[nid] = rec
                self.stats["joins"] += 1
                event = "joined"
                self._throttle(logging.INFO, "joined", "node %s joined from %s", nid, rec.address)
            elif rec.incarnation != pl["incarnation"] or rec.address != pl["address"]:
                self.transport.drop(rec.address)  # its queue holds stale packets
                rec.address, rec.incarnation, rec.public_key = pl["address"], pl["incarnation"], key
                rec.token = secrets.token_hex(8)
                rec.joins += 1
                self.stats["rejoins"] += 1
                event = "rejoined"
                self._throttle(logging.INFO, "rejoined", "node %s rejoined (new process) from %s",
                               nid, rec.address)
            elif rec.status != "active":
                self.stats["rejoins"] += 1
                event = "rejoined"
                self._throttle(logging.INFO, "rejoined", "node %s is back (was %s)", nid,
                               rec.status)
            else:
                self.stats["duplicate_joins"] += 1
            self._n_active += rec.status != "active"
            rec.status = "active"
            rec.last_seen = time.monotonic()
            self._changed.notify_all()
        if event is not None:
            self._emit(event, nid)
        self._send_to(rec, P.JOIN_ACK, {"session": self.session, "accepted": True,
                                        "step": self._step, "token": rec.token})

    def _evict_oldest_inactive(self) -> None:
        oldest = min((r for r in self._registry.values() if r.status != "active"),
                     key=lambda r: r.last_seen, default=None)
        if oldest is not None:
            self._evict(oldest)

    def _handle_curr_allocation(self, packet: P.Packet, user: str | None) -> None:
        rec = self._known(packet, user)
        if rec is None:
            return
        report = P.Report.from_packet(packet)
        limit = self._limits.get(rec.node_id)
        problem = None if limit is None else report_problem(report, limit)
        col = self._collector
        if problem is not None:
            rec.rejected += 1
            self.stats["reports_rejected"] += 1
            self._throttle(logging.WARNING, "implausible", "rejected the step-%d report of %s: %s",
                           report.step, rec.node_id, problem)
            if self.mode == "lockstep" and col is not None and report.step == col.step:
                col.reject(rec.node_id)
            return
        rec.reports += 1
        rec.last_report = report
        self.stats["reports"] += 1
        if self.mode == "lockstep" and col is not None:
            if report.step == col.step:
                col.add(rec.node_id, report)
            elif report.step < col.step:
                self.stats["late_reports"] += 1
        callback = self.allocation_updated
        if callback is not None:
            self._callbacks.put((callback, report, rec.node_id))

    def _handle_allocation_ack(self, packet: P.Packet, user: str | None) -> None:
        rec = self._known(packet, user)
        if rec is None:
            return
        pend = self._pending.get(packet.payload["allocation_id"])
        if pend is None or pend["node_id"] != rec.node_id:
            self.stats["unexpected_acks"] += 1
            return
        del self._pending[packet.payload["allocation_id"]]
        pend["future"].set_result({k: v for k, v in packet.payload.items() if k != "token"})

    def _handle_leave(self, packet: P.Packet, user: str | None) -> None:
        rec = self._known(packet, user)
        if rec is None:
            return
        self._send_to(rec, P.LEAVE_ACK, {})
        if rec.status != "left":
            self._throttle(logging.INFO, "left", "node %s left (%s)", rec.node_id,
                           packet.payload.get("reason"))
            self._set_status(rec, "left")

    def _handle_stop_ack(self, packet: P.Packet, user: str | None) -> None:
        rec = self._known(packet, user)
        if rec is None:
            return
        self._stop_acked.add(rec.node_id)
        self._stop_waiting.discard(rec.node_id)
        self._set_status(rec, "stopped")
        if not self._stop_waiting:
            self._stop_done.set()

    # ============================================================================ public API
    def set_report_limits(self, limits: Mapping[str, float]) -> None:
        """Bound each node's reports: node id -> largest plausible |P| and |Q| (MW, MVAr).

        A report (or one of its meters) beyond its node's bound is dropped and counted in
        ``reports_rejected``; in lock-step the round lists the node as ``rejected``. Nodes
        without a bound are not checked. Thread-safe; replaces the bounds of the given nodes.
        """
        clean: dict[str, float] = {}
        for node_id, limit in limits.items():
            value = float(limit)
            if not value > 0 or value != value:
                raise ValueError(f"report limit of node {node_id!r} must be > 0, got {limit!r}")
            clean[str(node_id)] = value
        with self._lock:
            self._limits = {**self._limits, **clean}

    def nodes(self) -> dict[str, NodeRecord]:
        """Thread-safe snapshot of the registry: node id -> copy of its record."""
        with self._lock:
            return {k: NodeRecord(**vars(v)) for k, v in self._registry.items()}

    def active_nodes(self) -> list[str]:
        """Ids of the nodes currently active, sorted."""
        with self._lock:
            return sorted(k for k, v in self._registry.items() if v.status == "active")

    def wait_for_nodes(self, node_ids: Iterable[str], timeout: float) -> bool:
        """Block until every node in ``node_ids`` is active, or ``timeout`` seconds pass.

        Returns:
            True if all are active.
        """
        wanted = set(node_ids)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                active = {k for k, v in self._registry.items() if v.status == "active"}
                if wanted <= active:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self._stopped.is_set():
                    return False
                self._changed.wait(min(left, 0.1))

    @property
    def current_step(self) -> int | None:
        """Last step begun by :meth:`lockstep_round`, or None."""
        return self._step

    def _begin(self, step: int, wanted: set[str] | None) -> tuple[Collector, list[str]]:
        self._step = step
        active = {k for k, v in self._registry.items() if v.status == "active"}
        targets = active if wanted is None else active & wanted
        gone = [] if wanted is None else sorted(wanted - active)
        col = Collector(step, set(targets))
        self._collector = col
        for nid in sorted(active):
            self._send_to(self._registry[nid], P.STEP, {"session": self.session, "step": step})
        self.stats["steps"] += 1
        return col, gone

    def lockstep_round(
        self, step: int, node_ids: Iterable[str] | None = None, timeout: float = 2.0
    ) -> RoundResult:
        """Ask every active node for its value of ``step`` and wait for the wanted ones.

        Args:
            step: Step number, not smaller than the previous one.
            node_ids: Nodes to wait for (default: every active node). Every active node is
                asked anyway so that its clock advances.
            timeout: Seconds to wait; nodes still missing are reported as late.

        Returns:
            The reports, the late nodes and the wanted nodes that are not active.
        """
        if self.mode != "lockstep":
            raise RuntimeError("lockstep_round needs an allocator in lockstep mode")
        if not self.running:
            raise RuntimeError("the allocator loop is not running: call start() first")
        if self._step is not None and step < self._step:
            raise ValueError(f"step {step} is before the current step {self._step}")
        wanted = None if node_ids is None else set(node_ids)
        col, gone = self.call(self._begin, step, wanted)
        col.done.wait(timeout)

        def finish() -> RoundResult:
            missing = sorted(n for n in col.expected
                             if n not in col.reports and n not in col.rejected)
            gone_now = sorted(set(gone) | (set(wanted or ()) - col.expected - set(col.reports)
                                           - col.rejected))
            return RoundResult(step, dict(col.reports), missing, gone_now, sorted(col.rejected))

        result = self.call(finish)
        if result.late:
            self.stats["late"] += len(result.late)
        return result

    def latest_reports(self) -> dict[str, P.Report]:
        """Thread-safe: node id -> last report received (any step)."""
        with self._lock:
            return {k: v.last_report for k, v in self._registry.items() if v.last_report}

    def send_voltages(self, step: int, vm_pu: Mapping[str, float]) -> None:
        """Send each active node in ``vm_pu`` the voltage of its bus for ``step``.

        Returns at once when called from another thread (the packets leave in order, before
        anything submitted later such as the next step); errors are logged.
        """
        items = [(k, float(v)) for k, v in vm_pu.items()]
        for _, vm in items:  # fail here (ProtocolError), not in the loop thread
            P.validate_payload(P.VOLTAGE, {"step": step, "vm_pu": vm})

        def send() -> None:
            for nid, vm in items:
                rec = self._registry.get(nid)
                if rec is not None and rec.status == "active":
                    self._send_to(rec, P.VOLTAGE, {"step": step, "vm_pu": vm,
                                                   "session": self.session})

        if not self.running or threading.get_ident() == self._loop_thread:
            send()
            return
        self.submit(send).add_done_callback(_log_failure)

    def send_allocation(
        self, node_id: str, p_mw: float, q_mvar: float, duration_s: float
    ) -> Future[dict[str, Any]]:
        """Command a P/Q set-point; the Future gets the node's ``allocation_ack`` payload.

        The allocation is re-sent every ``allocation_retry_s`` until acknowledged; after
        ``allocation_max_retries`` re-sends the Future fails with :class:`TimeoutError`. An
        unknown or inactive node fails it with :class:`KeyError`.
        """
        future: Future[dict[str, Any]] = Future()
        payload = P.Allocation(0, p_mw, q_mvar, duration_s).to_payload()
        P.validate_payload(P.ALLOCATION, payload)  # fail here, not in the loop

        def begin() -> None:
            rec = self._registry.get(node_id)
            if rec is None or rec.status != "active":
                future.set_exception(KeyError(f"node {node_id!r} is not active"))
                return
            aid = next(self._alloc_ids)
            self._pending[aid] = {"node_id": node_id,
                                  "payload": {**payload, "allocation_id": aid,
                                              "session": self.session},
                                  "tries": 0, "future": future}
            self._send_allocation(aid)

        self.call(begin)
        return future

    def _send_allocation(self, aid: int) -> None:
        pend = self._pending.get(aid)
        if pend is None:
            return
        rec = self._registry.get(pend["node_id"])
        if pend["tries"] > self.allocation_max_retries or rec is None:
            del self._pending[aid]
            pend["future"].set_exception(TimeoutError(
                f"allocation {aid} to {pend['node_id']!r} not acknowledged after "
                f"{pend['tries']} sends"))
            return
        if pend["tries"]:
            self.stats["allocation_retries"] += 1
        pend["tries"] += 1
        self._send_to(rec, P.ALLOCATION, pend["payload"])
        self.call_later(self.allocation_retry_s, self._send_allocation, aid)

    def stop_nodes(self, timeout: float = 5.0, reason: str = "simulation over") -> set[str]:
        """Send ``stop`` to every active node (re-sent until acknowledged) and wait.

        Returns:
            Ids of the nodes that acknowledged.
        """

        deadline = time.monotonic() + timeout

        def begin() -> None:
            self._stop_acked.clear()
            self._stop_waiting = set(k for k, v in self._registry.items() if v.status == "active")
            self._stop_done.clear()
            if not self._stop_waiting:
                self._stop_done.set()
            resend()

        def resend() -> None:
            for nid in list(self._stop_waiting):
                rec = self._registry.get(nid)
                if rec is not None:
                    self._send_to(rec, P.STOP, {"reason": reason, "session": self.session})
            if self._stop_waiting and time.monotonic() < deadline:
                self.call_later(0.3, resend)

        if not self.running:
            return set()
        self.call(begin)
        self._stop_done.wait(timeout)
        return self.call(lambda: set(self._stop_acked)) if self.running else set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop (without stopping the nodes) and wait for it; idempotent."""
        if self._started:
            self.stop()
            self.join(timeout)
        else:
            self.transport.close()
