"""Bridges that feed node reports into a power flow and send each node its bus voltage.

* :class:`EnvBridge` plugs an allocator into a ``PowerGridEnv`` through the env's injection hook:
  before each step's power flow, the injections of mapped loads/productions are overwritten with
  the nodes' values; after the step the nodes receive the voltage of their element's bus.
* :class:`PandapowerBridge` drives a plain pandapower net (the SENS example): update the loads
  from the reports, run ``pandapower.runpp``, send each node the voltage of its bus.

In lock-step mode a round asks every node for its value of the step and waits up to
``timeout_s``; nodes that did not answer keep the fallback value (the chronic value for the env,
the previous value for a pandapower net) and are listed as ``late`` (asked, no answer in time),
``gone`` (not active: never joined, silent past the allocator's ``node_timeout_s``, left or
stopped) or ``rejected`` (implausible report, see below).

Plausibility: each bridge bounds its nodes' reports (|P|, |Q| and every meter) by
``plausibility_factor`` (default 10) times the nominal of the node's grid element, with a
floor of 1 MW, or by an explicit ``report_limits`` entry; the allocator drops a report beyond
it (counted in ``reports_rejected``) and the fallback value is used. Element nominals: for the
env, a production's ``prod_p_max_mw`` when the grid states it, else the largest |value| of the
element in the env's chronic at the first round; for a pandapower net, the largest of the
mapped loads' |p_mw|, |q_mvar| and ``sn_mva`` (LV nets built with zero loads should pass
``nominal_mw``, as scenarios do from the curves).
"""

from __future__ import annotations

import logging
import math
import queue
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from gym_powergrid.co_sim.allocator import NetworkAllocator
from gym_powergrid.co_sim.guard import DEFAULT_PLAUSIBILITY_FACTOR
from gym_powergrid.co_sim.protocol import Report
from gym_powergrid.errors import ConfigurationError

logger = logging.getLogger(__name__)

_ELEMENT_KINDS = ("load", "prod")
MIN_NOMINAL_MW = 1.0
"""Floor of the nominal used for report bounds (an element at 0 MW in its data)."""


def plausible_limits(nominal_mw: Mapping[str, float], factor: float,
                  explicit: Mapping[str, float] | None = None) -> dict[str, float]:
    """Report bound of each node: ``explicit`` where given, else ``factor * max(nominal, 1 MW)``."""
    factor = float(factor)
    if not factor > 0:
        raise ConfigurationError(f"plausibility factor must be > 0, got {factor!r}")
    out = {n: factor * max(float(v), MIN_NOMINAL_MW) for n, v in nominal_mw.items()
           if math.isfinite(float(v))}
    out.update({str(k): float(v) for k, v in (explicit or {}).items()})
    return out


def _check_env_mapping(mapping: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for node_id, target in mapping.items():
        if (
            not isinstance(target, tuple | list)
            or len(target) != 2
            or target[0] not in _ELEMENT_KINDS
            or isinstance(target[1], bool)
            or not isinstance(target[1], int | np.integer)
            or target[1] < 0
        ):
            raise ConfigurationError(
                f"mapping of node {node_id!r} must be ('load' or 'prod', index >= 0), "
                f"got {target!r}"
            )
        out[str(node_id)] = (str(target[0]), int(target[1]))
    if not out:
        raise ConfigurationError("the node mapping is empty")
    return out


class EnvBridge:
    """Feed a ``PowerGridEnv`` with the injections of co-simulation nodes.

    The env must provide ``env.unwrapped.set_injection_hook(fn)``; ``fn(step, load_p_mw,
    load_q_mvar, prod_p_mw, prod_v_pu)`` is called before each power flow with writable arrays of
    the chronic values and returns a dict merged into ``info["cosim"]``. Observations must hold
    ``voltage_loads`` and ``voltage_productions`` in per unit.

    A node mapped to ``("load", i)`` sets ``load_p_mw[i]`` and ``load_q_mvar[i]`` to its net
    consumption; one mapped to ``("prod", j)`` sets ``prod_p_mw[j]`` to its net production
    (minus its net consumption); the production voltage set-point is left to the chronics.

    Args:
        env: The environment (wrapped or not).
        allocator: A running :class:`~gym_powergrid.co_sim.NetworkAllocator` (started here if not).
        mapping: Node id -> ``("load" | "prod", index)``.
        timeout_s: Lock-step wait for the nodes' values of a step.
        lockstep: Wait for each step's values (default: the allocator's mode is lockstep);
            otherwise use each node's latest report.
        plausibility_factor: Report bound as a multiple of the element's nominal (see the
            module doc).
        report_limits: Node id -> explicit bound (MW / MVAr), overriding the factor.

    ``info["cosim"]`` holds ``round`` (step number sent to the nodes), ``env_step``,
    ``applied`` (nodes whose values were used), ``late``, ``gone``, ``rejected`` and
    ``fallback`` (late + gone + rejected: elements left at their chronic values).
    """

    def __init__(
        self,
        env: Any,
        allocator: NetworkAllocator,
        mapping: Mapping[str, tuple[str, int]],
        *,
        timeout_s: float = 2.0,
        lockstep: bool | None = None,
        plausibility_factor: float = DEFAULT_PLAUSIBILITY_FACTOR,
        report_limits: Mapping[str, float] | None = None,
    ) -> None:
        self.env = env
        self.plausibility_factor = float(plausibility_factor)
        self.report_limits = dict(report_limits or {})
        self.allocator = allocator
        self.mapping = _check_env_mapping(mapping)
        self.timeout_s = float(timeout_s)
        self.lockstep = allocator.mode == "lockstep" if lockstep is None else bool(lockstep)
        self.round = -1
        self.last_info: dict[str, Any] = {}
        self._checked_sizes = False
        if not allocator.running:
            allocator.start()
        self.unwrapped = getattr(env, "unwrapped", env)
        self.unwrapped.set_injection_hook(self._hook)

    # ---------------------------------------------------------------------------- hook
    def _check_sizes(self, n_loads: int, n_prods: int) -> None:
        for node_id, (kind, idx) in self.mapping.items():
            size = n_loads if kind == "load" else n_prods
            if idx >= size:
                raise ConfigurationError(
                    f"node {node_id!r} is mapped to {kind} {idx} but the grid has {size} "
                    f"{kind}s (indices 0..{size - 1})"
                )
        self._checked_sizes = True

    def _set_limits(self, load_p_mw: np.ndarray, load_q_mvar: np.ndarray,
                    prod_p_mw: np.ndarray) -> None:
        grid = getattr(self.unwrapped, "grid", None)
        p_max = getattr(grid, "prod_p_max_mw", None)
        nominal = {}
        for node_id, (kind, idx) in self.mapping.items():
            if kind == "load":
                nominal[node_id] = max(abs(float(load_p_mw[idx])), abs(float(load_q_mvar[idx])))
            elif p_max is not None and np.isfinite(p_max[idx]) and p_max[idx] > 0:
                nominal[node_id] = float(p_max[idx])
            else:
                nominal[node_id] = abs(float(prod_p_mw[idx]))
        self.allocator.set_report_limits(
            plausible_limits(nominal, self.plausibility_factor, self.report_limits))

    def _hook(
        self,
        step: int,
        load_p_mw: np.ndarray,
        load_q_mvar: np.ndarray,
        prod_p_mw: np.ndarray,
        prod_v_pu: np.ndarray,
    ) -> dict[str, Any]:
        if not self._checked_sizes:
            self._check_sizes(len(load_p_mw), len(prod_p_mw))
            self._set_limits(load_p_mw, load_q_mvar, prod_p_mw)
        self.round += 1
        rejected: list[str] = []
        if self.lockstep:
            result = self.allocator.lockstep_round(self.round, self.mapping, self.timeout_s)
            reports = {n: r for n, r in result.reports.items() if n in self.mapping}
            late, gone = result.late, result.gone
            rejected = [n for n in result.rejected if n in self.mapping]
        else:
            latest = self.allocator.latest_reports()
            active = set(self.allocator.active_nodes())
            reports = {n: r for n, r in latest.items() if n in self.mapping and n in active}
            gone = sorted(n for n in self.mapping if n not in active)
            late = sorted(n for n in self.mapping if n in active and n not in reports)
        for node_id, report in reports.items():
            kind, idx = self.mapping[node_id]
            if kind == "load":
                load_p_mw[idx] = report.p_mw
                load_q_mvar[idx] = report.q_mvar
            else:
                prod_p_mw[idx] = -report.p_mw
        if late or gone or rejected:
            logger.info("round %d: chronic values kept for late %s, gone %s and rejected %s",
                        self.round, late, gone, rejected)
        self.last_info = {
            "round": self.round,
            "env_step": int(step),
            "applied": sorted(reports),
            "late": list(late),
            "gone": list(gone),
            "rejected": rejected,
            "fallback": sorted(set(late) | set(gone) | set(rejected)),
        }
        return dict(self.last_info)

    # ---------------------------------------------------------------------------- voltages
    def node_voltages(self, obs: Mapping[str, Any]) -> dict[str, float]:
        """Voltage (p.u.) of each mapped node's element in an observation (finite ones only)."""
        out: dict[str, float] = {}
        v_load = np.asarray(obs["voltage_loads"], dtype=np.float64)
        v_prod = np.asarray(obs["voltage_productions"], dtype=np.float64)
        for node_id, (kind, idx) in self.mapping.items():
            vm = float((v_load if kind == "load" else v_prod)[idx])
            if math.isfinite(vm):
                out[node_id] = vm
        return out

    def send_voltages(self, obs: Mapping[str, Any]) -> dict[str, float]:
        """Send each mapped node the voltage of its element after the last step."""
        vm = self.node_voltages(obs)
        self.allocator.send_voltages(max(self.round, 0), vm)
        return vm

    # ---------------------------------------------------------------------------- env API
    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """``env.reset(**kwargs)`` then send the voltages (the env's reset runs a round too)."""
        obs, info = self.env.reset(**kwargs)
        self.send_voltages(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """``env.step(action)`` then send the voltages to the nodes."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.send_voltages(obs)
        return obs, reward, terminated, truncated, info

    def detach(self) -> None:
        """Remove the injection hook from the env (if it accepts None)."""
        try:
            self.unwrapped.set_injection_hook(None)
        except (TypeError, ValueError):
            logger.debug("env refuses set_injection_hook(None); hook left in place")


class PandapowerBridge:
    """Drive a pandapower net from node reports (the SENS smart-grid example).

    Args:
        net: A pandapower net (modified in place: ``net.load`` p/q of mapped loads).
        allocator: A running allocator (started here if not).
        mapping: Node id -> a load (index or name in ``net.load``) receiving the node's net
            P/Q, or a mapping meter name -> load, e.g. ``{"load": "Load_1", "pv": "PV_1"}``.
            Production meters are written as negative loads. When a node reports no meters (an
            allocation overrides it), its net value goes to its first non-production load.
        timeout_s: Lock-step wait per round.
        production_meters: Meter names that are productions.
        plausibility_factor: Report bound as a multiple of the element's nominal.
        nominal_mw: Node id -> nominal used for its bound instead of the net's loads (e.g.
            the largest value of its curves).
        report_limits: Node id -> explicit bound (MW / MVAr), overriding the factor.
        runpp_kwargs: Extra arguments of ``pandapower.runpp``. Defaults: ``numba=False``
            (pandapower's numba kernels are not cached: each process would compile them for
            ~10 s, for no gain on small nets), ``lightsim2grid=False`` (skips a costly
            compatibility check) and, after the first solve, ``init="results"``.

    Attributes:
        history: One dict per solved round: ``step``, ``vm_pu`` (node -> voltage),
            ``bus_vm_pu`` (bus index -> voltage), ``late``, ``gone``, ``rejected``,
            ``converged``. A round whose power flow fails has ``converged`` False and no
            voltages (none are sent); :attr:`failed_power_flows` counts them.
    """

    def __init__(
        self,
        net: Any,
        allocator: NetworkAllocator,
        mapping: Mapping[str, Any],
        *,
        timeout_s: float = 2.0,
        production_meters: tuple[str, ...] = ("pv",),
        plausibility_factor: float = DEFAULT_PLAUSIBILITY_FACTOR,
        nominal_mw: Mapping[str, float] | None = None,
        report_limits: Mapping[str, float] | None = None,
        runpp_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.net = net
        self.allocator = allocator
        self.timeout_s = float(timeout_s)
        self.production_meters = tuple(production_meters)
        self.runpp_kwargs = {"numba": False, "lightsim2grid": False, **(runpp_kwargs or {})}
        self.mapping: dict[str, dict[str | None, int]] = {}
        for node_id, target in mapping.items():
            if isinstance(target, Mapping):
                self.mapping[node_id] = {m: self._load_index(node_id, t) for m, t in target.items()}
            else:
                self.mapping[node_id] = {None: self._load_index(node_id, target)}
        if not self.mapping:
            raise ConfigurationError("the node mapping is empty")
        self.bus_of_node = {
            n: int(net.load.at[next(iter(m.values())), "bus"]) for n, m in self.mapping.items()
        }
        nominal = {n: self._net_nominal(m) for n, m in self.mapping.items()}
        nominal.update({str(k): float(v) for k, v in (nominal_mw or {}).items()})
        allocator.set_report_limits(plausible_limits(nominal, plausibility_factor, report_limits))
        self.history: list[dict[str, Any]] = []
        self.failed_power_flows = 0
        self.step_count = -1
        self._solved = False
        self.reports: queue.SimpleQueue[tuple[Report, str]] = queue.SimpleQueue()
        if not allocator.running:
            allocator.start()

    def _net_nominal(self, targets: Mapping[str | None, int]) -> float:
        loads = self.net.load
        values = [0.0]
        for idx in targets.values():
            for col in ("p_mw", "q_mvar", "sn_mva"):
                if col in loads:
                    v = abs(float(loads.at[idx, col]))
                    if math.isfinite(v):
                        values.append(v)
        return max(values)

    def _load_index(self, node_id: str, target: Any) -> int:
        loads = self.net.load
        if isinstance(target, str):
            hits = loads.index[loads["name"] == target]
            if len(hits) != 1:
                raise ConfigurationError(
                    f"node {node_id!r}: load name {target!r} matches {len(hits)} loads of the "
                    f"net (names: {list(loads['name'])})"
                )
            return int(hits[0])
        if isinstance(target, bool) or not isinstance(target, int | np.integer):
            raise ConfigurationError(f"node {node_id!r}: load must be an index or a name")
        if int(target) not in loads.index:
            raise ConfigurationError(f"node {node_id!r}: no load with index {target}")
        return int(target)

    def apply(self, node_id: str, report: Report) -> None:
        """Write one node's report into ``net.load``."""
        targets = self.mapping[node_id]
        loads = self.net.load
        if None in targets:
            loads.at[targets[None], "p_mw"] = report.p_mw
            loads.at[targets[None], "q_mvar"] = report.q_mvar
            return
        if report.meters and all(m in report.meters for m in targets):
            for meter, idx in targets.items():
                p, q = report.meters[str(meter)]
                sign = -1.0 if meter in self.production_meters else 1.0
                loads.at[idx, "p_mw"] = sign * p
                loads.at[idx, "q_mvar"] = sign * q
            return
        consumers = [m for m in targets if m not in self.production_meters] or list(targets)
        for meter, idx in targets.items():
            first = meter == consumers[0]
            loads.at[idx, "p_mw"] = report.p_mw if first else 0.0
            loads.at[idx, "q_mvar"] = report.q_mvar if first else 0.0

    def warm_up(self) -> None:
        """Run one power flow that is neither recorded nor sent (a process's first is slow)."""
        import pandapower as pp

        try:
            pp.runpp(self.net, **self.runpp_kwargs)
            self._solved = True
        except pp.LoadflowNotConverged:
            logger.warning("warm-up power flow did not converge")

    def solve(self, step: int, late: list[str], gone: list[str],
              rejected: list[str] | None = None) -> dict[str, Any]:
        """Run the power flow, send the voltages, append and return the round record."""
        import pandapower as pp

        record: dict[str, Any] = {"step": step, "late": late, "gone": gone,
                                  "rejected": list(rejected or [])}
        kwargs = dict(self.runpp_kwargs)
        if self._solved:  # warm start from the previous solution (~3x faster)
            kwargs.setdefault("init", "results")
        try:
            pp.runpp(self.net, **kwargs)
        except pp.LoadflowNotConverged:
            logger.warning("step %d: power flow did not converge; no voltages sent", step)
            self.failed_power_flows += 1
            record.update(converged=False, vm_pu={}, bus_vm_pu={})
            self.history.append(record)
            return record
        self._solved = True
        bus_vm = {int(b): float(v) for b, v in self.net.res_bus["vm_pu"].items()}
        vm = {n: bus_vm[b] for n, b in self.bus_of_node.items()}
        self.allocator.send_voltages(step, vm)
        record.update(converged=True, vm_pu=vm, bus_vm_pu=bus_vm)
        self.history.append(record)
        return record

    def step(self, step: int | None = None) -> dict[str, Any]:
        """One lock-step round: collect the step's reports, update, solve, send voltages.

        Args:
            step: Step number (default: previous + 1, starting at 0).

        Returns:
            The round record (see :attr:`history`).
        """
        self.step_count = self.step_count + 1 if step is None else int(step)
        result = self.allocator.lockstep_round(self.step_count, self.mapping, self.timeout_s)
        for node_id, report in result.reports.items():
            if node_id in self.mapping:  # other nodes may share the allocator
                self.apply(node_id, report)
        rejected = [n for n in result.rejected if n in self.mapping]
        return self.solve(self.step_count, result.late, result.gone, rejected)

    def run_realtime(self, duration_s: float, min_interval_s: float = 0.0) -> list[dict[str, Any]]:
        """Real-time mode: solve after each batch of reports for ``duration_s`` wall seconds.

        Reports are queued by the allocator's ``allocation_updated`` callback (installed here),
        drained, written into the net, then one power flow runs and the voltages are sent.
        """
        self.allocator.allocation_updated = lambda report, node_id: self.reports.put(
            (report, node_id)
        )
        deadline = time.monotonic() + duration_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                batch = [self.reports.get(timeout=min(left, 0.2))]
            except queue.Empty:
                continue
            while True:
                try:
                    batch.append(self.reports.get_nowait())
                except queue.Empty:
                    break
            step = 0
            for report, node_id in batch:
                if node_id in self.mapping:
                    self.apply(node_id, report)
                    step = max(step, report.step)
            active = set(self.allocator.active_nodes())
            self.solve(step, [], sorted(n for n in self.mapping if n not in active))
            if min_interval_s > 0:
                time.sleep(min_interval_s)
        self.allocator.allocation_updated = None
        return self.history
