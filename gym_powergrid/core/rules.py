"""pypownet's game rules over plain arrays: legality of actions, cooldowns, overflows.

All functions are pure numpy over :class:`GameState` arrays (no pandas, no gymnasium).

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


def legalize(action: np.ndarray, state: GameState, node_switch_sub: np.ndarray, n_sub: int,
             limits: ActionLimits) -> tuple[np.ndarray, LegalityReport]:
    """Return the part of ``action`` that will be applied, and what was refused.

    pypownet's order: an action touching more substations / lines / both than allowed becomes
    do-nothing; otherwise switches on cooled-down substations or lines are dropped, and so are
    reconnections of unavailable (broken, in maintenance) lines.
    """
    n_nodes = node_switch_sub.shape[0]
    node_sw = action[:n_nodes]
    line_sw = action[n_nodes:]
    report = LegalityReport()
    subs = np.unique(node_switch_sub[node_sw != 0])
    lines = np.flatnonzero(line_sw)
    if (len(subs) > limits.max_substations or len(lines) > limits.max_lines
            or len(subs) + len(lines) > limits.max_total):
        report.replaced_by_do_nothing = True
        report.reason = (f"action touches {len(subs)} substations and {len(lines)} lines; limits "
                         f"are {limits.max_substations} substations, {limits.max_lines} lines, "
                         f"{limits.max_total} in total")
        return np.zeros_like(action), report
    out = action.copy()
    cooled_subs = subs[state.sub_cooldown[subs] > 0]
    if len(cooled_subs):
        drop = np.isin(node_switch_sub, cooled_subs)
        out[:n_nodes][drop] = 0
        report.substations_on_cooldown = cooled_subs
    cooled_lines = lines[state.line_cooldown[lines] > 0]
    if len(cooled_lines):
        out[n_nodes + cooled_lines] = 0
        report.lines_on_cooldown = cooled_lines
    remaining = lines[state.line_cooldown[lines] == 0]
    reconnect = remaining[(state.line_status[remaining] == 0)
                          & (state.line_unavailable[remaining] > 0)]
    if len(reconnect):
        out[n_nodes + reconnect] = 0
        report.illegal_reconnections = reconnect
    if report.n_refused:
        report.reason = "some switches were refused (cooldown or unavailable line)"
    return out, report


def apply_action(action: np.ndarray, state: GameState, node_switch_sub: np.ndarray,
                 limits: ActionLimits) -> None:
    """Toggle nodes and line statuses of a legal action in ``state`` and start cooldowns."""
    o4 = state.n_nodes
    a = action
    state.topo ^= a.astype(np.int8)
    sw = a[o4:].astype(bool)
    if limits.line_cooldown > 0:
        state.line_cooldown[sw] = limits.line_cooldown
    subs = np.unique(node_switch_sub[a[:o4] != 0])
    if limits.node_cooldown > 0 and len(subs):
        state.sub_cooldown[subs] = limits.node_cooldown


def tick(state: GameState) -> None:
    """Advance all countdowns by one step (after the action is applied)."""
    np.subtract(state.line_cooldown, 1, out=state.line_cooldown, where=state.line_cooldown > 0)
    np.subtract(state.sub_cooldown, 1, out=state.sub_cooldown, where=state.sub_cooldown > 0)
    np.subtract(state.line_unavailable, 1, out=state.line_unavailable,
                where=state.line_unavailable > 0)


def start_outages(state: GameState, durations: np.ndarray) -> np.ndarray:
    """Take lines out for ``durations`` steps (maintenance/hazards starting now); return ids."""
    starting = np.flatnonzero(durations > 0)
    if len(starting):
        state.line_status[starting] = 0
        state.line_overflow_steps[starting] = 0
        state.line_unavailable[starting] = np.maximum(state.line_unavailable[starting],
                                                      durations[starting] - 1)
    return starting


def overflowed_lines(usage: np.ndarray, state: GameState, hard_coefficient: float,
                     n_soft_steps: int, count_soft: bool) -> tuple[np.ndarray, np.ndarray]:
    """Lines to break now: ``(hard_ids, soft_ids)``.

    ``count_soft`` updates the consecutive-overflow counters (once per step, on the first power
    flow); deeper cascade levels only break hard overflows.
    """
    on = state.line_status.astype(bool)
    over = on & (usage > 1.0)
    if count_soft:
        state.line_overflow_steps[over] += 1
        state.line_overflow_steps[~over] = 0
    hard = np.flatnonzero(on & (usage > hard_coefficient))
    soft = np.flatnonzero(over & (state.line_overflow_steps >= n_soft_steps)
                          & (usage <= hard_coefficient)) if count_soft else hard[:0]
    return hard, soft


def break_lines(state: GameState, ids: np.ndarray, broken_steps: int) -> None:
    """Switch lines off and make them unavailable for ``broken_steps`` steps (this one incl.)."""
    if len(ids):
        state.line_status[ids] = 0
        state.line_overflow_steps[ids] = 0
        state.line_unavailable[ids] = np.maximum(state.line_unavailable[ids],
                                                 max(broken_steps - 1, 0))
