"""Maintenance and hazards expansion, checked against a step-by-step reference."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.chronics import steps_to_next_event, unavailable_mask, unavailable_steps


def _reference_unavailable(events: np.ndarray) -> np.ndarray:
    out = np.zeros(events.shape, dtype=np.int64)
    for line in range(events.shape[1]):
        for t in range(events.shape[0]):
            ends = [s + events[s, line] for s in range(t + 1) if events[s, line] > 0]
            out[t, line] = max([e - t for e in ends if e > t], default=0)
    return out


def _reference_next(events: np.ndarray, horizon: int) -> np.ndarray:
    out = np.zeros(events.shape, dtype=np.int64)
    for line in range(events.shape[1]):
        for t in range(events.shape[0]):
            for k in range(1, horizon + 1):
                if t + k < events.shape[0] and events[t + k, line] > 0:
                    out[t, line] = k
                    break
    return out


def test_single_maintenance():
    m = np.zeros((8, 2), dtype=np.int32)
    m[2, 1] = 3  # line 1 unavailable at steps 2, 3, 4
    assert unavailable_steps(m)[:, 1].tolist() == [0, 0, 3, 2, 1, 0, 0, 0]
    assert unavailable_mask(m)[:, 1].tolist() == [False, False, True, True, True, False, False,
                                                  False]
    assert not unavailable_mask(m)[:, 0].any()
    assert steps_to_next_event(m, horizon=2)[:, 1].tolist() == [2, 1, 0, 0, 0, 0, 0, 0]
    assert steps_to_next_event(m, horizon=20)[:, 1].tolist() == [2, 1, 0, 0, 0, 0, 0, 0]
    assert steps_to_next_event(m, horizon=0).sum() == 0


def test_overlapping_events_merge():
    m = np.array([[4], [1], [0], [5], [0], [0], [0], [0], [0], [0]])
    assert unavailable_steps(m)[:, 0].tolist() == [4, 3, 2, 5, 4, 3, 2, 1, 0, 0]


@pytest.mark.parametrize("seed", range(5))
def test_against_reference(seed):
    rng = np.random.default_rng(seed)
    events = np.where(rng.random((40, 6)) < 0.1, rng.integers(1, 7, (40, 6)), 0)
    np.testing.assert_array_equal(unavailable_steps(events), _reference_unavailable(events))
    for horizon in (1, 3, 10):
        np.testing.assert_array_equal(steps_to_next_event(events, horizon),
                                      _reference_next(events, horizon))


def test_dtypes_and_empty():
    events = np.zeros((0, 3), dtype=np.int32)
    assert unavailable_steps(events).shape == (0, 3)
    assert steps_to_next_event(events, 5).shape == (0, 3)
    assert unavailable_steps(np.ones((2, 2), np.int32)).dtype == np.int32
