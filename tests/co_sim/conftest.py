"""Fixtures of the co-simulation tests: allocators, in-thread nodes, node processes, fake env.

Everything binds to port 0 on loopback (free ports chosen by the OS) and is torn down at the
end of each test, whatever happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zmq")
pytest.importorskip("simpy")
pytest.importorskip("msgpack")

from gym_powergrid.co_sim.allocator import NetworkAllocator  # noqa: E402
from gym_powergrid.co_sim.config import NodeConfig  # noqa: E402
from gym_powergrid.co_sim.deploy import SmartGridSimulation  # noqa: E402
from gym_powergrid.co_sim.load import NetworkLoad  # noqa: E402
from gym_powergrid.co_sim.scenarios import SCENARIO_DIR  # noqa: E402

LV_CURVES = SCENARIO_DIR / "lv_example" / "curves.csv.gz"
LV_IDS = [f"client{i}" for i in range(1, 6)]


def lv_meters(i: int) -> dict[str, str]:
    """Curve columns of LV client ``i`` (1-based)."""
    return {"load": f"Load_{i}", "pv": f"PV_{i}"}


@pytest.fixture
def lv_curves() -> Path:
    """The shipped 24 h curves file."""
    return LV_CURVES


@pytest.fixture
def allocator_factory() -> Iterator[Callable[..., NetworkAllocator]]:
    """Start allocators in background threads; all are closed at teardown."""
    made: list[NetworkAllocator] = []

    def make(**kwargs: Any) -> NetworkAllocator:
        kwargs.setdefault("node_timeout_s", 2.0)
        alloc = NetworkAllocator(kwargs.pop("bind", "127.0.0.1:0"), **kwargs)
        alloc.start()
        made.append(alloc)
        return alloc

    yield make
    for alloc in made:
        alloc.close()


@pytest.fixture
def node_factory() -> Iterator[Callable[..., NetworkLoad]]:
    """Start :class:`NetworkLoad` agents in threads of this process; stopped at teardown."""
    made: list[NetworkLoad] = []

    def make(allocator: str, node_id: str, start: bool = True, **kwargs: Any) -> NetworkLoad:
        kwargs.setdefault("keepalive_s", 0.5)
        kwargs.setdefault("join_retry_s", 0.1)
        node = NetworkLoad(node_id=node_id, allocator=allocator, **kwargs)
        made.append(node)
        if start:
            node.start()
        return node

    yield make
    for node in made:
        if node._started:
            node.stop()
            node.join(5)
        else:
            node.transport.close(linger_ms=0)


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Callable[..., SmartGridSimulation]]:
    """Create :class:`SmartGridSimulation` objects; every process is cleaned up at teardown."""
    made: list[SmartGridSimulation] = []

    def make(**kwargs: Any) -> SmartGridSimulation:
        kwargs.setdefault("workdir", tmp_path / f"sim{len(made)}")
        kwargs.setdefault("node_timeout_s", 2.0)
        sim = SmartGridSimulation(**kwargs)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        try:
            sim.stop(timeout=2.0)
        except Exception:  # noqa: BLE001 - teardown must reach every simulation
            logging.getLogger(__name__).exception("teardown of a simulation failed")


def lv_node_config(sim: SmartGridSimulation, i: int, **kwargs: Any) -> NodeConfig:
    """Configuration of LV client ``i`` for ``sim`` (fast keep-alive for tests)."""
    kwargs.setdefault("keepalive_s", 0.5)
    kwargs.setdefault("join_retry_s", 0.1)
    return sim.node_config(f"client{i}", curve_file=str(LV_CURVES), meters=lv_meters(i),
                           **kwargs)


class FakeEnv:
    """A stand-in implementing exactly the PowerGridEnv contract used by the env bridge.

    ``set_injection_hook(fn)``; before each power flow (at reset and each step) ``fn(step,
    load_p_mw, load_q_mvar, prod_p_mw, prod_v_pu)`` gets writable float64 copies of the chronic
    values and returns a dict merged into ``info["cosim"]``. The "power flow" is a linear
    voltage drop so that voltages depend on the injections.
    """

    def __init__(self, n_load: int = 11, n_prod: int = 5) -> None:
        self.unwrapped = self
        self.n_load, self.n_prod = n_load, n_prod
        self.hook: Callable[..., Any] | None = None
        self.t = 0
        self.injected: list[np.ndarray] = []

    def set_injection_hook(self, fn: Callable[..., Any] | None) -> None:
        self.hook = fn

    def chronic(self, t: int) -> tuple[np.ndarray, ...]:
        load_p = 10.0 + np.arange(self.n_load, dtype=np.float64) + 0.1 * t
        return load_p, 0.3 * load_p, np.full(self.n_prod, 40.0), np.full(self.n_prod, 1.02)

    def _run(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        load_p, load_q, prod_p, prod_v = (a.copy() for a in self.chronic(self.t))
        extra = None
        if self.hook is not None:
            extra = self.hook(self.t, load_p, load_q, prod_p, prod_v)
        self.injected.append(load_p.copy())
        obs = {
            "voltage_loads": (1.05 - 0.001 * load_p).astype(np.float32),
            "voltage_productions": (prod_v - 0.0001 * prod_p).astype(np.float32),
            "active_loads": load_p.astype(np.float32),
            "active_productions": prod_p.astype(np.float32),
        }
        return obs, ({"cosim": extra} if extra else {})

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[Any, dict]:
        self.t = 0
        return self._run()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        obs, info = self._run()
        return obs, 0.0, False, False, info


@pytest.fixture
def fake_env() -> FakeEnv:
    """A :class:`FakeEnv` with 11 loads and 5 productions (case14's counts)."""
    return FakeEnv()


@pytest.fixture
def lv_config() -> Callable[..., NodeConfig]:
    """The :func:`lv_node_config` helper (fixtures cannot be imported from conftest)."""
    return lv_node_config


@pytest.fixture
def fake_env_class() -> type[FakeEnv]:
    """The :class:`FakeEnv` class, to build envs of other sizes."""
    return FakeEnv
