"""Run a co-simulation scenario in mosaik: the curves through mosaik-csv into the grid simulator.

:func:`run_mosaik_scenario` reads the same scenario YAML as ``gym-powergrid cosim run`` (see
:mod:`gym_powergrid.co_sim.scenario`) and builds a mosaik world with three simulators:

* ``CSV`` (``mosaik_csv:CSV``, mosaik's own CSV simulator) replays the scenario's curves file,
  one row per step;
* ``Grid`` (:class:`gym_powergrid.co_sim.mosaik.GridSimulator`) receives, for every node and
  meter of the scenario, the meter's ``<column>_p_kw`` / ``_q_kvar`` (or ``_p_mw`` /
  ``_q_mvar``) on the load the node's ``element`` names: as consumption (``p_kw``) or, for a
  production meter (``pv``), as generation on that load (``p_gen_kw``), exactly what the
  lock-step co-simulation's load nodes send;
* ``Collector`` (this module, in process) records every bus voltage after each power flow.

The result has the lock-step runner's shape (``rounds`` with ``step``, ``vm_pu`` per node,
``bus_vm_pu`` per pandapower bus index), so the CLI writes the same ``voltages.csv``. A
simulator that raises stops the world: :class:`MosaikRunError` names it and the cause, and
every simulator process is ended.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gym_powergrid.errors import ConfigurationError, PowerGridError

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "gym-powergrid[mosaik]"'
_UNITS = (("_p_kw", "_q_kvar", "kw", "kvar"), ("_p_mw", "_q_mvar", "mw", "mvar"))
_STORES: dict[str, list[tuple[int, dict[str, Any]]]] = {}


class MosaikRunError(PowerGridError, RuntimeError):
    """A mosaik co-simulation stopped because a simulator failed."""


def _import_mosaik() -> Any:
    try:
        import mosaik
        import mosaik_api_v3  # noqa: F401
        import mosaik_csv  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"the mosaik co-simulation needs mosaik, mosaik-api-v3 and mosaik-csv "
                          f"({exc}); install them with: {INSTALL_HINT}") from exc
    return mosaik


def _collector_class() -> type:
    import mosaik_api_v3

    class Collector(mosaik_api_v3.Simulator):
        """Event-based sink: keeps every input it receives, by time, in ``_STORES[store]``."""

        def __init__(self) -> None:
            super().__init__({"api_version": "3.0", "type": "event-based",
                              "models": {"Sink": {"public": True, "any_inputs": True,
                                                  "params": [], "attrs": []}}})

        def init(self, sid: str, time_resolution: float = 1.0, store: str = "") -> dict:
            self.store = _STORES.setdefault(store, [])
            return self.meta

        def create(self, num: int, model: str) -> list[dict]:
            return [{"eid": f"Sink_{i}", "type": model} for i in range(num)]

        def step(self, time: int, inputs: dict, max_advance: int) -> None:
            for attrs in inputs.values():
                self.store.append((int(time), attrs))
            return None

        def get_data(self, outputs: dict) -> dict:
            return {}

    return Collector


def __getattr__(name: str) -> Any:  # "...mosaik_scenario:Collector", built on first use
    if name == "Collector":
        return _collector_class()
    raise AttributeError(name)


def _plain_csv(curves: Path, workdir: Path) -> Path:
    """mosaik-csv reads plain text: decompress a ``.gz`` curves file into ``workdir``."""
    if curves.suffix != ".gz":
        return curves
    out = workdir / curves.with_suffix("").name
    with gzip.open(curves, "rt", newline="") as src, open(out, "w", newline="") as dst:
        shutil.copyfileobj(src, dst)
    return out


def connections(scenario: Any, columns: list[str]) -> list[tuple[str, str, list[tuple]]]:
    """(node, load name, [(csv attribute, grid attribute), ...]) of every node's meters."""
    from gym_powergrid.co_sim.config import NodeConfig

    out = []
    for node in scenario.nodes:
        node_id = str(node["id"])
        meters, element = node.get("meters") or {}, node["element"]
        if not isinstance(element, dict) or not meters:
            raise ConfigurationError(
                f"node {node_id!r}: the mosaik runner needs 'meters' and an 'element' mapping "
                f"meter -> load name (like lv_example), got meters={meters!r}, "
                f"element={element!r}")
        if float(node.get("scale", 1.0)) != 1.0 or node.get("curve") or node.get("cap_mw"):
            raise ConfigurationError(f"node {node_id!r}: 'scale', 'curve' and 'cap_mw' have no "
                                     "mosaik equivalent here; remove them for cosim mosaik")
        production = tuple(node.get("production_meters", NodeConfig.production_meters))
        for meter, column in meters.items():
            if meter not in element:
                raise ConfigurationError(f"node {node_id!r}: meter {meter!r} has no load in "
                                         f"'element' {element!r}")
            unit = next((u for u in _UNITS if column + u[0] in columns), None)
            if unit is None:
                raise ConfigurationError(f"node {node_id!r}: no column {column}_p_kw or "
                                         f"{column}_p_mw in the curves file")
            gen = "gen_" if meter in production else ""
            out.append((node_id, str(element[meter]),
                        [(column + unit[0], f"p_{gen}{unit[2]}"),
                         (column + unit[1], f"q_{gen}{unit[3]}")]))
    return out


def run_mosaik_scenario(scenario: Any, *, steps: int | None = None, grid_process: bool = False,
                        workdir: str | Path | None = None,
                        progress: Callable[[dict[str, Any]], None] | None = None,
                        sim_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``scenario`` (from :func:`~gym_powergrid.co_sim.scenario.load_scenario`) in mosaik.

    Args:
        scenario: a scenario with ``grid: {pandapower: NAME}`` and a curves file.
        steps: number of curve rows to play (default: the scenario's ``steps``).
        grid_process: run the grid simulator in its own process (mosaik ``cmd``).
        workdir: where the plain-text curves go (default: a temporary folder).
        progress: called with each step's record after the run.
        sim_config: replacement entries of mosaik's simulator configuration (``"Grid"``,
            ``"CSV"``): e.g. another grid simulator with the same entities.

    Returns:
        ``{"rounds": [record, ...], "node_ids": [...], "logs": {}, "stats": {...}}``; each
        record has ``step``, ``vm_pu`` (node -> p.u.), ``bus_vm_pu`` (pandapower bus -> p.u.),
        ``converged``, ``late`` and ``gone`` (empty: mosaik waits for every simulator).

    Raises:
        ConfigurationError: a scenario this runner cannot express (named key).
        MosaikRunError: a simulator failed during the run.
    """
    mosaik = _import_mosaik()
    from gym_powergrid.co_sim.curves import read_curves

    if "pandapower" not in scenario.grid:
        raise ConfigurationError("cosim mosaik needs a scenario with grid: {pandapower: NAME} "
                                 f"(got grid: {scenario.grid!r})")
    if scenario.curves is None:
        raise ConfigurationError("cosim mosaik needs a scenario with a 'curves' file")
    curves = read_curves(scenario.curves)
    n_steps = int(steps or scenario.steps)
    if not 0 < n_steps <= curves.n_rows:
        raise ConfigurationError(f"steps must be in 1..{curves.n_rows} (rows of the curves "
                                 f"file), got {n_steps}")
    step_s = int(round(curves.step_s))
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gym-powergrid-mosaik-")
        workdir = tmp.name
    Path(workdir).mkdir(parents=True, exist_ok=True)
    store = uuid.uuid4().hex
    try:
        datafile = _plain_csv(Path(scenario.curves), Path(workdir))
        with open(datafile) as fh:
            header = [c.strip() for c in fh.readline().split(",")]
        links = connections(scenario, header)
        config: dict[str, Any] = {
            "CSV": {"python": "mosaik_csv:CSV"},
            "Grid": ({"cmd": "%(python)s -m gym_powergrid.co_sim.mosaik %(addr)s"}
                     if grid_process else
                     {"python": "gym_powergrid.co_sim.mosaik:GridSimulator"}),
            "Collector": {"python": f"{__name__}:Collector"},
            **(sim_config or {}),
        }
        world = mosaik.World(config, skip_greetings=True, configure_logging=False)
        records = _build_and_run(mosaik, world, scenario, header, links, datafile, store,
                                 step_s, n_steps)
    finally:
        _STORES.pop(store, None)
        if tmp is not None:
            tmp.cleanup()
    result = {"rounds": records, "node_ids": [str(n["id"]) for n in scenario.nodes],
              "logs": {}, "stats": {"engine": "mosaik", "step_s": step_s}}
    if progress is not None:
        for r in records:
            progress(r)
    return result


def _build_and_run(mosaik: Any, world: Any, scenario: Any, header: list[str], links: list,
                   datafile: Path, store: str, step_s: int,
                   n_steps: int) -> list[dict[str, Any]]:
    try:
        start = _first_timestamp(datafile)
        csv = world.start("CSV", sim_start=start, datafile=str(datafile))
        data = csv.Data.create(1)[0]
        gridsim = world.start("Grid")
        grid = gridsim.Grid(grid=str(scenario.grid["pandapower"]), step_size=step_s)
        kids = {e.eid: e for e in grid.children}
        loads = {eid.split(".", 2)[2]: e for eid, e in kids.items() if e.type == "Load"}
        buses = [e for e in grid.children if e.type == "Bus"]
        for node_id, load, attrs in links:
            if load not in loads:
                raise ConfigurationError(f"node {node_id!r}: the grid has no load {load!r} "
                                         f"(loads: {sorted(loads)})")
            world.connect(data, loads[load], *attrs)
        sink = world.start("Collector", store=store).Sink.create(1)[0]
        for bus in buses:
            world.connect(bus, sink, "vm_pu")
        world.connect(grid, sink, "converged")
        world.run(until=n_steps * step_s, print_progress=False)
    except (ConfigurationError, MosaikRunError):
        _shutdown(world)
        raise
    except Exception as exc:  # mosaik reports a simulator's failure in many shapes
        _shutdown(world)
        cause = exc
        while cause.__cause__ is not None and cause.__cause__ is not cause:
            cause = cause.__cause__
        raise MosaikRunError(f"mosaik co-simulation of {scenario.name!r} failed: "
                             f"{type(exc).__name__}: {exc}"
                             + (f" (cause: {type(cause).__name__}: {cause})"
                                if cause is not exc else "")) from exc
    return _records(_STORES.get(store, []), scenario, grid, step_s, n_steps)


def _shutdown(world: Any) -> None:
    try:
        world.shutdown()
    except Exception:  # noqa: BLE001 - already failing; the shutdown is best effort
        logger.debug("mosaik shutdown after a failure raised", exc_info=True)


def _first_timestamp(datafile: Path) -> str:
    with open(datafile) as fh:
        fh.readline()
        return fh.readline().split(",", 1)[0].strip()


def _records(stored: list, scenario: Any, grid: Any, step_s: int,
             n_steps: int) -> list[dict[str, Any]]:
    from gym_powergrid.co_sim.scenarios import BUILDERS

    net = BUILDERS[str(scenario.grid["pandapower"])]()
    bus_of_name = {str(n): int(i) for i, n in net.bus["name"].items()}
    load_bus = {str(n): int(b) for n, b in zip(net.load["name"], net.load["bus"])}
    by_time: dict[int, dict[str, Any]] = {}
    prefix = f"{grid.sid}.{grid.eid}"
    for time, attrs in stored:
        rec = by_time.setdefault(time, {})
        for src, value in attrs.get("vm_pu", {}).items():
            rec[src[len(prefix) + len(".bus."):]] = float(value)
        for value in attrs.get("converged", {}).values():
            rec[None] = bool(value)
    missing = [k for k in range(n_steps) if k * step_s not in by_time]
    if missing:  # mosaik ends a run quietly when a simulator process dies
        k = missing[0]
        raise MosaikRunError(
            f"mosaik co-simulation of {scenario.name!r} failed: the grid simulator gave no "
            f"voltages from step {k} (time {k * step_s} s) on, {len(missing)} of {n_steps} "
            "steps missing: its process failed or stopped, and mosaik ended the run early "
            "without an error (run the simulator in process, grid_process=False, to see it)")
    rounds = []
    for k in range(n_steps):
        rec = by_time[k * step_s]
        bus_vm = {bus_of_name[n]: v for n, v in rec.items() if n is not None}
        vm = {}
        for node in scenario.nodes:
            first = next(iter(node["element"].values()))
            vm[str(node["id"])] = bus_vm.get(load_bus[str(first)], float("nan"))
        rounds.append({"step": k, "vm_pu": vm, "bus_vm_pu": bus_vm, "late": [], "gone": [],
                       "converged": bool(rec.get(None, False))})
    return rounds
