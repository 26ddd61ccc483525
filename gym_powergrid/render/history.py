"""Rolling history of the frames a renderer was given (one frame = one hourly step)."""

from __future__ import annotations

import datetime as _dt
from collections import deque
from dataclasses import dataclass

import numpy as np

from .state import FrameState

#: Frames per day under the renderer's assumption of hourly steps.
STEPS_PER_DAY = 24


@dataclass(frozen=True)
class HistoryPoint:
    """Aggregates kept for one rendered frame."""

    total_load_mw: float
    total_prod_mw: float
    n_overflow: int
    date: _dt.datetime | None
    timestep: int | None = None


class FrameHistory:
    """Keeps the last ``days`` days of frame aggregates (totals, overflow counts, dates).

    Args:
        days: how many days of frames to keep (``days * 24`` frames).
    """

    def __init__(self, days: int = 3) -> None:
        self.maxlen = max(1, int(days)) * STEPS_PER_DAY
        self._points: deque[HistoryPoint] = deque(maxlen=self.maxlen)
        self._chronic: str | None = None

    def __len__(self) -> int:
        return len(self._points)

    def clear(self) -> None:
        """Forget every frame (call it when an episode restarts)."""
        self._points.clear()
        self._chronic = None

    def push(self, state: FrameState) -> None:
        """Record a frame; a change of chronic name clears the history first.

        A frame of the same step as the last one (the env records every step, then a frame of
        that step is drawn) replaces it instead of being counted twice.
        """
        if state.chronic_name is not None:
            if self._chronic is not None and state.chronic_name != self._chronic:
                self._points.clear()
            self._chronic = state.chronic_name
        point = HistoryPoint(state.total_load_mw, state.total_prod_mw, state.n_overflow,
                             state.date, state.timestep)
        if (self._points and state.timestep is not None
                and self._points[-1].timestep == state.timestep):
            self._points[-1] = point
        else:
            self._points.append(point)

    @property
    def points(self) -> list[HistoryPoint]:
        return list(self._points)

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """Total load and total production (MW), oldest first."""
        pts = self._points
        return (
            np.fromiter((p.total_load_mw for p in pts), dtype=np.float64, count=len(pts)),
            np.fromiter((p.total_prod_mw for p in pts), dtype=np.float64, count=len(pts)),
        )

    def overflows_last_day(self) -> np.ndarray:
        """Overflowed-line counts of the last (up to) 24 frames, oldest first."""
        pts = list(self._points)[-STEPS_PER_DAY:]
        return np.array([p.n_overflow for p in pts], dtype=np.int64)
