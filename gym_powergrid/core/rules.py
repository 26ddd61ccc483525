"""The game's state and the records of a step: :class:`GameState`, :class:`ActionLimits`,
:class:`LegalityReport`. The rules themselves are numba functions in
:mod:`gym_powergrid.core.game_rules`, written once for every path.

Counters convention (what the agent sees):

* ``line_cooldown[l] = k`` / ``sub_cooldown[s] = k``: the next ``k`` actions touching the line /
  substation are refused. Acting sets it to ``n - 1`` where ``n`` is the configured cooldown.
* ``line_unavailable[l] = k``: the line is broken or in maintenance for the next ``k`` steps;
  reconnecting it is refused while ``k > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class GameState:
    """Everything that changes during an episode, apart from the power-flow results.

    ``topo`` is the int8 topology in pypownet's layout (nodes then line status), the layout of
    the numba kernels; ``prod_node``, ``load_node``, ``line_or_node``, ``line_ex_node`` and
    ``line_status`` are views into it.
    """

    topo: np.ndarray  # int8: prod, load, line or, line ex nodes, then line status (0/1)
    line_unavailable: np.ndarray  # int32, steps before reconnectable
    line_overflow_steps: np.ndarray  # int32, consecutive overflowed steps
    line_cooldown: np.ndarray  # int32
    sub_cooldown: np.ndarray  # int32
    n_prod: int
    n_load: int
    step: int = 0  # index of the current row of the chronic
    extra: dict = field(default_factory=dict)

    @classmethod
    def initial(cls, n_prod: int, n_load: int, n_line: int, n_sub: int,
                line_status: np.ndarray) -> GameState:
        topo = np.zeros(n_prod + n_load + 3 * n_line, np.int8)
        topo[n_prod + n_load + 2 * n_line:] = np.asarray(line_status, dtype=bool)
        return cls(topo=topo, line_unavailable=np.zeros(n_line, np.int32),
                   line_overflow_steps=np.zeros(n_line, np.int32),
                   line_cooldown=np.zeros(n_line, np.int32),
                   sub_cooldown=np.zeros(n_sub, np.int32), n_prod=n_prod, n_load=n_load)

    @property
    def n_line(self) -> int:
        return int(self.line_cooldown.shape[0])

    @property
    def n_nodes(self) -> int:
        return self.n_prod + self.n_load + 2 * self.n_line

    @property
    def prod_node(self) -> np.ndarray:
        return self.topo[:self.n_prod]

    @property
    def load_node(self) -> np.ndarray:
        return self.topo[self.n_prod:self.n_prod + self.n_load]

    @property
    def line_or_node(self) -> np.ndarray:
        o = self.n_prod + self.n_load
        return self.topo[o:o + self.n_line]

    @property
    def line_ex_node(self) -> np.ndarray:
        o = self.n_prod + self.n_load + self.n_line
        return self.topo[o:o + self.n_line]

    @property
    def line_status(self) -> np.ndarray:
        """int8 view: 1 = in service."""
        return self.topo[self.n_nodes:]

    def copy(self) -> GameState:
        return GameState(self.topo.copy(), self.line_unavailable.copy(),
                         self.line_overflow_steps.copy(), self.line_cooldown.copy(),
                         self.sub_cooldown.copy(), self.n_prod, self.n_load, self.step,
                         dict(self.extra))

    def nodes(self) -> np.ndarray:
        """Concatenated node vector (pypownet order), a copy."""
        return self.topo[:self.n_nodes].copy()


@dataclass(frozen=True)
class ActionLimits:
    """Legality parameters taken from the configuration."""

    max_substations: int
    max_lines: int
    max_total: int
    line_cooldown: int
    node_cooldown: int


@dataclass(eq=False)
class LegalityReport:
    """What was refused in an action and why."""

    replaced_by_do_nothing: bool = False
    reason: str | None = None
    illegal_reconnections: np.ndarray | None = None  # line ids
    lines_on_cooldown: np.ndarray | None = None
    substations_on_cooldown: np.ndarray | None = None

    @property
    def any(self) -> bool:
        return bool(self.replaced_by_do_nothing or self.n_refused)

    @property
    def n_refused(self) -> int:
        return sum(0 if a is None else len(a) for a in (
            self.illegal_reconnections, self.lines_on_cooldown, self.substations_on_cooldown))

    def as_dict(self) -> dict:
        def ids(a):
            return [] if a is None else [int(x) for x in a]
        return {
            "replaced_by_do_nothing": self.replaced_by_do_nothing,
            "reason": self.reason,
            "illegal_reconnections": ids(self.illegal_reconnections),
            "lines_on_cooldown": ids(self.lines_on_cooldown),
            "substations_on_cooldown": ids(self.substations_on_cooldown),
        }
