"""Cascading failures: break overflowed lines and recompute until the grid is stable."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.results import PowerFlowResult
from ..core.rules import GameState, break_lines, overflowed_lines


def run_cascade(solve: Callable[[GameState], PowerFlowResult], state: GameState,
                limits_a: np.ndarray, config) -> tuple[PowerFlowResult, list[int], int, str | None]:
    """Power flow then cascade, mutating ``state`` (line statuses, counters).

    Depth 0 updates the soft-overflow counters and breaks hard overflows and lines overflowed
    for ``n_timesteps_consecutive_soft_overflow_breaks`` steps; deeper levels break hard
    overflows only. In ``easy`` game-over mode no line breaks.

    Returns:
        ``(result, broken line ids, depth, flag)``; flag is ``"diverged"`` or None.
    """
    broken: list[int] = []
    depth = 0
    n_line = state.line_status.shape[0]
    easy = config.game_over_mode == "easy"
    while True:
        result = solve(state)
        if not result.converged:
            return result, broken, depth, "diverged"
        if easy:
            return result, broken, depth, None
        usage = np.divide(result.line_a_or, limits_a, out=np.zeros(n_line), where=limits_a > 0)
        hard, soft = overflowed_lines(usage, state, config.hard_overflow_coefficient,
                                      config.n_timesteps_consecutive_soft_overflow_breaks,
                                      count_soft=depth == 0)
        if len(hard) == 0 and len(soft) == 0:
            return result, broken, depth, None
        break_lines(state, hard, config.n_timesteps_hard_overflow_is_broken)
        break_lines(state, soft, config.n_timesteps_soft_overflow_is_broken)
        broken.extend(int(x) for x in np.sort(np.concatenate([hard, soft])))
        depth += 1
        if depth > n_line:  # cannot happen (each level removes a line); guard anyway
            return result, broken, depth, None
