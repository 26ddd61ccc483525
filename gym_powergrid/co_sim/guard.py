"""Defences of the allocator: join rate limits, CURVE key to node-id bindings, report bounds.

Trust rules of :class:`~gym_powergrid.co_sim.NetworkAllocator` (see the README's co-simulation
section):

* a node id belongs to the registration that holds it: while it is active, a ``join`` for it
  from another incarnation or address is refused and counted (``identity_conflicts``) unless it
  carries the token of that registration or (with CURVE) comes from the same key;
* every later packet of a node must carry that token (and with CURVE come from its key),
  otherwise it is dropped and counted (``spoofed``);
* with CURVE each key may register only the node ids bound to it (:class:`KeyBindings`);
* a ``join`` naming another session (a node of an earlier run) is refused
  (``joins_stale_session``); joins are rate-limited per source (``joins_rate_limited``);
* a report outside the node's limit (``set_report_limits``) is dropped and counted
  (``reports_rejected``): the round lists the node as ``rejected`` and the bridge uses its
  fallback value;
* inactive records are forgotten after ``evict_after_s`` (``nodes_evicted``) and only active
  nodes count against ``max_nodes``; repeated log lines are throttled.

Helpers:

* :class:`JoinRateLimiter`: a token bucket per source (the connection's
  routing id) so that a flood of ``join`` packets cannot fill the registry or the log.
* :class:`KeyBindings`: with CURVE, which node ids each authorised key may register. By
  default a key file ``<name>.key`` (as written by ``gym-powergrid cosim keys DIR NAME...``)
  may register node id ``<name>`` only; ``key_node_ids`` maps a key name to more ids (glob
  patterns allowed, e.g. ``{"feeder7": ["f7-*"]}`` for a process multiplexing many nodes).
* :func:`report_problem`: a report is plausible when its net P/Q and every meter stay within
  the node's limit (MW / MVAr magnitude).
"""

from __future__ import annotations

import fnmatch
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

from gym_powergrid.co_sim import _deps
from gym_powergrid.co_sim.protocol import Report
from gym_powergrid.errors import ConfigurationError

DEFAULT_PLAUSIBILITY_FACTOR = 10.0
"""Default report bound: this many times the nominal of the node's grid element."""


class JoinRateLimiter:
    """Token bucket per source: ``rate`` joins per second, bursts of ``burst``.

    At most ``max_sources`` buckets are kept (the least recently used are forgotten).
    """

    def __init__(self, rate: float = 20.0, burst: float = 40.0, max_sources: int = 4096) -> None:
        if not (rate > 0 and burst >= 1):
            raise ConfigurationError(f"join rate must be > 0 and burst >= 1, got {rate}, {burst}")
        self.rate, self.burst, self.max_sources = float(rate), float(burst), int(max_sources)
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()

    def allow(self, source: object, now: float | None = None) -> bool:
        """Take one token from ``source``'s bucket; False when it is empty."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if ok else tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return ok


class KeyBindings:
    """Which node ids each authorised CURVE key may register.

    Args:
        authorized_keys_dir: Folder of ``*.key`` public key files; each file's stem names its
            key. None (CURVE without client authentication): a node id is bound to the first
            key that registers it, for the allocator's lifetime.
        key_node_ids: Key name -> node ids or glob patterns it may use, in addition to the id
            equal to its name.
    """

    def __init__(self, authorized_keys_dir: str | None,
                 key_node_ids: Mapping[str, Iterable[str]] | None = None) -> None:
        self.names: dict[str, str] = {}  # z85 public key -> key name
        self.patterns: dict[str, tuple[str, ...]] = {}
        self.first_use: dict[str, str] = {}  # node id -> z85 key (no authorised folder)
        self.open = authorized_keys_dir is None
        if authorized_keys_dir is not None:
            auth = _deps.zmq_auth()
            for path in sorted(Path(authorized_keys_dir).glob("*.key")):
                public, _ = auth.load_certificate(str(path))
                self.names[public.decode("ascii")] = path.stem
        for name, ids in (key_node_ids or {}).items():
            if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
                raise ConfigurationError(
                    f"key_node_ids[{name!r}] must be a list of node ids or patterns, got {ids!r}")
            self.patterns[str(name)] = tuple(ids)

    def may_use(self, key: str, node_id: str) -> bool:
        """Whether the connection authenticated by ``key`` may register ``node_id``."""
        if self.open:
            return self.first_use.setdefault(node_id, key) == key
        name = self.names.get(key)
        if name is None:
            return False
        return node_id == name or any(fnmatch.fnmatchcase(node_id, p)
                                      for p in self.patterns.get(name, ()))

    def name_of(self, key: str | None) -> str:
        """Key name for log lines."""
        return self.names.get(key or "", "an unlisted key")


def report_problem(report: Report, limit: float) -> str | None:
    """Why ``report`` is implausible for a node bounded by ``limit`` (MW / MVAr), or None."""
    if abs(report.p_mw) > limit or abs(report.q_mvar) > limit:
        return f"P={report.p_mw:.6g} MW, Q={report.q_mvar:.6g} MVAr beyond +-{limit:.6g}"
    for meter, (p, q) in report.meters.items():
        if abs(p) > limit or abs(q) > limit:
            return f"meter {meter!r} P={p:.6g}, Q={q:.6g} beyond +-{limit:.6g}"
    return None
