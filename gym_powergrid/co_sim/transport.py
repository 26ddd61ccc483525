"""ZeroMQ transport of a co-simulation node: one ROUTER bound to its address, DEALERs to remotes.

A node receives every packet on its own ROUTER socket and sends each packet through a DEALER
socket connected to the remote's ROUTER (one DEALER per remote address, created on first use).
ZeroMQ reconnects DEALERs by itself when a remote restarts; :meth:`Transport.drop` closes a
DEALER (discarding its queue) when the remote is known to be gone.

Sends never block: a full queue (``SNDHWM``) drops the packet and counts it. Receives are
drained in bounded batches. A monitor socket on the ROUTER counts failed handshakes (garbage
bytes, protocol mismatch, refused CURVE keys). A hard ``MAXMSGSIZE`` makes libzmq disconnect a
peer that sends huge frames before they are buffered; the finer size limit is checked in
:func:`gym_powergrid.co_sim.protocol.decode`.

Optional CURVE encryption and authentication (:class:`CurveAuth`) uses key files written by
``zmq.auth.create_certificates`` (see :func:`gym_powergrid.co_sim.keys.generate_curve_keys`):
the ROUTER accepts only clients whose public key file is in ``authorized_keys_dir``. Binding a
host other than loopback without CURVE is refused (:func:`check_bind_is_safe`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gym_powergrid.co_sim import _deps
from gym_powergrid.errors import ConfigurationError

logger = logging.getLogger(__name__)

_SHARED: dict[str, Any] = {"pid": None, "ctx": None}
_SHARED_LOCK = threading.Lock()
MAX_SOCKETS = 16384


def shared_context() -> Any:
    """Return this process's shared ZeroMQ context (created on first use, fork-aware).

    The context allows many sockets (:data:`MAX_SOCKETS`) so that hundreds of nodes can be
    multiplexed in one process.
    """
    zmq = _deps.zmq()
    with _SHARED_LOCK:
        if _SHARED["ctx"] is None or _SHARED["pid"] != os.getpid():
            ctx = zmq.Context(io_threads=1)
            ctx.set(zmq.MAX_SOCKETS, MAX_SOCKETS)
            _SHARED["ctx"] = ctx
            _SHARED["pid"] = os.getpid()
        return _SHARED["ctx"]


def normalize_address(address: str) -> str:
    """Return ``tcp://host:port`` for ``host:port`` or an already complete endpoint.

    Raises:
        ConfigurationError: If the address has no port.
    """
    if "://" not in address:
        address = "tcp://" + address
    scheme, _, rest = address.partition("://")
    if scheme == "tcp" and ":" not in rest:
        raise ConfigurationError(f"address {address!r} has no port; use 'host:port'")
    return address


def _bind_endpoint(address: str) -> str:
    endpoint = normalize_address(address)
    if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
        endpoint = endpoint[:-2] + ":*"  # libzmq's "any free port"
    return endpoint


@dataclass(frozen=True)
class CurveAuth:
    """CURVE key files of one node.

    Attributes:
        secret_key_file: This node's ``*.key_secret`` file (holds both its keys).
        authorized_keys_dir: Folder of ``*.key`` public key files of the peers allowed to
            connect to this node's ROUTER. None accepts any client that knows this node's
            public key (encryption without client authentication).
        server_public_key_file: Public key file of the fixed remote this node connects to (a
            load node's allocator). Remotes learnt at run time (nodes seen by the allocator)
            send their public key in their ``join``.
    """

    secret_key_file: str
    authorized_keys_dir: str | None = None
    server_public_key_file: str | None = None

    def keypair(self) -> tuple[bytes, bytes]:
        """Return ``(public, secret)`` z85 keys loaded from :attr:`secret_key_file`."""
        public, secret = _deps.zmq_auth().load_certificate(self.secret_key_file)
        if secret is None:
            raise ConfigurationError(
                f"curve secret_key_file {self.secret_key_file!r} holds no secret key; "
                "pass the '*.key_secret' file"
            )
        return public, secret

    def server_key(self) -> bytes | None:
        """Return the public key of :attr:`server_public_key_file`, or None."""
        if not self.server_public_key_file:
            return None
        public, _ = _deps.zmq_auth().load_certificate(self.server_public_key_file)
        return public


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
KEYS_COMMAND = "gym-powergrid cosim keys KEYS_DIR allocator client1 client2 ..."


def check_bind_is_safe(bind: str, curve: CurveAuth | None) -> None:
    """Refuse to bind a ROUTER beyond loopback without CURVE authentication.

    Without CURVE anyone who can reach the port can join as any node, send stops or forge
    reports; on loopback that is limited to this machine's users.

    Raises:
        ConfigurationError: With the command that makes the key files.
    """
    if curve is not None:
        return
    endpoint = normalize_address(bind)
    if not endpoint.startswith("tcp://"):
        return  # ipc:// and inproc:// stay on this machine
    host = endpoint.removeprefix("tcp://").rpartition(":")[0]
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return
    raise ConfigurationError(
        f"refusing to bind {bind!r} without CURVE: any host that reaches it could join as any "
        f"node or forge readings. Bind 127.0.0.1 for nodes on this machine, or make keys with "
        f"'{KEYS_COMMAND}' and give the allocator and every node a 'curve' section "
        "(secret_key_file, authorized_keys_dir, server_public_key_file); see the README's "
        "co-simulation section"
    )


class Transport:
    """One ROUTER bound to ``bind`` plus DEALERs to remote addresses.

    Not thread-safe: use it from the thread that runs the owning agent's loop.

    Args:
        bind: ``host:port`` to bind; port 0 picks a free port (see :attr:`address`).
        advertise: Host to put in :attr:`address` when binding a wildcard host
            (default ``127.0.0.1``).
        curve: CURVE key files, or None for plain TCP.
        max_message_bytes: Application size limit; the hard libzmq limit is 4x plus 1 KiB.
        send_hwm: Packets queued per remote before sends are dropped.
        linger_ms: How long closing waits to flush queued packets.
        monitor: Count handshake failures through a monitor socket.
    """

    def __init__(
        self,
        bind: str,
        *,
        advertise: str | None = None,
        curve: CurveAuth | None = None,
        max_message_bytes: int = 16 * 1024,
        send_hwm: int = 1000,
        linger_ms: int = 500,
        monitor: bool = True,
    ) -> None:
        check_bind_is_safe(bind, curve)
        zmq = _deps.zmq()
        self._zmq = zmq
        self.stats: Counter[str] = Counter()
        self.max_message_bytes = int(max_message_bytes)
        self.curve = curve
        self._send_hwm = int(send_hwm)
        self._linger_ms = int(linger_ms)
        self._dealers: dict[str, Any] = {}
        self._auth: Any = None
        self._public: bytes | None
        self._secret: bytes | None
        self._closed = False
        if curve is not None:
            # A ZAP handler applies to a whole context: give CURVE nodes their own context.
            self.context = zmq.Context(io_threads=1)
            self._own_context = True
            self._public, self._secret = curve.keypair()
        else:
            self.context = shared_context()
            self._own_context = False
            self._public = self._secret = None
        self.router = self.context.socket(zmq.ROUTER)
        try:
            self.router.setsockopt(zmq.LINGER, 0)
            self.router.setsockopt(zmq.RCVHWM, 100_000)
            self.router.setsockopt(zmq.MAXMSGSIZE, 4 * self.max_message_bytes + 1024)
            if curve is not None:
                self._start_authenticator(curve)
                self.router.curve_secretkey = self._secret
                self.router.curve_publickey = self._public
                self.router.curve_server = True
                self.router.zap_domain = b"cosim"
            self.monitor = self.router.get_monitor_socket() if monitor else None
            self._bind(_bind_endpoint(bind))
        except Exception:
            self.close()
            raise
        endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
        if host in ("0.0.0.0", "*", "[::]", ""):
            host = advertise or "127.0.0.1"
        elif advertise:
            host = advertise
        self.address = f"tcp://{host}:{port}"
        """Connectable address of this node's ROUTER (``tcp://host:port``)."""
        self.bound_endpoint = endpoint
        logger.debug("transport bound %s (advertised %s)", endpoint, self.address)

    # ----------------------------------------------------------------------------- set-up
    def _bind(self, endpoint: str, retry_s: float = 2.0) -> None:
        """Bind, retrying briefly if the port is still held by a just-closed socket."""
        zmq = self._zmq
        deadline = time.monotonic() + retry_s
        while True:
            try:
                self.router.bind(endpoint)
                return
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _start_authenticator(self, curve: CurveAuth) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        self._auth = ThreadAuthenticator(self.context, log=logging.getLogger(__name__ + ".zap"))
        self._auth.start()
        if curve.authorized_keys_dir:
            if not Path(curve.authorized_keys_dir).is_dir():
                raise ConfigurationError(
                    f"curve authorized_keys_dir {curve.authorized_keys_dir!r} is not a folder"
                )
            self._auth.configure_curve(domain="cosim", location=str(curve.authorized_keys_dir))
        else:
            from zmq.auth import CURVE_ALLOW_ANY

            self._auth.configure_curve(domain="cosim", location=CURVE_ALLOW_ANY)

    @property
    def public_key(self) -> str | None:
        """This node's CURVE public key (z85 text), or None without CURVE."""
        return None if self._public is None else self._public.decode("ascii")

    @property
    def pollables(self) -> list[Any]:
        """Sockets to register in a ``zmq.Poller`` for reading."""
        return [self.router] + ([self.monitor] if self.monitor is not None else [])

    # ----------------------------------------------------------------------------- sending
    def _dealer(self, address: str, server_key: bytes | str | None) -> Any:
        sock = self._dealers.get(address)
        if sock is not None:
            return sock
        zmq = self._zmq
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, self._linger_ms)
        sock.setsockopt(zmq.SNDHWM, self._send_hwm)
        sock.setsockopt(zmq.RCVHWM, 16)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        if self.curve is not None:
            if server_key is None:
                sock.close(linger=0)
                raise ConfigurationError(
                    f"CURVE is on but the public key of {address} is unknown; give the node a "
                    "server_public_key_file or have the peer send its key"
                )
            sock.curve_secretkey = self._secret
            sock.curve_publickey = self._public
            if isinstance(server_key, str):
                server_key = server_key.encode("ascii")
            sock.curve_serverkey = server_key
        sock.connect(normalize_address(address))
        self._dealers[address] = sock
        return sock

    def send(self, address: str, data: bytes, server_key: bytes | str | None = None) -> bool:
        """Queue ``data`` for the ROUTER at ``address`` without blocking.

        Args:
            address: ``tcp://host:port`` of the remote ROUTER.
            data: One encoded packet.
            server_key: Remote's CURVE public key (needed with CURVE on first use).

        Returns:
            True if queued; False if the queue was full (packet dropped and counted).
        """
        if self._closed:
            self.stats["send_after_close"] += 1
            return False
        sock = self._dealer(address, server_key)
        try:
            sock.send(data, self._zmq.NOBLOCK)
        except self._zmq.Again:
            self.stats["send_dropped"] += 1
            return False
        self.stats["sent"] += 1
        return True

    def drop(self, address: str) -> None:
        """Close the DEALER to ``address`` and discard its queued packets."""
        sock = self._dealers.pop(address, None)
        if sock is not None:
            sock.close(linger=0)

    def has_dealer(self, address: str) -> bool:
        """Whether a DEALER to ``address`` is open."""
        return address in self._dealers

    # ----------------------------------------------------------------------------- receiving
    def recv_batch(self, limit: int = 512) -> list[tuple[bytes, str | None, bytes]]:
        """Drain up to ``limit`` frames from the ROUTER without blocking.

        Returns:
            ``(payload, user_id, peer)`` triples; ``user_id`` is the peer's authenticated CURVE
            public key (z85) or None; ``peer`` is the ROUTER's routing id of the connection it
            came on (one per remote DEALER, used to rate-limit a source). Multi-frame messages
            are counted as malformed and skipped.
        """
        zmq = self._zmq
        out: list[tuple[bytes, str | None, bytes]] = []
        curve = self.curve is not None
        for _ in range(limit):
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=not curve)
            except zmq.Again:
                break
            if len(frames) != 2:
                self.stats["malformed"] += 1
                self.stats["malformed_frames"] += 1
                logger.warning("dropped a %d-frame message (expected 1 frame)", len(frames) - 1)
                continue
            if curve:
                frame = frames[1]
                try:
                    user = frame.get("User-Id")
                except zmq.ZMQError:
                    user = None
                out.append((frame.bytes, user, frames[0].bytes))
            else:
                out.append((frames[1], None, frames[0]))
        self.stats["received"] += len(out)
        return out

    def drain_monitor(self) -> None:
        """Read pending monitor events and count handshake failures and disconnections."""
        if self.monitor is None:
            return
        zmq = self._zmq
        from zmq.utils.monitor import recv_monitor_message

        failed = (
            zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        )
        while True:
            try:
                event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:  # monitor closed
                return
            kind = event["event"]
            if kind & failed:
                self.stats["handshake_failed"] += 1
                if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    self.stats["auth_failed"] += 1
                logger.warning(
                    "handshake failed on %s (%s)", self.bound_endpoint, zmq.Event(kind).name
                )
            elif kind == zmq.EVENT_ACCEPTED:
                self.stats["accepted"] += 1
            elif kind == zmq.EVENT_DISCONNECTED:
                self.stats["disconnected"] += 1

    # ----------------------------------------------------------------------------- shutdown
    def close(self, linger_ms: int | None = None) -> None:
        """Close every socket (flushing DEALER queues up to ``linger_ms``); idempotent."""
        if self._closed:
            return
        self._closed = True
        linger = self._linger_ms if linger_ms is None else int(linger_ms)
        for sock in self._dealers.values():
            sock.close(linger=linger)
        self._dealers.clear()
        router = getattr(self, "router", None)
        if router is not None:
            monitor = getattr(self, "monitor", None)
            if monitor is not None:
                try:
                    router.disable_monitor()
                except Exception:  # noqa: BLE001 - best effort during shutdown
                    pass
                monitor.close(linger=0)
            router.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._own_context:
            self.context.term()
