"""Calibrate generated scenarios: how long simple policies survive under pypownet's rules.

A self-contained re-implementation of the game's outage rules on the numba power flow (used
before ``gym_powergrid.envs`` existed, and kept as an independent cross-check):

* each step: cooldowns tick, maintenance and hazards starting now switch their line off (and make
  it unavailable for ``d`` steps), the policy acts, an AC power flow runs;
* cascade: a line above ``hard_overflow_coefficient`` x its limit breaks at once (out for
  ``n_timesteps_hard_overflow_is_broken`` steps); a line above its limit for
  ``n_timesteps_consecutive_soft_overflow_breaks`` consecutive steps breaks (out for
  ``n_timesteps_soft_overflow_is_broken``); after breaks the power flow is recomputed, and so on;
* game over: the power flow diverges, or more loads (productions) are isolated than
  ``max_number_loads_game_over`` (``max_number_prods_game_over``);
* lines switched off (maintenance, hazards, overflows) stay off until the policy reconnects them.

Policies: ``do_nothing``; ``reconnect`` (switch back on the most useful available line, one
per step); ``greedy`` (one-step search over do-nothing, each single reconnection and the
disconnection of each of the ``GREEDY_DISCONNECT`` most loaded lines, evaluated with an AC
power flow on the forecast injections, lowest overload wins).

Usage::

    python benchmarks/calibrate_scenarios.py --case case14 --seed 14 --policies do_nothing,reconnect
    python benchmarks/calibrate_scenarios.py --params gym_powergrid/envs/params/case14
    python benchmarks/calibrate_scenarios.py --case case14 --env   # via gymnasium.make
    python benchmarks/calibrate_scenarios.py --params gym_powergrid/envs/params/case14 \\
        --level hard --policies do_nothing,reconnect,greedy          # the hard level
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from gym_powergrid.chronics.chronic import Chronic
from gym_powergrid.core.powerflow import NumbaPowerFlow
from gym_powergrid.core.results import Injections
from gym_powergrid.grid import GridArrays, Topology

#: Disconnection candidates of the greedy policy: the most loaded lines of the last step.
GREEDY_DISCONNECT = 10


@dataclass(frozen=True)
class Rules:
    """The subset of ``GameConfig`` the outage rules use."""

    hard_coef: float = 1.5
    hard_broken: int = 10
    soft_steps: int = 3
    soft_broken: int = 5
    max_loads: int = 1
    max_prods: int = 1

    @classmethod
    def from_config(cls, cfg) -> Rules:  # noqa: ANN001 - GameConfig
        return cls(cfg.hard_overflow_coefficient, cfg.n_timesteps_hard_overflow_is_broken,
                   cfg.n_timesteps_consecutive_soft_overflow_breaks,
                   cfg.n_timesteps_soft_overflow_is_broken, cfg.max_number_loads_game_over,
                   cfg.max_number_prods_game_over)


@dataclass
class Outcome:
    chronic: str
    n_steps: int
    survived: int  # steps played before game over (n_steps if never)
    cause: str
    n_broken: int  # overflow breaks


class RuleSim:
    """Do-nothing-style simulation of one chronic with the game's outage rules."""

    def __init__(self, grid: GridArrays, rules: Rules) -> None:
        self.grid = grid
        self.rules = rules
        self.pf = NumbaPowerFlow(grid)
        self.topo0 = Topology.reference(grid)
        self.prod_q = grid.prod_q_mvar.astype(np.float64)

    def _topo(self, status: np.ndarray) -> Topology:
        t0 = self.topo0
        return Topology(t0.prod_node, t0.load_node, t0.line_or_node, t0.line_ex_node, status)

    def _pf(self, status: np.ndarray, inj: Injections):
        try:
            return self.pf.run_ac(self._topo(status), inj)
        except ZeroDivisionError:  # seen in a work-in-progress core near voltage collapse
            self.pf.reset_voltages()
            return self.pf.run_ac(self._topo(status), inj)

    def _score(self, res, limits: np.ndarray) -> float:
        if not res.converged:
            return -1e9
        n_loads = int(res.load_cut_mask.sum())
        n_prods = int(res.prod_cut_mask.sum())
        if n_loads > self.rules.max_loads or n_prods > self.rules.max_prods:
            return -1e8
        rho = res.line_a_or / limits
        return -(np.clip(rho - 0.9, 0, None).sum() * 10 + np.clip(rho - 1.0, 0, None).sum() * 100
                 + n_loads * 5 + n_prods * 2)

    def run(self, chronic: Chronic, policy: str) -> Outcome:
        g = self.grid
        limits = chronic.line_limit_a
        status = np.ones(g.n_line, dtype=bool)
        countdown = np.zeros(g.n_line, dtype=np.int64)
        over = np.zeros(g.n_line, dtype=np.int64)
        n_broken = 0
        self.last_rho = np.zeros(g.n_line)
        self.pf.reset_voltages()
        for t in range(chronic.n_steps):
            countdown = np.maximum(countdown - 1, 0)
            for events in (chronic.maintenance, chronic.hazards):
                d = events[t]
                hit = d > 0
                status[hit] = False
                countdown[hit] = np.maximum(countdown[hit], d[hit])
            inj = Injections(chronic.prod_p_mw[t], chronic.prod_v_pu[t], chronic.load_p_mw[t],
                             chronic.load_q_mvar[t], self.prod_q)
            if policy != "do_nothing":
                status = self._act(policy, t, chronic, status, countdown, limits)
            res = self._pf(status, inj)
            first = True
            while True:
                if not res.converged:
                    return Outcome(chronic.name, chronic.n_steps, t, "diverged", n_broken)
                rho = np.where(status, res.line_a_or / limits, 0.0)
                if first:
                    over = np.where(rho > 1.0, over + 1, 0)
                    first = False
                hard = status & (rho > self.rules.hard_coef)
                soft = status & ~hard & (over >= self.rules.soft_steps)
                if not (hard.any() or soft.any()):
                    break
                status = status & ~hard & ~soft
                countdown[hard] = self.rules.hard_broken
                countdown[soft] = self.rules.soft_broken
                over[hard | soft] = 0
                n_broken += int(hard.sum() + soft.sum())
                res = self._pf(status, inj)
            self.last_rho = np.where(status, res.line_a_or / limits, 0.0)
            if int(res.load_cut_mask.sum()) > self.rules.max_loads:
                return Outcome(chronic.name, chronic.n_steps, t, "loads cut", n_broken)
            if int(res.prod_cut_mask.sum()) > self.rules.max_prods:
                return Outcome(chronic.name, chronic.n_steps, t, "prods cut", n_broken)
        return Outcome(chronic.name, chronic.n_steps, chronic.n_steps, "survived", n_broken)

    def _act(self, policy: str, t: int, chronic: Chronic, status: np.ndarray,
             countdown: np.ndarray, limits: np.ndarray) -> np.ndarray:
        can_on = ~status & (countdown == 0)
        if policy == "reconnect" and not can_on.any():
            return status
        inj = Injections(chronic.prod_p_planned_mw[t], chronic.prod_v_planned_pu[t],
                         chronic.load_p_planned_mw[t], chronic.load_q_planned_mvar[t],
                         self.prod_q)
        candidates = [status]
        for line in np.flatnonzero(can_on):
            s = status.copy()
            s[line] = True
            candidates.append(s)
        if policy == "greedy":
            on = np.flatnonzero(status)
            loaded = on[np.argsort(-self.last_rho[on], kind="stable")[:GREEDY_DISCONNECT]]
            for line in np.sort(loaded):
                s = status.copy()
                s[line] = False
                candidates.append(s)
        saved = (self.pf.bus_vm.copy(), self.pf.bus_va.copy())
        scores = []
        for s in candidates:
            scores.append(self._score(self._pf(s, inj), limits))
            self.pf.bus_vm[:], self.pf.bus_va[:] = saved
        if policy == "reconnect":  # always reconnect when possible: pick the best reconnection
            best = 1 + int(np.argmax(scores[1:]))
        else:
            best = int(np.argmax(scores))
        return candidates[best]


def _load(args) -> tuple[GridArrays, list[Chronic], Rules]:  # noqa: ANN001
    if args.params:
        from gym_powergrid.params import ParameterFolder

        folder = ParameterFolder(args.params, args.level)
        grid = folder.grid
        chronics = list(folder.chronics)
        return grid, chronics, Rules.from_config(folder.config)
    from gym_powergrid.chronics.generator import GeneratorConfig, generate_scenarios
    from gym_powergrid.grid import load_grid
    from gym_powergrid.new_env import default_config

    grid = load_grid(args.case)
    overrides = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = eval(value)  # noqa: S307 - benchmark convenience
    gen = generate_scenarios(grid, args.seed, GeneratorConfig(**overrides))
    config = {}
    for item in args.config or []:
        key, _, value = item.partition("=")
        config[key] = eval(value)  # noqa: S307 - benchmark convenience
    return grid, gen.chronics, Rules.from_config(default_config(grid, **config))


def _run_env(args) -> None:  # noqa: ANN001
    import gymnasium as gym

    import gym_powergrid.envs  # noqa: F401

    env = gym.make(f"PowerGrid-{args.case}-v0")
    n_chronics = args.n_env_chronics
    rows = []
    for k in range(n_chronics):
        obs, info = env.reset(options={"chronic": k})
        action = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)
        steps = 0
        while True:
            obs, reward, terminated, truncated, info = env.step(action)
            steps += 1
            if terminated or truncated:
                break
        rows.append((k, steps, "terminated" if terminated else "truncated"))
        print(f"chronic {k}: {steps} steps, {rows[-1][2]}")
    env.close()


def plot_weeks(case: str, seed: int, path: str, overrides: dict | None = None) -> None:
    """Plot a winter and a summer week of generated data (production by role, load, stress).

    The data are regenerated in memory exactly as ``gym_powergrid.new_env`` does (same grid
    round trip, same seed), so they are the shipped data when seed and settings match.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from gym_powergrid.chronics.generator import (
        ROLE_SLACK,
        ROLE_SOLAR,
        ROLE_THERMAL,
        ROLE_WIND,
        GeneratorConfig,
        generate_scenarios,
    )
    from gym_powergrid.chronics.generator_pf import base_topology_flows
    from gym_powergrid.new_env import _round_trip_grid

    grid = _round_trip_grid(case, case)
    gen = generate_scenarios(grid, seed, GeneratorConfig(**(overrides or {})))
    weeks = [("January", 0, np.datetime64("2019-01-07T00:00")),
             ("July", 6, np.datetime64("2019-07-08T00:00"))]
    colors = {ROLE_THERMAL: "#8c8c8c", ROLE_SLACK: "#5a6b8c", ROLE_WIND: "#4fa3d9",
              ROLE_SOLAR: "#f2c12e"}
    labels = {ROLE_THERMAL: "thermal units", ROLE_SLACK: "slack (balances, incl. losses)",
              ROLE_WIND: "wind", ROLE_SOLAR: "solar"}
    fig, axes = plt.subplots(2, 2, figsize=(13, 7), sharex="col", sharey="row",
                             gridspec_kw={"height_ratios": [3, 1.3]})
    for col, (title, k, start) in enumerate(weeks):
        c = gen.chronics[k]
        t0 = int(np.searchsorted(c.datetimes, start.astype(c.datetimes.dtype)))
        sl = slice(t0, t0 + 7 * 24)
        x = c.datetimes[sl].astype("datetime64[s]").astype(object)
        p = np.asarray(c.prod_p_mw[sl], dtype=float)
        ax = axes[0, col]
        stack, names, cols = [], [], []
        for role in (ROLE_THERMAL, ROLE_SLACK, ROLE_WIND, ROLE_SOLAR):
            mask = gen.prod_role == role
            if mask.any():
                stack.append(p[:, mask].sum(axis=1))
                names.append(labels[role])
                cols.append(colors[role])
        ax.stackplot(x, *stack, labels=names, colors=cols, alpha=0.9, linewidth=0)
        ax.plot(x, np.asarray(c.load_p_mw[sl]).sum(axis=1), color="black", lw=1.6,
                label="total load")
        ax.plot(x, np.asarray(c.load_p_planned_mw[sl]).sum(axis=1), color="black", lw=0.9,
                ls="--", label="load forecast (planned)")
        ax.set_title(f"{grid.name}: a week in {title} {str(start)[:4]} (chronic {c.name})")
        ax.set_ylim(0, None)
        ax.grid(alpha=0.3)
        f = base_topology_flows(grid, np.asarray(c.prod_p_mw[sl], dtype=float),
                                np.asarray(c.prod_v_pu[sl], dtype=float),
                                np.asarray(c.load_p_mw[sl], dtype=float),
                                np.asarray(c.load_q_mvar[sl], dtype=float))
        rho = f.line_a_or / c.line_limit_a * 100
        ax2 = axes[1, col]
        ax2.plot(x, rho.max(axis=1), color="#c0392b", lw=1.2, label="most loaded line")
        ax2.plot(x, np.median(rho, axis=1), color="#7f8c8d", lw=1.0, label="median line")
        ax2.axhline(100, color="black", lw=0.8, ls=":")
        ax2.set_ylim(0, max(110, float(rho.max()) + 5))
        ax2.grid(alpha=0.3)
        ax2.xaxis.set_major_locator(mdates.DayLocator())
        ax2.xaxis.set_major_formatter(mdates.DateFormatter("%a %d"))
    axes[0, 0].set_ylabel("MW")
    axes[1, 0].set_ylabel("line current / limit, %")
    handles = axes[0, 0].get_legend_handles_labels()[0] + axes[1, 0].get_legend_handles_labels()[0]
    fig.legend(handles, [h.get_label() for h in handles], loc="lower center", ncol=4,
               fontsize=9, frameon=False)
    fig.suptitle(f"Generated chronics of {grid.name} (seed {seed}): production by role vs "
                 "load, and line loading in the base topology", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="case14")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--params", help="parameter folder to read instead of generating")
    parser.add_argument("--policies", default="do_nothing,reconnect")
    parser.add_argument("--level", default=None, help="level of --params (default: the first)")
    parser.add_argument("--set", action="append", help="generator override KEY=VALUE")
    parser.add_argument("--config", action="append",
                        help="game-rule override KEY=VALUE (as new_env --config)")
    parser.add_argument("--env", action="store_true", help="run do-nothing via gymnasium.make")
    parser.add_argument("--n-env-chronics", type=int, default=12)
    parser.add_argument("--plot-weeks", metavar="PNG",
                        help="plot a winter and a summer week of --case/--seed data and exit")
    args = parser.parse_args(argv)
    if args.plot_weeks:
        overrides = {}
        for item in args.set or []:
            key, _, value = item.partition("=")
            overrides[key] = eval(value)  # noqa: S307 - benchmark convenience
        plot_weeks(args.case, args.seed, args.plot_weeks, overrides)
        return 0
    if args.env:
        _run_env(args)
        return 0
    t0 = time.perf_counter()
    grid, chronics, rules = _load(args)
    print(f"{grid.name}: {len(chronics)} chronics, rules {rules} "
          f"(set up in {time.perf_counter() - t0:.1f}s)")
    sim = RuleSim(grid, rules)
    for policy in args.policies.split(","):
        t0 = time.perf_counter()
        outcomes = [sim.run(c, policy) for c in chronics]
        n_over = sum(o.survived < o.n_steps for o in outcomes)
        total = sum(o.survived for o in outcomes)
        print(f"\n{policy}: game over in {n_over}/{len(outcomes)} chronics, "
              f"{total}/{sum(o.n_steps for o in outcomes)} steps survived "
              f"({time.perf_counter() - t0:.1f}s)")
        for o in outcomes:
            print(f"  {o.chronic:8s} {o.survived:4d}/{o.n_steps:4d}  {o.cause:10s} "
                  f"overflow breaks {o.n_broken}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
