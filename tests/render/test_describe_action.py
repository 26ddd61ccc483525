"""describe_action: pypownet's flat switch vector in words."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_obs import fake_grid as load_grid

from gym_powergrid.errors import ActionError
from gym_powergrid.render import describe_action


@pytest.fixture(scope="module")
def grid():
    return load_grid("case14")


def _obs_nodes(grid, **over):
    obs = {
        "productions_nodes": np.zeros(grid.n_prod, dtype=int),
        "loads_nodes": np.zeros(grid.n_load, dtype=int),
        "lines_or_nodes": np.zeros(grid.n_line, dtype=int),
        "lines_ex_nodes": np.zeros(grid.n_line, dtype=int),
        "lines_status": np.ones(grid.n_line, dtype=int),
    }
    obs.update(over)
    return obs


def _action(grid, prods=(), loads=(), ors=(), exs=(), status=()):
    a = np.zeros(grid.n_prod + grid.n_load + 3 * grid.n_line, dtype=np.int8)
    offsets = (0, grid.n_prod, grid.n_prod + grid.n_load, grid.n_prod + grid.n_load + grid.n_line,
               grid.n_prod + grid.n_load + 2 * grid.n_line)
    for off, ids in zip(offsets, (prods, loads, ors, exs, status)):
        for i in ids:
            a[off + i] = 1
    return a


def test_do_nothing(grid):
    assert describe_action(grid, _action(grid)) == ["do nothing"]


def test_line_status_switches(grid):
    status = np.ones(grid.n_line, dtype=int)
    status[9] = 0
    obs = _obs_nodes(grid, lines_status=status)
    assert describe_action(grid, _action(grid, status=(7, 9)), obs) == [
        "line 7 switched off", "line 9 switched on"]
    assert describe_action(grid, _action(grid, status=(7,))) == ["line 7 status toggled"]


def test_node_switches_are_grouped_by_substation(grid):
    # pick a load and a line origin on the same substation
    load = 3
    sub = int(grid.load_sub_idx[load])
    line = int(np.flatnonzero(grid.line_sub_or_idx == sub)[0])
    text = describe_action(grid, _action(grid, loads=(load,), ors=(line,)), _obs_nodes(grid))
    assert text == [f"substation {sub}: load {load} and line {line} origin -> busbar 1"]


def test_moves_back_to_busbar_0_and_extremities(grid):
    line = 12
    sub_ex = int(grid.line_sub_ex_idx[line])
    ex_nodes = np.zeros(grid.n_line, dtype=int)
    ex_nodes[line] = 1
    prod = int(np.flatnonzero(grid.prod_sub_idx == sub_ex)[0]) if np.any(
        grid.prod_sub_idx == sub_ex) else None
    act = _action(grid, exs=(line,), prods=() if prod is None else (prod,))
    text = describe_action(grid, act, _obs_nodes(grid, lines_ex_nodes=ex_nodes))
    assert len(text) == 1
    assert f"line {line} extremity -> busbar 0" in text[0]
    assert text[0].startswith(f"substation {sub_ex}: ")


def test_three_elements_and_unknown_target(grid):
    sub = int(np.argmax(grid.sub_n_elements))
    ors = tuple(int(i) for i in np.flatnonzero(grid.line_sub_or_idx == sub)[:3])
    text = describe_action(grid, _action(grid, ors=ors))
    words = ", ".join(f"line {i} origin" for i in ors[:-1]) + f" and line {ors[-1]} origin"
    assert text == [f"substation {sub}: {words} switch busbar"]


def test_substations_then_lines_in_order(grid):
    text = describe_action(grid, _action(grid, prods=(1,), loads=(0,), status=(0,)),
                           _obs_nodes(grid))
    subs = [int(t.split(":")[0].split()[1]) for t in text[:-1]]
    assert subs == sorted(subs)
    assert text[-1] == "line 0 switched off"


def test_accepts_bool_and_float_vectors(grid):
    a = _action(grid, status=(2,))
    assert describe_action(grid, a.astype(bool)) == describe_action(grid, a.astype(float))


@pytest.mark.parametrize("bad", [np.zeros(3), np.full(5 + 11 + 60, 2), np.zeros((2, 76))])
def test_bad_vectors_are_explained(grid, bad):
    with pytest.raises(ActionError, match="action"):
        describe_action(grid, bad)


def test_observation_of_wrong_size_is_explained(grid):
    obs = _obs_nodes(grid, loads_nodes=np.zeros(3))
    with pytest.raises(ActionError, match="loads_nodes"):
        describe_action(grid, _action(grid, loads=(1,)), obs)
