"""Records of the allocator: one per node, one per lock-step round (and its collector)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from gym_powergrid.co_sim import protocol as P


@dataclass
class NodeRecord:
    """What the allocator knows about one node (returned as copies by :meth:`nodes`)."""

    node_id: str
    address: str
    incarnation: str
    status: str = "active"
    public_key: str | None = None
    joined_at: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    joins: int = 1
    reports: int = 0
    last_report: P.Report | None = None
    token: str = ""
    rejected: int = 0


@dataclass
class RoundResult:
    """Outcome of one lock-step round (:meth:`NetworkAllocator.lockstep_round`).

    Attributes:
        step: The step number.
        reports: Node id -> report for this step, for the nodes that answered in time.
        late: Active nodes asked for this step that did not answer before the time-out.
        gone: Wanted nodes that are not active (never joined, gone, left or stopped).
        rejected: Nodes whose report for this step was implausible (and dropped).
    """

    step: int
    reports: dict[str, P.Report]
    late: list[str]
    gone: list[str]
    rejected: list[str] = field(default_factory=list)


class Collector:
    """Reports of one lock-step round; ``done`` is set once every expected node answered."""

    def __init__(self, step: int, expected: set[str]) -> None:
        self.step = step
        self.expected = expected
        self.remaining = set(expected)
        self.reports: dict[str, P.Report] = {}
        self.rejected: set[str] = set()
        self.done = threading.Event()
        self.check()

    def add(self, node_id: str, report: P.Report) -> None:
        self.reports[node_id] = report
        self.rejected.discard(node_id)
        self.remaining.discard(node_id)
        self.check()

    def reject(self, node_id: str) -> None:
        if node_id not in self.reports:
            self.rejected.add(node_id)
            self.remaining.discard(node_id)
            self.check()

    def discard(self, node_id: str) -> None:
        self.expected.discard(node_id)
        self.remaining.discard(node_id)
        self.check()

    def check(self) -> None:
        if not self.remaining:
            self.done.set()
