"""Scenario generator and the ``new_env`` command: determinism, shapes, physics, files."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.chronics.chronic import EVENT_FIELDS, INJECTION_FIELDS
from gym_powergrid.chronics.generator import (
    ROLE_SLACK,
    ROLE_SOLAR,
    ROLE_WIND,
    GeneratorConfig,
    chronic_calendar,
    generate_scenarios,
)
from gym_powergrid.chronics.generator_events import bridge_lines, substation_regions
from gym_powergrid.chronics.generator_shapes import ar1, calendar, held_noise, solar_clear_sky
from gym_powergrid.errors import ConfigurationError
from gym_powergrid.grid import load_grid

#: Small but complete: 2 chronics of 3 days, few N-1 samples (keeps the module fast).
SMALL = GeneratorConfig(n_chronics=2, days_per_chronic=3, n1_samples=12,
                        maintenance_per_month=20.0, hazards_per_month=10.0)
ARRAYS = (*INJECTION_FIELDS, *EVENT_FIELDS, "line_limit_a", "datetimes", "simu_ids")


@pytest.fixture(scope="module")
def grid():
    return load_grid("case14")


@pytest.fixture(scope="module")
def scen(grid):
    return generate_scenarios(grid, 7, SMALL)


def test_same_seed_identical_arrays(grid, scen):
    again = generate_scenarios(grid, 7, SMALL)
    for a, b in zip(scen.chronics, again.chronics):
        assert a.name == b.name
        for attr in ARRAYS:
            np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr), err_msg=attr)
    np.testing.assert_array_equal(scen.prod_role, again.prod_role)


def test_other_seed_differs(grid, scen):
    other = generate_scenarios(grid, 8, SMALL)
    assert not np.array_equal(scen.chronics[0].load_p_mw, other.chronics[0].load_p_mw)
    assert not np.array_equal(scen.chronics[0].line_limit_a, other.chronics[0].line_limit_a)


def test_event_settings_leave_injections_unchanged(grid, scen):
    """Random streams are keyed by component: fewer outages, same loads."""
    quiet = generate_scenarios(grid, 7, SMALL.replace(maintenance_per_month=0.0,
                                                      hazards_per_month=0.0))
    np.testing.assert_array_equal(scen.chronics[1].load_p_mw, quiet.chronics[1].load_p_mw)
    assert not quiet.chronics[0].maintenance.any() and not quiet.chronics[0].hazards.any()


def test_shapes_and_validation(grid, scen):
    assert [c.name for c in scen.chronics] == ["01_jan", "02_feb"]
    for c in scen.chronics:
        assert c.n_steps == 3 * 24
        assert (c.n_prod, c.n_load, c.n_line) == (grid.n_prod, grid.n_load, grid.n_line)
        c.validate(grid.n_prod, grid.n_load, grid.n_line)
        assert c.timestep_seconds == 3600.0
        assert np.unique(c.simu_ids).size == c.n_steps
        assert (c.line_limit_a > 0).all()
    np.testing.assert_array_equal(scen.chronics[0].line_limit_a, scen.chronics[1].line_limit_a)
    assert len(scen.stats) == 2 and scen.stats[0].n_diverged == 0


def test_roles_regions_and_stress(grid, scen):
    assert scen.prod_role[grid.slack_prod_idx] == ROLE_SLACK
    assert (scen.prod_role == ROLE_WIND).sum() >= 1 and (scen.prod_role == ROLE_SOLAR).sum() >= 1
    assert scen.sub_region.shape == (grid.n_sub,) and scen.sub_region.max() >= 1
    assert int(scen.line_stressed_mask.sum()) == scen.config.n_stressed == 4
    np.testing.assert_allclose(scen.load_mix.sum(axis=1), 1.0)


def test_loads_and_power_factors(grid, scen):
    c = scen.chronics[0]
    p = np.asarray(c.load_p_mw, dtype=float)
    q = np.asarray(c.load_q_mvar, dtype=float)
    assert (p > 0).all()
    pf = p / np.hypot(p, q)
    assert 0.86 < pf.min() and pf.max() < 0.995
    total = p.sum(axis=1)
    assert 0.3 * grid.load_p_mw.sum() < total.min() < total.max() < 1.2 * grid.load_p_mw.sum()
    # a daily cycle: the evening is busier than the small hours
    hours = calendar(c.datetimes)["hour"]
    assert total[hours == 19].mean() > 1.2 * total[hours == 4].mean()
    err = np.asarray(c.load_p_planned_mw, dtype=float) / p - 1.0
    assert 0.003 < np.abs(err).mean() < 0.1


def test_productions_balance_and_renewables(grid, scen):
    for c in scen.chronics:
        prod = np.asarray(c.prod_p_mw, dtype=float)
        load = np.asarray(c.load_p_mw, dtype=float).sum(axis=1)
        losses = prod.sum(axis=1) - load  # the slack column comes from an AC power flow
        assert (losses > 0).all() and (losses < 0.05 * load).all()
        assert (prod >= -1e-9).all()
        solar = scen.prod_role == ROLE_SOLAR
        night = calendar(c.datetimes)["hour"] < 5
        assert (prod[np.ix_(night, solar)] == 0).all()
        assert prod[:, solar].max() > 0
        v = np.asarray(c.prod_v_pu, dtype=float)
        assert np.abs(v - grid.prod_vm_pu).max() < 0.01
        slack = prod[:, grid.slack_prod_idx]
        cap = scen.prod_capacity_mw[grid.slack_prod_idx]
        assert (slack > 0).all() and (slack < 1.1 * cap).all()


def test_maintenance_daytime_weekdays_hazards_present(grid, scen):
    bridges = bridge_lines(grid)
    starts = []
    for c in scen.chronics:
        cal = calendar(c.datetimes)
        t, line = np.nonzero(c.maintenance)
        starts += list(zip(cal["hour"][t], cal["weekday"][t], line, c.maintenance[t, line]))
        assert c.hazards.any() or c is scen.chronics[0]
    assert starts
    for hour, weekday, line, d in starts:
        assert 8 <= hour <= 10 and weekday < 5 and 2 <= d <= 8 and not bridges[line]


def test_limits_stress_the_grid_at_peaks(scen):
    stats = scen.stats
    assert max(s.max_rho for s in stats) > 0.85
    assert all(s.max_rho < 1.5 for s in stats)


def test_calendar_and_shapes():
    cfg = GeneratorConfig(year=2019, first_month=11, n_chronics=3)
    names = [chronic_calendar(cfg, k)[0] for k in range(3)]
    assert names == ["01_nov", "02_dec", "03_jan"]
    _, jan = chronic_calendar(cfg, 2)
    assert str(jan[0]) == "2020-01-01T00:00" and jan.shape[0] == 31 * 24
    cal = calendar(np.array(["2019-01-01T12:00", "2019-01-07T00:00"], dtype="datetime64[m]"))
    assert cal["weekday"].tolist() == [6, 0]  # New Year's Day is a holiday, the 7th a Monday
    sun = solar_clear_sky(calendar(np.arange(np.datetime64("2019-06-21T00:00"),
                                             np.datetime64("2019-06-22T00:00"),
                                             np.timedelta64(60, "m"))))
    assert sun[:4].max() == 0 and sun[11:13].min() > 0.9
    rng = np.random.default_rng(0)
    x = ar1(rng, 20000, 1, 0.9, 2.0)[:, 0]
    assert abs(x.std() - 2.0) < 0.2 and abs(np.corrcoef(x[1:], x[:-1])[0, 1] - 0.9) < 0.03
    h = held_noise(rng, 100, 3, 10.0, 1.0)
    changes = np.flatnonzero(np.diff(h[:, 0]) != 0)
    np.testing.assert_array_equal(changes, np.flatnonzero(np.diff(h[:, 1]) != 0))


def test_regions_are_deterministic(grid):
    a = substation_regions(grid, 3, np.random.default_rng(1))
    b = substation_regions(grid, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert set(a.tolist()) == {0, 1, 2}


@pytest.mark.parametrize(("key", "value"), [
    ("first_month", 13), ("n_chronics", 0), ("step_minutes", 7),
    ("power_factor_range", (0.99, 0.9)), ("wind_share", 1.5),
    ("maintenance_duration_hours", (0, 3)), ("mw_decimals", 9),
])
def test_bad_settings_name_the_key(key, value):
    with pytest.raises(ConfigurationError, match=key):
        GeneratorConfig(**{key: value})


def test_negative_seed_refused(grid):
    with pytest.raises(ConfigurationError, match="seed"):
        generate_scenarios(grid, -1, SMALL)


# ---------------------------------------------------------------------- new_env command
NEW_ENV_ARGS = ["--case", "case14", "--seed", "3", "--n-chronics", "2", "--days", "2",
                "--set", "n1_samples=8", "-q"]


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_new_env_writes_a_loadable_folder(tmp_path):
    from gym_powergrid.new_env import GENERATED_FILE, create_environment, main
    from gym_powergrid.params import ParameterFolder

    assert main(["mini14", "--out", str(tmp_path / "a"), *NEW_ENV_ARGS]) == 0
    env = tmp_path / "a" / "mini14"
    folder = ParameterFolder(env)
    assert folder.config.loadflow_backend == "numba" and folder.config.loadflow_mode == "AC"
    assert folder.config.max_number_loads_game_over == 1
    chronics = folder.chronics
    assert chronics.names == ("01_jan", "02_feb")
    c = chronics[0]
    assert c.n_steps == 48 and (c.n_prod, c.n_load, c.n_line) == (5, 11, 20)
    assert abs(float(c.prod_v_pu[0, 0]) - 1.06) < 0.01  # kV in the files, p.u. once read
    report = (env / GENERATED_FILE).read_text()
    assert "python -m gym_powergrid.new_env mini14" in report and "seed: 3" in report
    assert all(p.name.endswith(".csv.bz2") for p in (env / "level0/chronics/01_jan").iterdir())
    # refuses to overwrite without --overwrite
    assert main(["mini14", "--out", str(tmp_path / "a"), *NEW_ENV_ARGS]) == 2
    # same grid and seed, same bytes (the folder's grid already went through the .m round trip)
    cfg = GeneratorConfig(n_chronics=2, days_per_chronic=2, n1_samples=8)
    args = dict(name="mini14", case=folder.grid, seed=3, generator=cfg, round_trip=False,
                command="cmd")
    create_environment(tmp_path / "b", **args)
    create_environment(tmp_path / "c", **args)
    b, c2 = _files(tmp_path / "b" / "mini14"), _files(tmp_path / "c" / "mini14")
    assert b.keys() == c2.keys() and all(b[k] == c2[k] for k in b)
    # and the same chronic files as the command wrote
    a = _files(env)
    assert all(a[k] == b[k] for k in a if "chronics" in k.parts)


def test_new_env_bad_arguments(tmp_path, capsys):
    from gym_powergrid.new_env import main

    assert main(["x", "--case", "case15", "--out", str(tmp_path), "--seed", "1"]) == 2
    assert "case15" in capsys.readouterr().err
    assert main(["x", "--case", "case14", "--out", str(tmp_path), "--seed", "1",
                 "--set", "n_stresed=3"]) == 2
    assert "n_stressed" in capsys.readouterr().err
