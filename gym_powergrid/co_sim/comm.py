"""A communicating agent: :class:`~gym_powergrid.co_sim.agent.Agent` plus a transport.

:class:`CommAgent` decodes and validates every frame its ROUTER receives and dispatches the
packet to ``_handle_<type>``. A malformed packet is logged (rate-limited), counted in
:attr:`CommAgent.stats` (``malformed`` and ``malformed_<reason>``) and dropped; a handler that
raises is logged and counted (``handler_errors``); in every case the loop keeps serving.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from typing import Any

from gym_powergrid.co_sim.agent import Agent
from gym_powergrid.co_sim.protocol import MAX_MESSAGE_BYTES, Packet, ProtocolError, decode, encode
from gym_powergrid.co_sim.transport import CurveAuth, Transport

logger = logging.getLogger(__name__)

_LOUD_MALFORMED = 20  # log this many malformed packets at WARNING, then one in 1000


class LogThrottle:
    """Log the first ``loud`` events of each kind, then one in ``every`` (with the count).

    A flood of bad packets or joins must not flood the log too: each kind of event (``key``)
    is logged in full at first, then sampled.
    """

    def __init__(self, log: logging.Logger, loud: int = 20, every: int = 1000) -> None:
        self.log, self.loud, self.every = log, int(loud), int(every)
        self.counts: Counter[str] = Counter()

    def __call__(self, level: int, key: str, msg: str, *args: Any) -> None:
        """Log ``msg % args`` at ``level`` unless too many ``key`` events were logged."""
        self.counts[key] += 1
        n = self.counts[key]
        if n <= self.loud:
            self.log.log(level, msg, *args)
        elif n % self.every == 0:
            self.log.log(level, msg + " (event #%d of this kind; the others are not logged)",
                         *args, n)


class CommAgent(Agent):
    """An agent with an id, a ROUTER socket and validated message dispatch.

    Args:
        node_id: Id written as ``src`` of sent packets; packets for another ``dst`` are dropped.
        bind: ``host:port`` of the ROUTER (port 0: any free port).
        advertise: Host announced to peers when ``bind`` is a wildcard host.
        curve: CURVE key files, or None.
        max_message_bytes: Size limit of incoming packets.
        mode: Clock mode, see :class:`~gym_powergrid.co_sim.agent.Agent`.
        speed: Real-time speed factor.
        linger_ms: Time allowed to flush queued packets on close.
    """

    def __init__(
        self,
        node_id: str,
        bind: str = "127.0.0.1:0",
        *,
        advertise: str | None = None,
        curve: CurveAuth | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        mode: str = "lockstep",
        speed: float = 1.0,
        linger_ms: int = 500,
    ) -> None:
        super().__init__(mode=mode, speed=speed, name=f"cosim-{node_id}")
        self.node_id = node_id
        self._seq = itertools.count()
        self._peer: bytes = b""  # routing id of the connection of the packet being handled
        self.transport = Transport(
            bind,
            advertise=advertise,
            curve=curve,
            max_message_bytes=max_message_bytes,
            linger_ms=linger_ms,
        )

    @property
    def address(self) -> str:
        """Connectable address of this agent's ROUTER, ``tcp://host:port``."""
        return self.transport.address

    def statistics(self) -> dict[str, int]:
        """Counters of the agent and its transport (received, sent, malformed, ...)."""
        merged: Counter[str] = Counter(self.stats)
        merged.update(self.transport.stats)
        return dict(merged)

    # ---------------------------------------------------------------------------- sending
    def send(
        self,
        dst: str,
        address: str,
        msg_type: str,
        payload: dict[str, Any],
        server_key: bytes | str | None = None,
    ) -> bool:
        """Encode and queue one packet (loop thread only).

        Returns:
            False if the remote's queue was full and the packet was dropped.
        """
        data = encode(Packet(msg_type, self.node_id, dst, next(self._seq), payload))
        return self.transport.send(address, data, server_key)

    # ---------------------------------------------------------------------------- receiving
    def _pollables(self) -> list[Any]:
        return super()._pollables() + self.transport.pollables

    def _on_readable(self, item: Any) -> None:
        if item is self.transport.router:
            for data, user, peer in self.transport.recv_batch():
                self._peer = peer
                self._dispatch(data, user)
        elif item is self.transport.monitor:
            self.transport.drain_monitor()
        else:
            super()._on_readable(item)

    def _count_malformed(self, reason: str, detail: str) -> None:
        self.stats["malformed"] += 1
        self.stats[f"malformed_{reason}"] += 1
        n = self.stats["malformed"]
        if n <= _LOUD_MALFORMED or n % 1000 == 0:
            logger.warning("%s dropped a malformed packet #%d (%s): %s", self.node_id, n, reason,
                           detail[:200])

    def _dispatch(self, data: bytes, user_id: str | None) -> None:
        try:
            packet = decode(data, self.transport.max_message_bytes)
        except ProtocolError as exc:
            self._count_malformed(exc.reason, exc.detail)
            return
        if packet.dst != self.node_id:
            self._count_malformed("dst", f"packet for {packet.dst!r} reached {self.node_id!r}")
            return
        handler = getattr(self, f"_handle_{packet.type}", None)
        if handler is None:
            self.stats["unexpected"] += 1
            logger.debug("%s ignores a %s packet from %s", self.node_id, packet.type, packet.src)
            return
        self.stats[f"rx_{packet.type}"] += 1
        try:
            handler(packet, user_id)
        except Exception:
            self.stats["handler_errors"] += 1
            logger.exception("%s: handler of %s failed", self.node_id, packet.type)

    def _on_stop(self) -> None:
        self.transport.close()
