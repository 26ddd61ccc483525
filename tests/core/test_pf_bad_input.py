"""Bad topologies and injections give a clear error naming the problem, from both backends.

Never a crash inside numba, never a silent wrong answer, and the backend keeps working after.
"""

from __future__ import annotations

import numpy as np
import pytest
from strategies import load_case

from gym_powergrid.core.results import Injections
from gym_powergrid.errors import InjectionError, TopologyError
from gym_powergrid.grid import Topology
from gym_powergrid.grid.pandapower_backend import PandapowerPowerFlow


@pytest.fixture(params=["numba", "pandapower"])
def setup(request):
    """``(grid, backend)`` on case14 for each backend."""
    net, grid = load_case("case14")
    if request.param == "pandapower":
        return grid, PandapowerPowerFlow(grid, net)
    return grid, request.getfixturevalue("numba_pf_class")(grid)


def _run_both(pf, topo: Topology, inj: Injections):
    """Yield a callable per entry point so each is checked separately."""
    return (lambda: pf.run_ac(topo, inj), lambda: pf.run_ac(topo, inj, warm_start=False),
            lambda: pf.run_dc(topo, inj))


def _still_works(grid, pf) -> None:
    res = pf.run_ac(Topology.reference(grid), Injections.reference(grid))
    assert res.converged


@pytest.mark.parametrize(("field", "delta"), [
    ("prod_node", 1), ("load_node", -1), ("line_or_node", 2), ("line_ex_node", -3),
    ("line_status", 1),
])
def test_wrong_length_topology(setup, field: str, delta: int) -> None:
    grid, pf = setup
    topo = Topology.reference(grid).copy()
    arr = getattr(topo, field)
    bad = np.resize(arr, arr.shape[0] + delta)
    topo = Topology(**{**topo.__dict__, field: bad})
    for run in _run_both(pf, topo, Injections.reference(grid)):
        with pytest.raises(TopologyError, match=field):
            run()
    _still_works(grid, pf)


@pytest.mark.parametrize(("field", "value"), [
    ("prod_node", 2), ("load_node", -1), ("line_or_node", 0.5), ("line_ex_node", np.nan),
    ("line_status", 3),
])
def test_non_binary_topology(setup, field: str, value) -> None:
    grid, pf = setup
    ref = Topology.reference(grid)
    arr = getattr(ref, field).astype(np.float64 if isinstance(value, float) else np.int64)
    arr[1] = value
    topo = Topology(**{**ref.__dict__, field: arr})
    for run in _run_both(pf, topo, Injections.reference(grid)):
        with pytest.raises(TopologyError, match=rf"{field}.*0 or 1"):
            run()
    _still_works(grid, pf)


def test_non_numeric_topology(setup) -> None:
    grid, pf = setup
    ref = Topology.reference(grid)
    topo = Topology(**{**ref.__dict__, "load_node": np.array(["a"] * grid.n_load)})
    with pytest.raises(TopologyError, match="load_node"):
        pf.run_ac(topo, Injections.reference(grid))


def test_topology_vector_errors_name_the_problem() -> None:
    _, grid = load_case("case14")
    n = Topology.vector_length(grid)
    with pytest.raises(TopologyError, match=f"length {n}"):
        Topology.from_vector(grid, np.zeros(n - 1))
    with pytest.raises(TopologyError, match="length"):
        Topology.from_vector(grid, np.zeros((2, n)))
    vec = np.zeros(n)
    vec[7] = 2
    with pytest.raises(TopologyError, match="entry 7"):
        Topology.from_vector(grid, vec)


@pytest.mark.parametrize(("field", "value"), [
    ("load_p_mw", np.nan), ("load_q_mvar", np.inf), ("prod_p_mw", np.nan),
    ("prod_v_pu", np.nan), ("prod_q_mvar", -np.inf),
])
def test_non_finite_injections(setup, field: str, value: float) -> None:
    grid, pf = setup
    inj = Injections.reference(grid)
    arr = getattr(inj, field).copy()
    arr[2] = value
    setattr(inj, field, arr)
    for run in _run_both(pf, Topology.reference(grid), inj):
        with pytest.raises(InjectionError, match=rf"{field}.*non-finite.*index 2"):
            run()
    _still_works(grid, pf)


def test_wrong_shape_and_bad_setpoint_injections(setup) -> None:
    grid, pf = setup
    topo = Topology.reference(grid)
    inj = Injections.reference(grid)
    inj.load_p_mw = inj.load_p_mw[:-1]
    with pytest.raises(InjectionError, match=r"load_p_mw must have shape"):
        pf.run_ac(topo, inj)
    inj = Injections.reference(grid)
    inj.prod_v_pu = inj.prod_v_pu.copy()
    inj.prod_v_pu[grid.slack_prod_idx] = np.nan
    with pytest.raises(InjectionError, match="prod_v_pu"):
        pf.run_ac(topo, inj)
    # a set-point <= 0 is not an error: the production is out of service (pypownet's rule)
    inj.prod_v_pu[grid.slack_prod_idx] = 0.0
    r = pf.run_ac(topo, inj)
    assert r.converged and r.prod_p_mw[grid.slack_prod_idx] == 0.0
    _still_works(grid, pf)


def test_integer_and_list_inputs_are_accepted(setup) -> None:
    """Plain Python lists and integer arrays are valid inputs, not crashes."""
    grid, pf = setup
    ref = Topology.reference(grid)
    topo = Topology(ref.prod_node.tolist(), ref.load_node.astype(np.int64),
                    ref.line_or_node.astype(bool), ref.line_ex_node.tolist(),
                    ref.line_status.astype(np.int8))
    inj = Injections.reference(grid)
    inj = Injections(inj.prod_p_mw.tolist(), inj.prod_v_pu.tolist(),
                     inj.load_p_mw.astype(np.float32), inj.load_q_mvar.tolist())
    assert pf.run_ac(topo, inj).converged
