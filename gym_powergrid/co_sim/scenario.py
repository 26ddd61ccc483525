"""Co-simulation scenarios: a YAML file naming the grid, the nodes and their hosts, the curves,
the clock mode and the duration; :func:`run_scenario` deploys and runs it.

Example (the shipped ``lv_example``)::

    name: lv_example
    grid: {pandapower: lv_example}         # or {env: PowerGrid-case14-v0, env_kwargs: {...}}
    curves: curves.csv.gz                  # relative to this file
    mode: lockstep                         # or realtime
    speed: 300                             # real-time speed factor
    steps: 288                             # curve rows to play (24 h of 5 min)
    step_timeout_s: 2.0
    allocator: {bind: "127.0.0.1:0", node_timeout_s: 3.0}
    plausibility: {factor: 10}             # report bound: 10 x the element's nominal
    nodes:
      - id: client1
        host: local                        # or {hostname:, username:, keyfile:, python:, ...}
        meters: {load: Load_1, pv: PV_1}   # curve columns replayed by the node
        element: {load: Load_1, pv: PV_1}  # pandapower loads it feeds ([load, 3] for an env)

Node entries accept every :class:`~gym_powergrid.co_sim.config.NodeConfig` field as well
(``scale``, ``cap_mw``, ``bind``, ``curve``...); relative paths are resolved against the file.

``plausibility`` bounds what nodes may report (|P|, |Q| and each meter): ``factor`` (default
10) times the nominal of the node's element, or ``limits_mw: {node id: bound}``. For a
pandapower grid the nominal of a node is the largest |value| of its meters in the scenario's
``curves`` file (times its ``scale``) when its loads have no rating in the net; for an env
grid see :class:`~gym_powergrid.co_sim.bridge.EnvBridge`. Rejected reports are counted and the
fallback value is used; ``summary.json`` reports them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gym_powergrid.co_sim.config import NodeConfig, parse_curve_auth
from gym_powergrid.errors import ConfigurationError

logger = logging.getLogger(__name__)

_TOP_KEYS = {"name", "description", "grid", "curves", "mode", "speed", "steps", "duration_s",
             "step_timeout_s", "allocator", "nodes", "output", "plausibility"}
_PLAUSIBILITY_KEYS = {"factor", "limits_mw"}
_NODE_KEYS = {"id", "host", "element"}
_HOST_KEYS = {"hostname", "username", "keyfile", "port", "python", "known_hosts",
              "strict_host_key", "connect_timeout"}


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file (see the module docstring for the keys)."""

    name: str
    path: Path
    grid: dict[str, Any]
    curves: Path | None
    mode: str
    speed: float
    steps: int
    step_timeout_s: float
    allocator: dict[str, Any]
    nodes: list[dict[str, Any]]
    duration_s: float | None = None
    description: str = ""
    output: dict[str, Any] = field(default_factory=dict)
    plausibility: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: str | None) -> str | None:
        """Resolve a path relative to the scenario file."""
        if value is None:
            return None
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (self.path.parent / p).resolve())


def load_scenario(ref: str | Path) -> Scenario:
    """Load a scenario from a YAML path or a shipped scenario name (e.g. ``"lv_example"``).

    Raises:
        ConfigurationError: For a missing file, unknown keys or bad values (named).
    """
    import yaml

    from gym_powergrid.co_sim.scenarios import scenario_path

    path = Path(ref)
    if not path.is_file():
        if path.suffix in (".yaml", ".yml") or "/" in str(ref):
            raise ConfigurationError(f"scenario file {str(ref)!r} does not exist")
        path = scenario_path(str(ref))
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigurationError(f"scenario {str(path)!r} must be a YAML mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigurationError(
            f"unknown scenario key(s) {sorted(unknown)} in {str(path)!r}; allowed: "
            f"{sorted(_TOP_KEYS)}"
        )
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or len({"pandapower", "env"} & set(grid)) != 1:
        raise ConfigurationError(
            f"scenario key 'grid' must hold exactly one of 'pandapower' or 'env', got {grid!r}"
        )
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ConfigurationError("scenario key 'nodes' must be a non-empty list")
    ids = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or "id" not in node or "element" not in node:
            raise ConfigurationError(f"scenario node #{i} needs 'id' and 'element', got {node!r}")
        host = node.get("host", "local")
        if host != "local" and (not isinstance(host, dict) or set(host) - _HOST_KEYS
                                or "hostname" not in host):
            raise ConfigurationError(
                f"node {node['id']!r}: 'host' must be 'local' or a mapping with 'hostname' "
                f"and keys among {sorted(_HOST_KEYS)}, got {host!r}"
            )
        ids.append(node["id"])
    if len(set(ids)) != len(ids):
        raise ConfigurationError(f"scenario node ids must be unique, got {ids}")
    mode = data.get("mode", "lockstep")
    if mode not in ("lockstep", "realtime"):
        raise ConfigurationError(f"scenario key 'mode' must be lockstep or realtime, got {mode!r}")
    try:
        steps = int(data.get("steps", 288))
        speed = float(data.get("speed", 1.0))
        timeout = float(data.get("step_timeout_s", 2.0))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"scenario {str(path)!r}: {exc}") from None
    if steps <= 0 or speed <= 0 or timeout <= 0:
        raise ConfigurationError("scenario keys 'steps', 'speed', 'step_timeout_s' must be > 0")
    plaus = data.get("plausibility") or {}
    if not isinstance(plaus, dict) or set(plaus) - _PLAUSIBILITY_KEYS:
        raise ConfigurationError(
            f"scenario {str(path)!r}: 'plausibility' must be a mapping with keys among "
            f"{sorted(_PLAUSIBILITY_KEYS)}, got {plaus!r}")
    try:
        plaus = {"factor": float(plaus.get("factor", 10.0)),
                 "limits_mw": {str(k): float(v) for k, v in
                               dict(plaus.get("limits_mw") or {}).items()}}
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"scenario {str(path)!r}: 'plausibility': {exc}") from None
    if not plaus["factor"] > 0 or not all(v > 0 for v in plaus["limits_mw"].values()):
        raise ConfigurationError(f"scenario {str(path)!r}: 'plausibility' factor and limits "
                                 "must be > 0")
    scn = Scenario(
        name=str(data.get("name", path.stem)), path=path.resolve(), grid=dict(grid),
        curves=None, mode=mode, speed=speed, steps=steps, step_timeout_s=timeout,
        allocator=dict(data.get("allocator") or {}), nodes=[dict(n) for n in nodes],
        duration_s=None if data.get("duration_s") is None else float(data["duration_s"]),
        description=str(data.get("description", "")), output=dict(data.get("output") or {}),
        plausibility=plaus,
    )
    curves = scn.resolve(data.get("curves"))
    return Scenario(**{**scn.__dict__, "curves": Path(curves) if curves else None})


def _node_config(scn: Scenario, node: Mapping[str, Any], allocator: str, alloc_id: str,
                 mode: str, speed: float) -> NodeConfig:
    fields = {k: v for k, v in node.items() if k not in _NODE_KEYS}
    fields.setdefault("curve_file", str(scn.curves) if scn.curves else None)
    fields["curve_file"] = scn.resolve(fields["curve_file"])
    if isinstance(fields.get("curve"), dict):
        fields["curve"] = {k: scn.resolve(v) for k, v in fields["curve"].items()}
    return NodeConfig.from_dict({"node_id": str(node["id"]), "allocator": allocator,
                                 "allocator_id": alloc_id, "mode": mode, "speed": speed,
                                 **fields})


def _allocator_kwargs(scn: Scenario) -> dict[str, Any]:
    kwargs = dict(scn.allocator)
    kwargs["allocator_bind"] = kwargs.pop("bind", "127.0.0.1:0")
    if isinstance(kwargs.get("curve"), dict):
        kwargs["curve"] = parse_curve_auth(
            {k: scn.resolve(v) for k, v in kwargs["curve"].items()}, "allocator")
    return kwargs


def run_scenario(
    scenario: Scenario,
    *,
    steps: int | None = None,
    mode: str | None = None,
    speed: float | None = None,
    workdir: str | Path | None = None,
    join_timeout_s: float = 30.0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Deploy the scenario's allocator and nodes, run it, stop everything.

    Args:
        scenario: From :func:`load_scenario`.
        steps: Override the number of steps.
        mode: Override the clock mode.
        speed: Override the real-time speed factor.
        workdir: Where node configurations and logs go (kept); default a temporary folder.
        join_timeout_s: How long to wait for every node to join.
        progress: Called with each round's record.

    Returns:
        ``{"rounds": [record, ...], "node_ids": [...], "logs": {name: text}, "stats": {...}}``;
        each record has ``step``, ``vm_pu`` (node -> p.u.), ``late`` and ``gone``, plus
        ``bus_vm_pu`` for a pandapower grid.
    """
    from gym_powergrid.co_sim.deploy import SmartGridSimulation

    mode = mode or scenario.mode
    speed = speed or scenario.speed
    n_steps = steps or scenario.steps
    sim = SmartGridSimulation(
        mode=mode, speed=speed, workdir=workdir, **_allocator_kwargs(scenario)
    )
    rounds: list[dict[str, Any]] = []
    result: dict[str, Any] = {"rounds": rounds, "node_ids": [str(n["id"]) for n in scenario.nodes]}
    cleanups: list[Callable[[], None]] = []
    try:
        alloc = sim.allocator
        mapping = {str(n["id"]): n["element"] for n in scenario.nodes}
        # the grid first: its imports and first power flow are slow, and real-time nodes
        # start their clocks as soon as they join
        if "pandapower" in scenario.grid:
            play = _pandapower_player(scenario, sim, mapping, mode, speed, n_steps)
        else:
            play = _env_player(scenario, sim, mapping, mode, speed, n_steps, cleanups)
        for node in scenario.nodes:
            cfg = _node_config(scenario, node, sim.address, alloc.node_id, mode, speed)
            host = node.get("host", "local")
            if host == "local":
                sim.create_local_node(cfg)
            else:
                host = dict(host)
                sim.create_remote_node(host.pop("hostname"), cfg, **host)
        sim.wait_for_nodes(timeout=join_timeout_s)
        play(rounds, progress)
        result["stats"] = alloc.statistics()
        result["session"] = alloc.session
    finally:
        for cleanup in cleanups:
            cleanup()
        result["logs"] = sim.stop()
    return result


Player = Callable[[list[dict[str, Any]], Callable[[dict[str, Any]], None] | None], None]


def _pandapower_player(scn: Scenario, sim: Any, mapping: dict[str, Any], mode: str,
                       speed: float, n_steps: int) -> Player:
    import numpy as np

    from gym_powergrid.co_sim.bridge import PandapowerBridge
    from gym_powergrid.co_sim.curves import read_curves
    from gym_powergrid.co_sim.scenarios import BUILDERS

    name = scn.grid["pandapower"]
    if name not in BUILDERS:
        raise ConfigurationError(f"unknown pandapower grid {name!r}; known: {sorted(BUILDERS)}")
    nominal: dict[str, float] = {}
    if scn.curves is not None:  # the scenario's own data, not what a node may have been given
        curves = read_curves(scn.curves)
        for node in scn.nodes:
            cols = [c for c in dict(node.get("meters") or {}).values() if c in curves.p_mw]
            if cols:
                nominal[str(node["id"])] = abs(float(node.get("scale", 1.0))) * max(
                    max(float(np.max(np.abs(curves.p_mw[c]))),
                        float(np.max(np.abs(curves.q_mvar[c])))) for c in cols)
    bridge = PandapowerBridge(BUILDERS[name](), sim.allocator, mapping,
                              timeout_s=scn.step_timeout_s, nominal_mw=nominal,
                              plausibility_factor=scn.plausibility.get("factor", 10.0),
                              report_limits=scn.plausibility.get("limits_mw"))
    bridge.warm_up()

    def play(rounds: list[dict[str, Any]],
             progress: Callable[[dict[str, Any]], None] | None) -> None:
        if mode == "lockstep":
            for k in range(n_steps):
                record = bridge.step(k)
                rounds.append(record)
                if progress is not None:
                    progress(record)
            return
        step_s = read_curves(scn.curves).step_s if scn.curves else 300.0
        duration = scn.duration_s or n_steps * step_s / speed
        rounds.extend(bridge.run_realtime(duration))

    return play


def _env_player(scn: Scenario, sim: Any, mapping: dict[str, Any], mode: str, speed: float,
                n_steps: int, cleanups: list[Callable[[], None]]) -> Player:
    import gymnasium
    import numpy as np

    import gym_powergrid  # noqa: F401 - registers the env ids
    from gym_powergrid.co_sim.bridge import EnvBridge

    env = gymnasium.make(scn.grid["env"], **dict(scn.grid.get("env_kwargs") or {}))
    cleanups.append(env.close)
    bridge = EnvBridge(env, sim.allocator, {k: tuple(v) for k, v in mapping.items()},
                       timeout_s=scn.step_timeout_s, lockstep=mode == "lockstep",
                       plausibility_factor=scn.plausibility.get("factor", 10.0),
                       report_limits=scn.plausibility.get("limits_mw"))
    do_nothing = np.zeros_like(env.action_space.sample())

    def play(rounds: list[dict[str, Any]],
             progress: Callable[[dict[str, Any]], None] | None) -> None:
        bridge.reset(seed=0)
        period = 300.0 / speed
        for _ in range(n_steps):
            t0 = time.monotonic()
            obs, _, terminated, truncated, info = bridge.step(do_nothing)
            cosim = dict(info.get("cosim", {}))
            record = {"step": cosim.get("round", bridge.round),
                      "vm_pu": bridge.node_voltages(obs),
                      "late": cosim.get("late", []), "gone": cosim.get("gone", []),
                      "rejected": cosim.get("rejected", []),
                      "converged": info.get("game_over_reason") != "diverged"}
            rounds.append(record)
            if progress is not None:
                progress(record)
            if terminated or truncated:
                bridge.reset()
            if mode == "realtime":
                time.sleep(max(0.0, period - (time.monotonic() - t0)))

    return play
