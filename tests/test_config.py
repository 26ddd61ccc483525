"""GameConfig: every pypownet key, defaults, normalisation, errors naming key, value and rule."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from gym_powergrid.config import UNSUPPORTED_KEYS, GameConfig
from gym_powergrid.errors import ConfigurationError

#: pypownet's documented default configuration.yaml (seed, "Configuration file").
PYPOWNET_DEFAULT_YAML = """\
loadflow_backend: pypower
#loadflow_backend: matpower

loadflow_mode: AC  # alternative current: more precise model but longer to process
#loadflow_mode: DC  # direct current: more simplist and faster model

max_seconds_per_timestep: 1.0  # time in seconds before player is timedout

hard_overflow_coefficient: 1.5  # % of line capacity usage above which a line will break
n_timesteps_hard_overflow_is_broken: 10  # number of timesteps a hard overflow broken line is broken

n_timesteps_consecutive_soft_overflow_breaks: 3  # number of consecutive timesteps b4 break
n_timesteps_soft_overflow_is_broken: 5  # number of timesteps a soft overflow broken line is broken

n_timesteps_horizon_maintenance: 20  # number of immediate future timesteps for maintenance

max_number_prods_game_over: 10  # number of tolerated isolated productions before game over
max_number_loads_game_over: 10  # number of tolerated isolated loads before game over

n_timesteps_actionned_line_reactionable: 3
n_timesteps_actionned_node_reactionable: 3
n_timesteps_pending_line_reactionable_when_overflowed: 1
n_timesteps_pending_node_reactionable_when_overflowed: 1

max_number_actionned_substations: 7
max_number_actionned_lines: 10
max_number_actionned_total: 15
"""

PYPOWNET_KEYS = (
    "loadflow_backend", "loadflow_mode", "max_seconds_per_timestep", "hard_overflow_coefficient",
    "n_timesteps_hard_overflow_is_broken", "n_timesteps_consecutive_soft_overflow_breaks",
    "n_timesteps_soft_overflow_is_broken", "n_timesteps_horizon_maintenance",
    "max_number_prods_game_over", "max_number_loads_game_over",
    "n_timesteps_actionned_line_reactionable", "n_timesteps_actionned_node_reactionable",
    "n_timesteps_pending_line_reactionable_when_overflowed",
    "n_timesteps_pending_node_reactionable_when_overflowed", "max_number_actionned_substations",
    "max_number_actionned_lines", "max_number_actionned_total",
)


def test_every_pypownet_key_with_its_default():
    cfg = GameConfig()
    assert set(PYPOWNET_KEYS) <= set(GameConfig.keys())
    assert set(GameConfig.keys()) - set(PYPOWNET_KEYS) == {
        "game_over_mode", "chronic_looping_mode", "reward", "outages_after_game_over"}
    assert cfg.to_dict() == {
        "loadflow_backend": "numba", "loadflow_mode": "AC", "max_seconds_per_timestep": 1.0,
        "hard_overflow_coefficient": 1.5, "n_timesteps_hard_overflow_is_broken": 10,
        "n_timesteps_consecutive_soft_overflow_breaks": 3,
        "n_timesteps_soft_overflow_is_broken": 5, "n_timesteps_horizon_maintenance": 20,
        "max_number_prods_game_over": 10, "max_number_loads_game_over": 10,
        "n_timesteps_actionned_line_reactionable": 3,
        "n_timesteps_actionned_node_reactionable": 3,
        "n_timesteps_pending_line_reactionable_when_overflowed": 1,
        "n_timesteps_pending_node_reactionable_when_overflowed": 1,
        "max_number_actionned_substations": 7, "max_number_actionned_lines": 10,
        "max_number_actionned_total": 15, "game_over_mode": "soft",
        "chronic_looping_mode": "natural", "reward": "pypownet",
        "outages_after_game_over": "forget",
    }


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        GameConfig().loadflow_mode = "DC"  # type: ignore[misc]


def test_pypownet_default_file(tmp_path, caplog):
    path = tmp_path / "configuration.yaml"
    path.write_text(PYPOWNET_DEFAULT_YAML)
    with caplog.at_level(logging.DEBUG, logger="gym_powergrid.config"):
        cfg = GameConfig.from_yaml(path)
    assert cfg.loadflow_backend == "pypower"  # pypownet's solver, on the numba core
    for key in UNSUPPORTED_KEYS:
        assert f"{key!r}" in caplog.text and "not supported yet" in caplog.text
    assert cfg == GameConfig(loadflow_backend="pypower")


@pytest.mark.parametrize("given, expected", [("pypower", "pypower"),
                                             ("matpower", "pandapower"),
                                             ("Numba", "numba"), ("pandapower", "pandapower")])
def test_backends(given, expected):
    assert GameConfig.from_dict({"loadflow_backend": given}).loadflow_backend == expected


@pytest.mark.parametrize("given", ["ac", "Ac", " DC ", "dc"])
def test_loadflow_mode_normalised(given):
    assert GameConfig.from_dict({"loadflow_mode": given}).loadflow_mode == given.strip().upper()


def test_own_keys():
    cfg = GameConfig.from_dict({"game_over_mode": "HARD", "chronic_looping_mode": "random",
                                "reward": "simple"})
    assert (cfg.game_over_mode, cfg.chronic_looping_mode, cfg.reward) == ("hard", "random",
                                                                          "simple")


def test_unknown_key_suggests_close_names():
    with pytest.raises(ConfigurationError) as info:
        GameConfig.from_dict({"max_number_load_game_over": 3})
    msg = str(info.value)
    assert "unknown configuration key 'max_number_load_game_over'" in msg
    assert "Did you mean 'max_number_loads_game_over'" in msg
    assert "Allowed keys:" in msg


@pytest.mark.parametrize("key, value, fragment", [
    ("loadflow_mode", "ACDC", "allowed: AC, DC"),
    ("loadflow_mode", 1, "allowed: AC, DC"),
    ("loadflow_backend", "octave", "allowed: numba, pandapower, pypower, matpower (read as "
     "pandapower)"),
    ("game_over_mode", "medium", "allowed: soft, hard, easy"),
    ("chronic_looping_mode", "shuffle", "allowed: natural, random, fixed"),
    ("reward", "", "a non-empty name"),
    ("hard_overflow_coefficient", 0.9, "out of range; allowed: a number >= 1"),
    ("hard_overflow_coefficient", "1.5", "allowed: a number >= 1"),
    ("hard_overflow_coefficient", float("nan"), "a finite number"),
    ("n_timesteps_hard_overflow_is_broken", -1, "out of range; allowed: an integer >= 0"),
    ("n_timesteps_consecutive_soft_overflow_breaks", 0, "an integer >= 1"),
    ("max_number_loads_game_over", 2.5, "allowed: an integer >= 0"),
    ("max_number_actionned_lines", True, "(bool)"),
    ("n_timesteps_horizon_maintenance", None, "has no value"),
    ("max_seconds_per_timestep", -1.0, "a number >= 0"),
])
def test_bad_values_name_key_value_and_rule(key, value, fragment):
    with pytest.raises(ConfigurationError) as info:
        GameConfig.from_dict({key: value})
    msg = str(info.value)
    assert repr(key) in msg and fragment in msg
    if value is not None and value != "":
        assert repr(value) in msg or str(value) in msg


def test_integral_floats_are_ints():
    cfg = GameConfig.from_dict({"max_number_actionned_total": 15.0, "hard_overflow_coefficient": 2})
    assert cfg.max_number_actionned_total == 15 and isinstance(cfg.max_number_actionned_total, int)
    assert cfg.hard_overflow_coefficient == 2.0 and isinstance(cfg.hard_overflow_coefficient, float)


def test_replace_validates():
    cfg = GameConfig().replace(loadflow_mode="dc", max_number_loads_game_over=0)
    assert cfg.loadflow_mode == "DC" and cfg.max_number_loads_game_over == 0
    with pytest.raises(ConfigurationError, match="Did you mean 'loadflow_mode'"):
        GameConfig().replace(loadflow_mod="DC")
    with pytest.raises(ConfigurationError, match="'max_number_actionned_total'"):
        GameConfig().replace(max_number_actionned_total=-3)
    with pytest.raises(ConfigurationError, match="allowed: AC, DC"):
        GameConfig(loadflow_mode="XX")


def test_yaml_round_trip(tmp_path):
    cfg = GameConfig(loadflow_mode="DC", hard_overflow_coefficient=1.25, game_over_mode="easy",
                     reward="flat")
    cfg.to_yaml(tmp_path / "sub" / "configuration.yaml")
    assert GameConfig.from_yaml(tmp_path / "sub" / "configuration.yaml") == cfg


def test_pypownet_compatible_yaml(tmp_path):
    path = tmp_path / "configuration.yaml"
    GameConfig(game_over_mode="hard").to_yaml(path, pypownet_compatible=True)
    text = path.read_text()
    assert "loadflow_backend: pypower" in text and "game_over_mode" not in text
    assert GameConfig.from_yaml(path).loadflow_backend == "pypower"


def test_matpower_backend_is_read_as_pandapower(caplog):
    with caplog.at_level(logging.DEBUG, logger="gym_powergrid.config"):
        assert GameConfig.from_dict({"loadflow_backend": "matpower"}).loadflow_backend == (
            "pandapower")
    assert "'matpower' (pypownet) is read as 'pandapower'" in caplog.text


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "configuration.yaml"
    path.write_text("loadflow_mode: [AC\n")
    with pytest.raises(ConfigurationError, match="configuration.yaml: not valid YAML"):
        GameConfig.from_yaml(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigurationError, match="configuration.yaml: a configuration must be"):
        GameConfig.from_yaml(path)
    path.write_text("loadflow_mode: XX\n")
    with pytest.raises(ConfigurationError, match="configuration.yaml: .*'loadflow_mode'"):
        GameConfig.from_yaml(path)
    path.write_text("")
    assert GameConfig.from_yaml(path) == GameConfig()
    with pytest.raises(FileNotFoundError):
        GameConfig.from_yaml(tmp_path / "missing.yaml")
