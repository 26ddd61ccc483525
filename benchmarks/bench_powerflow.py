"""Power-flow speed: the numba core vs ``pandapower.runpp``/``rundcpp`` (and lightsim2grid).

Measured side by side in one run, on the same pandapower net, for case14, case118 and case300:

* AC warm: re-solve after a small change of injections (loads alternate x1.00 / x1.01), warm
  started from the previous solution, same topology (the environment's common step);
* AC flat: the same solve from a flat start (numba only);
* AC topology change: alternate between two topologies (one line out / in), warm started; the
  numba core re-does its topology analysis every call (numba only);
* DC: ``rundcpp`` equivalent.

Numba is timed three ways: ``run_powerflow`` called from another numba function (what the
environment's step kernel sees; "in numba"), the raw kernel called from Python (adds the
dispatch of 13 arguments) and :class:`~gym_powergrid.core.powerflow.NumbaPowerFlow` (adds input
validation and result objects). lightsim2grid, when importable, is timed by its own solver
timer (``get_computation_time``, the C++ Newton-Raphson/KLU time, as lightsim2grid reports it)
and by the wall time of its ``ac_pf``/``dc_pf`` call.

Usage::

    python benchmarks/bench_powerflow.py [--quick] [--json PATH] [--cases case14 case118]

Every figure is a median over repeated calls (microseconds). Keys of ``--json`` are
documented in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from gym_powergrid.core.pf_kernel import (
    new_workspace,
    pack_grid,
    pack_injections,
    pack_topology,
    run_powerflow,
    sizes,
)
from gym_powergrid.core.powerflow import DEFAULT_MAX_ITER, DEFAULT_TOL_PU, NumbaPowerFlow
from gym_powergrid.core.results import Injections
from gym_powergrid.core.status import PFStatus
from gym_powergrid.grid import Topology, from_pandapower, pandapower_case

CASES = ("case14", "case118", "case300")
LOAD_SCALE = 1.01


@dataclass
class Counts:
    """Repetitions per measurement."""

    numba: int
    inner: int
    pandapower: int
    lightsim: int


FULL = Counts(numba=2000, inner=2000, pandapower=40, lightsim=2000)
QUICK = Counts(numba=300, inner=300, pandapower=6, lightsim=300)


@dataclass
class CaseResult:
    """Figures of one case (µs unless the key says otherwise)."""

    case: str
    values: dict[str, float] = field(default_factory=dict)


def median_us(fn: Callable[[int], object], n: int) -> float:
    """Median wall time of ``fn(k)`` over ``n`` calls (``k`` = call number), in µs."""
    ts = np.empty(n)
    for k in range(n):
        t0 = time.perf_counter()
        fn(k)
        ts[k] = time.perf_counter() - t0
    return float(np.median(ts) * 1e6)


@njit  # not cached: a cached caller would keep a stale copy of run_powerflow's code
def _inner_loop(n, ac, warm, grid_i, grid_f, topo_a, topo_b, inj_a, inj_b, bus_v, out_mask,
                out_res, ws_i, ws_f):
    """``n`` solves alternating injections (and topologies when ``topo_b`` differs)."""
    n_fail = 0
    n_iter = 0
    for k in range(n):
        t = topo_b if k % 2 else topo_a
        i = inj_b if k % 2 else inj_a
        status, it = run_powerflow(ac, warm, DEFAULT_MAX_ITER, DEFAULT_TOL_PU, grid_i, grid_f, t, i,
                                   bus_v, out_mask, out_res, ws_i, ws_f)
        n_fail += status != 0
        n_iter += it
    return n_fail, n_iter


class InnerTimer:
    """Times batches of :func:`_inner_loop` for one kind of solve.

    Batches last about 200 µs: each timing stays well inside a scheduler time slice, so a busy
    machine shows up as a few slow batches (which the median drops) instead of inflating all.
    """

    def __init__(self, per_call_us: float, *args) -> None:
        batch = int(max(1, min(50, 200.0 // max(per_call_us, 1.0))))
        self.batch = batch + batch % 2  # whole pairs of the alternating inputs
        self.args = args

    def __call__(self) -> float:
        """Run one batch; return the time per solve in µs."""
        t0 = time.perf_counter()
        n_fail, _ = _inner_loop(self.batch, *self.args)
        dt = (time.perf_counter() - t0) / self.batch
        if n_fail:
            raise RuntimeError(f"{n_fail} numba solves failed in the benchmark loop")
        return dt * 1e6

    def median_us(self, n: int) -> float:
        """Median per-solve time over batches totalling about ``n`` solves."""
        return float(np.median([self() for _ in range(max(5, n // self.batch))]))


def _second_topology(grid) -> Topology:
    """Reference topology with one line out that keeps every bus energised and converges."""
    pf = NumbaPowerFlow(grid)
    inj = Injections.reference(grid)
    base = pf.run_ac(Topology.reference(grid), inj)
    for k in np.argsort(-np.abs(base.line_p_or_mw)):
        topo = Topology.reference(grid)
        if not topo.line_status[k]:
            continue
        topo.line_status[k] = False
        r = pf.run_ac(topo, inj, warm_start=False)
        if r.converged and r.bus_energized_mask.sum() == base.bus_energized_mask.sum():
            return topo
    raise RuntimeError("no single line outage keeps the grid whole")  # pragma: no cover


# --------------------------------------------------------------------------- numba
def bench_numba(grid, counts: Counts) -> tuple[dict[str, float], np.ndarray,
                                               dict[str, InnerTimer]]:
    """Raw kernel (Python and in-numba) and NumbaPowerFlow timings.

    Also returns the reference |V| of busbars 0 and the in-numba timers (for interleaving).
    """
    out: dict[str, float] = {}
    topo = Topology.reference(grid)
    inj_a = Injections.reference(grid).validated(grid)
    inj_b = Injections(inj_a.prod_p_mw, inj_a.prod_v_pu, inj_a.load_p_mw * LOAD_SCALE,
                       inj_a.load_q_mvar * LOAD_SCALE, inj_a.prod_q_mvar)
    topo2 = _second_topology(grid)

    # ---- NumbaPowerFlow (validation + packing + result objects)
    pf = NumbaPowerFlow(grid)
    assert pf.run_ac(topo, inj_a).converged
    out["ac_numba_api_us"] = median_us(
        lambda k: pf.run_ac(topo, inj_b if k % 2 else inj_a, warm_start=True), counts.numba)
    out["dc_numba_api_us"] = median_us(
        lambda k: pf.run_dc(topo, inj_b if k % 2 else inj_a), counts.numba)

    # ---- raw kernel from Python
    grid_i, grid_f = pack_grid(grid)
    sz = sizes(grid_i)
    ws_i, ws_f = new_workspace(grid_i, grid_f)
    t_a = pack_topology(topo.prod_node, topo.load_node, topo.line_or_node, topo.line_ex_node,
                        topo.line_status)
    t_b = pack_topology(topo2.prod_node, topo2.load_node, topo2.line_or_node, topo2.line_ex_node,
                        topo2.line_status)
    i_a, i_b = (pack_injections(x.prod_p_mw, x.prod_q_mvar, x.prod_v_pu, x.load_p_mw,
                                x.load_q_mvar) for x in (inj_a, inj_b))
    bus_v = np.zeros((2, sz.n_bus))
    mask = np.zeros(sz.mask_len, dtype=np.bool_)
    res = np.zeros(sz.res_len)
    tol, max_iter = DEFAULT_TOL_PU, DEFAULT_MAX_ITER

    def raw(ac: bool, warm: bool, t: np.ndarray, i: np.ndarray) -> int:
        status, n_iter = run_powerflow(ac, warm, max_iter, tol, grid_i, grid_f, t, i, bus_v,
                                       mask, res, ws_i, ws_f)
        if status != PFStatus.CONVERGED:
            raise RuntimeError(f"numba power flow failed in the benchmark: status {status}")
        return n_iter

    raw(True, False, t_a, i_a)
    vm_ref = bus_v[0, :sz.n_sub].copy()  # the reference solution, for lightsim2grid
    out["ac_numba_n_iter"] = float(raw(True, True, t_a, i_b))
    out["ac_flat_numba_n_iter"] = float(raw(True, False, t_a, i_b))
    out["ac_numba_us"] = median_us(lambda k: raw(True, True, t_a, i_b if k % 2 else i_a),
                                   counts.numba)
    out["ac_flat_numba_us"] = median_us(lambda k: raw(True, False, t_a, i_b if k % 2 else i_a),
                                        counts.numba)
    out["ac_topo_numba_us"] = median_us(lambda k: raw(True, True, t_b if k % 2 else t_a, i_a),
                                        counts.numba)
    out["dc_numba_us"] = median_us(lambda k: raw(False, False, t_a, i_b if k % 2 else i_a),
                                   counts.numba)

    # ---- in numba (no Python dispatch): what a step kernel calling run_powerflow pays
    raw(True, False, t_a, i_a)
    common = (grid_i, grid_f)
    outs = (bus_v, mask, res, ws_i, ws_f)
    timers = {}
    for key, ac, warm, t_2, i_2 in (("ac", True, True, t_a, i_b),
                                    ("ac_flat", True, False, t_a, i_b),
                                    ("ac_topo", True, True, t_b, i_a),
                                    ("dc", False, False, t_a, i_b)):
        timers[key] = InnerTimer(out[f"{key}_numba_us"], ac, warm, *common, t_a, t_2, i_a, i_2,
                                 *outs)
        out[f"{key}_numba_inner_us"] = timers[key].median_us(counts.inner)
    return out, vm_ref, timers


# --------------------------------------------------------------------------- pandapower
def bench_pandapower(net, counts: Counts) -> dict[str, float]:
    """``runpp`` warm started from the previous results (``init="results"``) and ``rundcpp``."""
    import pandapower as pp

    p0 = net.load.p_mw.to_numpy().copy()
    q0 = net.load.q_mvar.to_numpy().copy()

    def set_loads(k: int) -> None:
        s = LOAD_SCALE if k % 2 else 1.0
        net.load["p_mw"] = p0 * s
        net.load["q_mvar"] = q0 * s

    kw = dict(calculate_voltage_angles=True, tolerance_mva=1e-8, trafo_model="t",
              enforce_q_lims=False, voltage_depend_loads=False)
    set_loads(0)
    pp.runpp(net, init="flat", **kw)

    def ac(k: int) -> None:
        set_loads(k)
        t0 = time.perf_counter()
        pp.runpp(net, init="results", **kw)
        times.append(time.perf_counter() - t0)

    def dc(k: int) -> None:
        set_loads(k)
        t0 = time.perf_counter()
        pp.rundcpp(net, trafo_model="t")
        times.append(time.perf_counter() - t0)

    out = {}
    for key, fn in (("ac_pandapower_us", ac), ("dc_pandapower_us", dc)):
        times: list[float] = []
        for k in range(counts.pandapower + 1):
            fn(k)
        out[key] = float(np.median(times[1:]) * 1e6)  # the first call builds caches
    set_loads(0)
    pp.runpp(net, init="results", **kw)
    return out


# --------------------------------------------------------------------------- lightsim2grid
def lightsim_model(net):
    """A lightsim2grid grid model of ``net``, or None when lightsim2grid is not importable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                from lightsim2grid.network import init_from_pandapower
            except ImportError:
                from lightsim2grid.gridmodel import init_from_pandapower
            return init_from_pandapower(net)
    except ImportError:
        return None


def bench_lightsim(model, net, counts: Counts, vm_numba: np.ndarray,
                   timers: dict[str, InnerTimer]) -> dict[str, float]:
    """Solver time (lightsim2grid's own timer) and call time of ``ac_pf``/``dc_pf``.

    Each lightsim2grid solve alternates with a batch of in-numba solves of the same kind, so both
    see the same machine load; the in-numba AC warm and DC figures are re-measured that way.
    """
    n_bus = len(net.bus)
    p0 = net.load.p_mw.to_numpy().astype(np.float32)
    q0 = net.load.q_mvar.to_numpy().astype(np.float32)
    mask = np.ones(p0.shape[0], dtype=np.bool_)
    vm0 = float(net.ext_grid.vm_pu.iloc[0])
    v = np.full(n_bus, vm0, dtype=np.complex128)
    tol = DEFAULT_TOL_PU

    def set_loads(k: int) -> None:
        s = np.float32(LOAD_SCALE if k % 2 else 1.0)
        model.update_loads_p(mask, p0 * s)
        model.update_loads_q(mask, q0 * s)

    set_loads(0)
    v = model.ac_pf(v, DEFAULT_MAX_ITER, tol)
    if v.shape[0] == 0:
        raise RuntimeError("lightsim2grid did not converge on the reference case")
    out = {"ac_lightsim_max_dvm_pu": float(np.max(np.abs(np.abs(v) - vm_numba)))}

    for key, pf_name, timer_name in (("ac", "ac_pf", "get_computation_time"),
                                     ("dc", "dc_pf", "get_dc_computation_time")):
        timer_after = np.empty(counts.lightsim + 1)
        numba_t = np.empty(counts.lightsim)
        call_t = np.empty(counts.lightsim)
        iters = np.empty(counts.lightsim)
        state = {"v": v.copy()}
        run_pf = getattr(model, pf_name)
        timer = getattr(model, timer_name)
        timer_after[0] = timer()
        for k in range(counts.lightsim):
            numba_t[k] = timers[key]()
            set_loads(k + 1)
            t0 = time.perf_counter()
            res = run_pf(state["v"], DEFAULT_MAX_ITER, tol)
            call_t[k] = time.perf_counter() - t0
            timer_after[k + 1] = timer()
            if res.shape[0] == 0:
                raise RuntimeError(f"lightsim2grid {pf_name} failed in the benchmark")
            if key == "ac":
                state["v"] = res
                iters[k] = model.get_solver().get_nb_iter()
        # the solver timer accumulates over calls (older versions: the last call only)
        steps = np.diff(timer_after)
        solver_t = steps if np.all(steps >= 0.0) and steps.max() > 0 else timer_after[1:]
        out[f"{key}_lightsim_us"] = float(np.median(solver_t) * 1e6)
        out[f"{key}_numba_inner_us"] = float(np.median(numba_t))
        out[f"{key}_lightsim_call_us"] = float(np.median(call_t) * 1e6)
        if key == "ac":
            out["ac_lightsim_n_iter"] = float(np.median(iters))
    set_loads(0)
    return out


# --------------------------------------------------------------------------- report
def run_case(case: str, counts: Counts, use_lightsim: bool) -> CaseResult:
    net = pandapower_case(case)
    grid = from_pandapower(net, name=case)
    res = CaseResult(case)
    v = res.values
    numba_vals, vm_numba, timers = bench_numba(grid, counts)
    v.update(numba_vals)
    v.update(bench_pandapower(net, counts))
    v["ac_speedup_vs_pandapower"] = v["ac_pandapower_us"] / v["ac_numba_us"]
    v["dc_speedup_vs_pandapower"] = v["dc_pandapower_us"] / v["dc_numba_us"]
    model = lightsim_model(net) if use_lightsim else None
    if model is not None:
        v.update(bench_lightsim(model, net, counts, vm_numba, timers))
        v["ac_ratio_vs_lightsim"] = v["ac_numba_inner_us"] / v["ac_lightsim_us"]
        v["dc_ratio_vs_lightsim"] = v["dc_numba_inner_us"] / v["dc_lightsim_us"]
    return res


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def print_table(results: list[CaseResult], lightsim: str) -> None:
    head = (f"{'case':8s} {'solve':9s} {'numba in-numba':>14s} {'numba kernel':>12s} "
            f"{'NumbaPowerFlow':>14s} {'pandapower':>11s} {'pp/kernel':>9s} "
            f"{'lightsim2grid':>13s} {'in-numba/ls':>11s}")
    print("median µs per solve (numba kernel = run_powerflow called from Python; in-numba = "
          "called from a numba loop; lightsim2grid = its solver timer)")
    print(head)
    print("-" * len(head))
    for r in results:
        v = r.values
        has_ls = "ac_lightsim_us" in v
        rows = (
            ("AC warm", "ac_numba_inner_us", "ac_numba_us", "ac_numba_api_us",
             "ac_pandapower_us", "ac_speedup_vs_pandapower", "ac_lightsim_us",
             "ac_ratio_vs_lightsim"),
            ("AC flat", "ac_flat_numba_inner_us", "ac_flat_numba_us", None, None, None, None,
             None),
            ("AC topo", "ac_topo_numba_inner_us", "ac_topo_numba_us", None, None, None, None,
             None),
            ("DC", "dc_numba_inner_us", "dc_numba_us", "dc_numba_api_us", "dc_pandapower_us",
             "dc_speedup_vs_pandapower", "dc_lightsim_us", "dc_ratio_vs_lightsim"),
        )
        for name, inner, kern, api, ppk, ratio, ls, ls_ratio in rows:
            ls_txt = fmt(v.get(ls)) if has_ls and ls else (lightsim if ls else "-")
            ratio_txt = f"{v[ratio]:.0f}x" if ratio else "-"
            ls_ratio_txt = f"{v[ls_ratio]:.2f}" if has_ls and ls_ratio else "-"
            api_txt = fmt(v.get(api) if api else None)
            pp_txt = fmt(v.get(ppk) if ppk else None)
            print(f"{r.case:8s} {name:9s} {fmt(v[inner]):>14s} {fmt(v[kern]):>12s} "
                  f"{api_txt:>14s} {pp_txt:>11s} {ratio_txt:>9s} {ls_txt:>13s} "
                  f"{ls_ratio_txt:>11s}")
        iters = (f"  Newton iterations: warm {v['ac_numba_n_iter']:.0f}, flat "
                 f"{v['ac_flat_numba_n_iter']:.0f}")
        if has_ls:
            iters += (f"; lightsim2grid warm {v['ac_lightsim_n_iter']:.0f}, its ac_pf call "
                      f"{fmt(v['ac_lightsim_call_us'])} µs, max |Vm| difference to numba "
                      f"{v['ac_lightsim_max_dvm_pu']:.1e} p.u.")
        print(iters)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write ``--json`` when asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), metavar="CASE",
                        help=f"named cases (default: {' '.join(CASES)})")
    parser.add_argument("--no-lightsim", action="store_true",
                        help="skip lightsim2grid even when it is installed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    counts = QUICK if args.quick else FULL

    use_lightsim = not args.no_lightsim
    lightsim_status = "skipped" if args.no_lightsim else "not installed"
    if use_lightsim:
        try:
            import lightsim2grid

            lightsim_status = f"lightsim2grid {lightsim2grid.__version__}"
        except ImportError:
            use_lightsim = False

    results = []
    for case in args.cases:
        print(f"... {case}", file=sys.stderr, flush=True)
        results.append(run_case(case, counts, use_lightsim))
    print(f"gym_powergrid power-flow benchmark ({'quick' if args.quick else 'full'}; "
          f"{lightsim_status}); AC warm = re-solve after loads x1.00 <-> x{LOAD_SCALE:.2f}")
    print_table(results, lightsim_status if not use_lightsim else "-")

    if args.json:
        flat: dict[str, float] = {"lightsim2grid_installed": float(use_lightsim),
                                  "quick": float(args.quick)}
        for r in results:
            for key, value in r.values.items():
                flat[f"{r.case}_{key}"] = float(value)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(flat, fh, indent=1, sort_keys=True)
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
