"""Small chronics for tests (import as ``chronics.chronic_factory``: ``tests/`` is on sys.path)."""

from __future__ import annotations

import numpy as np

from gym_powergrid.chronics import Chronic


def make_chronic(name: str = "a", n_steps: int = 6, n_prod: int = 2, n_load: int = 3,
                 n_line: int = 4, seed: int = 0, dtype=np.float32, start: str = "2018-01-31T08:00",
                 step_minutes: int = 60) -> Chronic:
    """A valid chronic with rounded random values, one maintenance and one hazard."""
    rng = np.random.default_rng(seed)

    def val(lo, hi, n):
        return np.round(rng.uniform(lo, hi, (n_steps, n)), 3).astype(dtype)

    maintenance = np.zeros((n_steps, n_line), dtype=np.int32)
    hazards = np.zeros((n_steps, n_line), dtype=np.int32)
    maintenance[min(2, n_steps - 1), 1 % n_line] = 3
    hazards[min(1, n_steps - 1), 0] = 1
    return Chronic(
        name=name,
        prod_p_mw=val(0, 100, n_prod), prod_v_pu=val(0.95, 1.05, n_prod),
        load_p_mw=val(0, 50, n_load), load_q_mvar=val(-10, 10, n_load),
        prod_p_planned_mw=val(0, 100, n_prod), prod_v_planned_pu=val(0.95, 1.05, n_prod),
        load_p_planned_mw=val(0, 50, n_load), load_q_planned_mvar=val(-10, 10, n_load),
        maintenance=maintenance, hazards=hazards,
        datetimes=np.datetime64(start) + np.arange(n_steps) * np.timedelta64(step_minutes, "m"),
        simu_ids=np.arange(n_steps), line_limit_a=np.round(rng.uniform(50, 500, n_line), 1),
    )


def assert_same_chronic(a: Chronic, b: Chronic) -> None:
    """Every array of ``a`` equals the one of ``b`` (values and shapes)."""
    for attr in ("prod_p_mw", "prod_v_pu", "load_p_mw", "load_q_mvar", "prod_p_planned_mw",
                 "prod_v_planned_pu", "load_p_planned_mw", "load_q_planned_mvar", "maintenance",
                 "hazards", "datetimes", "simu_ids", "line_limit_a"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr), err_msg=attr)
