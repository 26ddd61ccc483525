"""The parameter folders shipped in ``gym_powergrid/envs/params``: layout, data and physics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gym_powergrid
from gym_powergrid.chronics import CHRONIC_FILES
from gym_powergrid.params import ParameterFolder

SHIPPED = Path(gym_powergrid.__file__).resolve().parent / "envs" / "params"
#: name -> (n_prod, n_load, n_line, max isolated loads, max isolated productions)
CASES = {
    "case14": (5, 11, 20, 1, 1),
    "case30": (6, 20, 41, 2, 1),
    "case118": (54, 99, 186, 10, 5),
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS_2019 = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@pytest.fixture(scope="module", params=list(CASES))
def shipped(request):
    return request.param, ParameterFolder(SHIPPED / request.param)


def test_layout_and_generation_record(shipped):
    name, folder = shipped
    level = SHIPPED / name / "level0"
    assert folder.levels[0] == "level0"  # the default level
    assert (level / "configuration.yaml").is_file() and (level / "reference_grid.m").is_file()
    chronic_dirs = sorted(p.name for p in (level / "chronics").iterdir())
    assert chronic_dirs == [f"{k + 1:02d}_{m}" for k, m in enumerate(MONTHS)]
    for d in chronic_dirs:
        files = sorted(p.name for p in (level / "chronics" / d).iterdir())
        assert files == sorted(f + ".bz2" for f in CHRONIC_FILES)
    record = (SHIPPED / name / "GENERATED.md").read_text()
    assert f"python -m gym_powergrid.new_env {name} --case {name}" in record
    assert "--seed" in record and "seed:" in record


#: the hard level of each case: (chronics, steps of each chronic or None for whole months)
HARD = {"case14": (24, None), "case30": (24, None), "case118": (24, 14 * 24)}


@pytest.mark.parametrize("name", list(HARD))
def test_hard_level_layout_and_generation_record(name):
    from gym_powergrid.envs.registration import HARD_CASES, HARD_LEVEL

    if name not in HARD_CASES:
        pytest.skip(f"{name} ships no hard level")
    folder = ParameterFolder(SHIPPED / name, HARD_LEVEL)
    assert folder.levels == ("level0", HARD_LEVEL)
    n, steps = HARD[name]
    assert len(folder.chronics) == n
    if steps is not None:
        assert folder.chronics[0].n_steps == steps
    record = (SHIPPED / name / f"GENERATED-{HARD_LEVEL}.md").read_text()
    assert f"python -m gym_powergrid.new_env {name} --case {name}" in record
    assert f"--level {HARD_LEVEL}" in record and "--seed" in record


def test_configuration(shipped):
    name, folder = shipped
    cfg = folder.config
    assert cfg.loadflow_backend == "numba" and cfg.loadflow_mode == "AC"
    assert cfg.hard_overflow_coefficient == 1.5
    assert cfg.n_timesteps_consecutive_soft_overflow_breaks == 3
    assert (cfg.max_number_loads_game_over, cfg.max_number_prods_game_over) == CASES[name][3:]


def test_grid_and_chronics(shipped):
    name, folder = shipped
    grid = folder.grid
    assert (grid.n_prod, grid.n_load, grid.n_line) == CASES[name][:3]
    chronics = folder.chronics
    assert len(chronics) == 12
    n_events = 0
    for k in (0, 1, 11):  # January, February (28 days), December
        c = chronics[k]
        assert c.n_steps == 24 * DAYS_2019[k]
        assert c.timestep_seconds == 3600.0
        assert str(c.datetimes[0]) == f"2019-{k + 1:02d}-01T00:00"
        assert (c.line_limit_a > 0).all()
        n_events += int((c.maintenance > 0).sum() + (c.hazards > 0).sum())
        v = np.asarray(c.prod_v_pu, dtype=float)
        assert 0.9 < v.min() and v.max() < 1.12  # p.u. once read (the files hold kV)
    assert n_events > 0


def _flows(folder, chronic, steps):
    from gym_powergrid.core.powerflow import NumbaPowerFlow
    from gym_powergrid.core.results import Injections
    from gym_powergrid.grid import Topology

    grid = folder.grid
    pf = NumbaPowerFlow(grid)
    topo = Topology.reference(grid)
    out = []
    for t in steps:
        inj = Injections(chronic.prod_p_mw[t], chronic.prod_v_pu[t], chronic.load_p_mw[t],
                         chronic.load_q_mvar[t], grid.prod_q_mvar)
        res = pf.run_ac(topo, inj)
        assert res.converged, f"{chronic.name} step {t}: {res.status}"
        out.append(res)
    return out


def test_injections_balance(shipped):
    """Production from a power flow (slack included) = load + losses, and matches the files."""
    name, folder = shipped
    grid = folder.grid
    for k in (0, 6):
        c = folder.chronics[k]
        steps = np.linspace(0, c.n_steps - 1, 10).astype(int)
        for t, res in zip(steps, _flows(folder, c, steps)):
            load = float(np.sum(c.load_p_mw[t]))
            produced = float(res.prod_p_mw.sum())
            losses = produced - load
            assert 0.0 < losses < 0.05 * load, (name, c.name, t, losses, load)
            in_file = float(np.sum(np.asarray(c.prod_p_mw[t], dtype=float)))
            assert abs(in_file - produced) < 0.01 * load
            slack = res.prod_p_mw[grid.slack_prod_idx]
            assert 0.0 < slack < 1.1 * grid.prod_p_max_mw[grid.slack_prod_idx]


def test_grid_is_stressed_at_peaks(shipped):
    """Around the year's first peak some lines come close to (or above) their limits."""
    _, folder = shipped
    c = folder.chronics[0]
    peak = int(np.argmax(np.asarray(c.load_p_mw, dtype=float).sum(axis=1)))
    steps = range(max(peak - 2, 0), min(peak + 3, c.n_steps))
    rho = np.array([r.line_a_or / c.line_limit_a for r in _flows(folder, c, steps)])
    assert 0.8 < rho.max() < 1.3
    assert np.median(rho) < 0.7


def test_total_size_stays_small():
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    # level0 5.0 MB; the hard levels (24 case14 and case30 months, 24 two-week case118
    # chronics) 8.7 MB more
    assert total < 14.5e6, f"shipped parameter folders take {total / 1e6:.2f} MB"


def test_gymnasium_make_case14_runs():
    import gymnasium as gym

    env = gym.make("PowerGrid-case14-v0")
    try:
        obs, info = env.reset(seed=0, options={"chronic": 0})
        action = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)
        for _ in range(5):
            obs, reward, terminated, truncated, info = env.step(action)
            assert not terminated
    finally:
        env.close()
