"""Maintenance and hazards: expand pypownet's "starts here for d steps" encoding.

In ``maintenance.csv`` and ``hazards.csv`` a value ``d > 0`` at row ``t`` and column ``l`` means
line ``l`` becomes unavailable at step ``t`` for ``d`` steps (``t .. t + d - 1``); ``0`` means
nothing starts. Both helpers below are vectorised over the whole chronic, so the environment can
compute them once per chronic and index them by step.

Example:
    >>> import numpy as np
    >>> m = np.array([[0], [2], [0], [0], [1]])
    >>> unavailable_steps(m)[:, 0].tolist()
    [0, 2, 1, 0, 1]
    >>> steps_to_next_event(m, horizon=3)[:, 0].tolist()
    [1, 3, 2, 1, 0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["unavailable_steps", "steps_to_next_event", "unavailable_mask"]


def unavailable_steps(events: np.ndarray) -> np.ndarray:
    """Per step and line, for how many more steps (counting this one) the line is unavailable.

    Only events that started at or before step ``t`` count at row ``t`` (the future is unknown
    to the grid operator). Overlapping events merge: the line is back when the latest-ending
    one ends.

    Args:
        events: (T, n_line) non-negative integer durations (maintenance or hazards).

    Returns:
        (T, n_line) int32; 0 = available at that step, ``k > 0`` = unavailable at steps
        ``t .. t + k - 1``.
    """
    events = np.asarray(events)
    n_steps = events.shape[0]
    t = np.arange(n_steps, dtype=np.int64)[:, None]
    end = np.where(events > 0, t + events.astype(np.int64), 0)
    latest_end = np.maximum.accumulate(end, axis=0) if n_steps else end
    return np.maximum(latest_end - t, 0).astype(np.int32)


def unavailable_mask(events: np.ndarray) -> np.ndarray:
    """(T, n_line) bool: the line is unavailable at that step because of ``events``."""
    return unavailable_steps(events) > 0


def steps_to_next_event(events: np.ndarray, horizon: int) -> np.ndarray:
    """Per step and line, the number of steps before the next event starts, within a horizon.

    This is pypownet's "planned maintenance" observation: at step ``t``, for each line, ``k`` in
    ``1 .. horizon`` when the next event starts at step ``t + k``, and 0 when none starts in
    ``t + 1 .. t + horizon``. An event starting at ``t`` itself is already in effect (see
    :func:`unavailable_steps`) and is not reported.

    Args:
        events: (T, n_line) non-negative integer durations.
        horizon: number of future steps looked at (``n_timesteps_horizon_maintenance``).

    Returns:
        (T, n_line) int32.
    """
    events = np.asarray(events)
    n_steps = events.shape[0]
    if horizon <= 0 or n_steps == 0:
        return np.zeros(events.shape, dtype=np.int32)
    big = np.iinfo(np.int64).max // 2
    t = np.arange(n_steps, dtype=np.int64)[:, None]
    start = np.where(events > 0, t, big)
    # next start at or after t, then strictly after t by shifting one row
    next_at_or_after = np.minimum.accumulate(start[::-1], axis=0)[::-1]
    next_after = np.full_like(next_at_or_after, big)
    next_after[:-1] = next_at_or_after[1:]
    k = next_after - t
    return np.where(k <= horizon, k, 0).astype(np.int32)
