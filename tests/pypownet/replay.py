"""Replay a pypownet 2.2.9 trace on PowerGridEnv and report where the two first differ.

    python -m tests.pypownet.replay tests/pypownet/traces/default14_a_do_nothing.npz
    python -m tests.pypownet.replay tests/pypownet/traces/*.npz --all      # every field, summary
    python -m tests.pypownet.replay <trace> --verbose --backend pandapower  # step by step

The env is ``PowerGridEnv(parameters=<pypownet folder>, level="level0",
game_over_mode="soft", reward="pypownet")`` reset on the trace's chronic; it plays the
trace's submitted actions (pypownet's layout, which is ours: the layout check below proves it
element by element); after a game over it is reset (soft mode continues the same chronic).
Compared at every step (the acceptance fields of issue 10):

* ``ampere_flows``: ``|ours - pypownet| <= 1e-4 * |pypownet| + 1e-2 A`` (the 10 mA floor only
  matters for lines carrying almost nothing);
* ``lines_status`` and the topology (``productions_nodes``, ``loads_nodes``, ``lines_or_nodes``,
  ``lines_ex_nodes``): equal;
* the timestep reached (row of the chronic; a soft game over restarts one row later);
* ``game_over``: same steps, same reason (pypownet's flag class <-> our
  ``info["game_over_reason"]``);
* ``action_applied``: the action once illegal parts are cancelled (pypownet zeroes them in the
  submitted action), so a refused reconnection is refused by both;
* ``reward``: pypownet's five reward components, ``|ours - pypownet| <= 1e-6 * max(1,
  |pypownet|)``, names mapped in :data:`REWARD_MAP`.

With ``--all`` (or ``extra=True``) the cooldown counters, cut masks and injections are also
compared (informational, not acceptance fields) and the replay goes on after a divergence
for as long as both sides still reach the same timesteps, counting mismatches per field.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    from . import _traces as T
except ImportError:  # imported from tests/pypownet by pytest, or run as a script
    import _traces as T

AMPS_RTOL, AMPS_ATOL = 1e-4, 1e-2
REWARD_TOL = 1e-6
#: pypownet reward name -> gym_powergrid "pypownet" reward component
REWARD_MAP = dict(zip(T.PYPOWNET_REWARD_NAMES, ("loads_cut", "prods_cut", "action_cost",
                                                "distance_to_reference", "line_usage")))
TOPOLOGY = ("productions_nodes", "loads_nodes", "lines_or_nodes", "lines_ex_nodes")
ACCEPTANCE_OBS = ("ampere_flows", "lines_status", *TOPOLOGY)
EXTRA_OBS = ("timesteps_before_lines_reconnectable", "timesteps_before_lines_reactionable",
             "timesteps_before_nodes_reactionable", "are_loads_cut", "are_prods_cut",
             "active_loads", "reactive_loads", "active_productions")
INJECTION_RTOL = 1e-5  # pypownet reads its CSV files as float32


@dataclass
class Divergence:
    """One field differing at one step."""

    step: int  # 0-based step whose result differs (-1: the first observation)
    field: str
    detail: str
    datetime: str = ""

    def __str__(self) -> str:
        where = "first observation" if self.step < 0 else f"step {self.step}"
        when = f" ({self.datetime})" if self.datetime else ""
        return f"{where}{when}: {self.field}: {self.detail}"


@dataclass
class Report:
    trace: str
    steps_compared: int = 0
    n_steps: int = 0
    first: Divergence | None = None
    first_extra: Divergence | None = None
    counts: dict = field(default_factory=dict)
    firsts: dict = field(default_factory=dict)
    stopped: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.first is None

    def add(self, d: Divergence, extra: bool) -> None:
        self.counts[d.field] = self.counts.get(d.field, 0) + 1
        self.firsts.setdefault(d.field, d)
        if extra:
            self.first_extra = self.first_extra or d
        else:
            self.first = self.first or d

    def summary(self) -> str:
        head = (f"{self.trace}: {'OK' if self.ok else 'DIFFERS'} "
                f"({self.steps_compared}/{self.n_steps} steps compared, {self.seconds:.1f} s)")
        lines = [head]
        if self.first:
            lines.append(f"  first divergence: {self.first}")
        if self.first_extra:
            lines.append(f"  first divergence in extra fields: {self.first_extra}")
        for name in sorted(self.counts):
            if self.firsts[name] not in (self.first, self.first_extra):
                lines.append(f"  {name}: {self.counts[name]} step(s), first {self.firsts[name]}")
            else:
                lines.append(f"  {name}: {self.counts[name]} step(s)")
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- comparisons
def _fmt_elems(name: str, idx: np.ndarray, ours, theirs, limit: int = 4) -> str:
    parts = [f"[{i}] ours={_num(ours[i])} pypownet={_num(theirs[i])}" for i in idx[:limit]]
    more = f" (+{len(idx) - limit} more)" if len(idx) > limit else ""
    return f"{len(idx)} of {len(theirs)} differ: " + ", ".join(parts) + more


def _num(x) -> str:
    x = float(x)
    return f"{x:.0f}" if x == int(x) and abs(x) < 1e6 else f"{x:.6g}"


def compare_amps(ours: np.ndarray, theirs: np.ndarray) -> str | None:
    ours = np.asarray(ours, np.float64)
    theirs = np.asarray(theirs, np.float64)
    err = np.abs(ours - theirs)
    bad = np.flatnonzero(~(err <= AMPS_RTOL * np.abs(theirs) + AMPS_ATOL))
    if not len(bad):
        return None
    bad = bad[np.argsort(-err[bad] / np.maximum(np.abs(theirs[bad]), AMPS_ATOL))]
    rel = err[bad[0]] / max(abs(theirs[bad[0]]), AMPS_ATOL)
    return f"{_fmt_elems('ampere_flows', bad, ours, theirs)}; worst relative error {rel:.3g}"


def compare_equal(ours: np.ndarray, theirs: np.ndarray) -> str | None:
    ours, theirs = np.asarray(ours).ravel(), np.asarray(theirs).ravel()
    if ours.shape != theirs.shape:
        return f"shape ours {ours.shape} pypownet {theirs.shape}"
    bad = np.flatnonzero(ours.astype(np.float64) != theirs.astype(np.float64))
    return _fmt_elems("", bad, ours, theirs) if len(bad) else None


def compare_close(ours, theirs, rtol: float) -> str | None:
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    bad = np.flatnonzero(~(np.abs(ours - theirs) <= rtol * np.maximum(1.0, np.abs(theirs))))
    return _fmt_elems("", bad, ours, theirs) if len(bad) else None


def compare_rewards(comps: dict, theirs: np.ndarray) -> str | None:
    bad = []
    for (pname, ours_name), value in zip(REWARD_MAP.items(), theirs):
        mine = comps.get(ours_name)
        if mine is None:
            bad.append(f"{pname} (ours has no {ours_name!r} component)")
        elif not abs(mine - value) <= REWARD_TOL * max(1.0, abs(value)):
            bad.append(f"{pname} (ours {ours_name}={mine:.9g}, pypownet {value:.9g}, "
                       f"difference {mine - value:.2g})")
    return ", ".join(bad) if bad else None


# ---------------------------------------------------------------------- the replay
def _layout(obs: dict, trace: T.Trace) -> str | None:
    ids = trace["static_substations_ids"]
    if len(obs["substations_ids"]) != len(ids):
        return f"{len(obs['substations_ids'])} substations, pypownet {len(ids)}"
    for ours_key, key in (("prods_substations_ids", "static_prods_substations_ids"),
                          ("loads_substations_ids", "static_loads_substations_ids"),
                          ("lines_or_substations_ids", "static_lines_or_substations_ids"),
                          ("lines_ex_substations_ids", "static_lines_ex_substations_ids")):
        mine = ids[np.asarray(obs[ours_key])] if len(obs[ours_key]) == len(trace[key]) else None
        if mine is None or not np.array_equal(mine, trace[key]):
            return (f"{ours_key}: ours (as pypownet ids) "
                    f"{None if mine is None else mine.tolist()}, pypownet {trace[key].tolist()}")
    bad = compare_close(obs["thermal_limits"], trace["static_thermal_limits"], 1e-6)
    return f"thermal_limits: {bad}" if bad else None


def make_env(trace: T.Trace, parameters: Path, backend: str | None = None):
    from gym_powergrid.envs import PowerGridEnv

    return PowerGridEnv(parameters=str(parameters / trace.folder), level=trace.meta["level"],
                        game_over_mode=trace.meta["game_over_mode"], reward="pypownet",
                        backend=backend)


def replay(trace: T.Trace | str | Path, parameters: Path | None = None,
           backend: str | None = None, extra: bool = False, stop_at_first: bool = True,
           verbose: bool = False, env=None, out=print) -> Report:
    """Play ``trace`` on PowerGridEnv and compare step by step (see the module docstring).

    Args:
        trace: a :class:`Trace` or a trace file.
        parameters: folder holding pypownet's parameter folders (default:
            :func:`_traces.parameters_root`).
        backend: ``"pypower"`` (pypownet's solver on the numba core), ``"numba"`` (Newton)
            or ``"pandapower"``; None: the folder's configuration (``pypower``).
        extra: also compare cooldowns, cut masks and injections (informational).
        stop_at_first: stop at the first divergence in an acceptance field.
        verbose: print one line per step.
        env: an env to reuse (built for the same folder), else one is built.
    """
    if not isinstance(trace, T.Trace):
        trace = T.read_trace(trace)
    t0 = time.perf_counter()
    rep = Report(trace.name, n_steps=trace.n_steps)
    if env is None:
        parameters = parameters or T.parameters_root()
        if parameters is None:
            raise FileNotFoundError(
                f"pypownet's parameter folders were not found; set {T.PARAMETERS_ENV} to the "
                f"folder holding {', '.join(T.FOLDERS)} (e.g. <side venv>/parameters), or run "
                "python tests/pypownet/record_traces.py once (it builds the side venv)")
        env = make_env(trace, Path(parameters), backend)
    obs, info = env.reset(options={"chronic": trace.chronic})

    def check_obs(k: int, obs: dict, info: dict) -> bool:
        """Compare observation ``k`` of the trace; True when the replay can go on."""
        i = k + 1
        when = trace.datetime(i)
        row = int(trace["timestep_index"][i])
        if info.get("chronic_name") != trace.chronic or int(info["timestep"]) != row:
            rep.add(Divergence(k, "timestep", f"ours {info.get('chronic_name')}/"
                               f"{info.get('timestep')}, pypownet {trace.chronic}/{row}", when),
                    False)
            rep.stopped = "the two runs no longer play the same timestep"
            return False
        for name in ACCEPTANCE_OBS + (EXTRA_OBS if extra else ()):
            theirs = trace[f"obs_{name}"][i]
            if name == "ampere_flows":
                bad = compare_amps(obs[name], theirs)
            elif name in ("active_loads", "reactive_loads", "active_productions"):
                bad = compare_close(obs[name], theirs, INJECTION_RTOL)
            else:
                bad = compare_equal(obs[name], theirs)
            if bad:
                if k >= 0 and int(trace["flag"][k]) in T.GAME_OVER_REASON:
                    bad = f"(observation of the soft restart after both game overs) {bad}"
                rep.add(Divergence(k, name, bad, when), name not in ACCEPTANCE_OBS)
        return True

    layout = _layout(obs, trace)
    if layout:
        rep.add(Divergence(-1, "layout", layout), False)
        rep.stopped = "element layouts differ: nothing else can be compared"
        rep.seconds = time.perf_counter() - t0
        return rep
    check_obs(-1, obs, info)
    for k in range(trace.n_steps):
        if stop_at_first and rep.first is not None:
            rep.stopped = rep.stopped or "first divergence (use --all to go on)"
            break
        action = trace["action"][k].astype(np.int8)
        obs, _, terminated, truncated, info = env.step(action)
        rep.steps_compared = k + 1
        when = trace.datetime(k + 1) if trace["obs_valid"][k + 1] else ""
        flag = int(trace["flag"][k])
        theirs_reason = T.GAME_OVER_REASON.get(flag)
        ours_reason = info.get("game_over_reason")
        bad = compare_equal(np.asarray(info["action_applied"]), trace["action_applied"][k])
        if bad:
            rep.add(Divergence(k, "action_applied", bad, when), False)
        if verbose:
            amps = np.asarray(obs["ampere_flows"], np.float64)
            ref = trace["obs_ampere_flows"][k + 1].astype(np.float64)
            worst = np.max(np.abs(amps - ref) / np.maximum(np.abs(ref), AMPS_ATOL)) if \
                ours_reason is None and theirs_reason is None else float("nan")
            out(f"step {k:4d} {when} flag ours={ours_reason} pypownet={T.FLAG_NAMES[flag]}"
                f" amps worst rel {worst:.2e}")
        if ours_reason != theirs_reason:
            text = trace.meta["flag_texts"].get(str(k), "")
            rep.add(Divergence(k, "game_over", f"ours {ours_reason!r}, pypownet "
                               f"{theirs_reason!r}{' (' + text + ')' if text else ''}", when),
                    False)
            rep.stopped = "game over on one side only: the runs no longer follow each other"
            break
        step_comps = info["reward_components"]
        if theirs_reason is not None:
            if not trace["obs_valid"][k + 1]:
                rep.stopped = "game over at the chronic's last timestep (end of the trace)"
            else:
                obs, info = env.reset()
        elif truncated and k < trace.n_steps - 1:
            rep.add(Divergence(k, "truncated", "our chronic ended before pypownet's", when),
                    False)
            rep.stopped = "our episode was truncated"
        # the reward follows from the observation: compared after it, so that the first
        # divergence names the cause
        go_on = not rep.stopped and check_obs(k, obs, info)
        rbad = compare_rewards(step_comps, trace["reward"][k])
        if rbad:
            rep.add(Divergence(k, "reward", rbad, when), False)
        if not go_on:
            break
    rep.seconds = time.perf_counter() - t0
    return rep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Replay pypownet traces on PowerGridEnv and print "
                                "the first divergence of each.")
    p.add_argument("traces", nargs="+", type=Path, help="trace files (.npz)")
    p.add_argument("--backend", choices=("pypower", "numba", "pandapower"), default="pypower",
                   help="power-flow backend of our env (default pypower: pypownet's solver)")
    p.add_argument("--all", action="store_true", help="compare extra fields too and go on "
                   "after the first divergence; print per-field counts")
    p.add_argument("--verbose", action="store_true", help="one line per step")
    p.add_argument("--parameters", type=Path, help="folder holding pypownet's default14, "
                   f"default30, default118 (default ${T.PARAMETERS_ENV} or <side venv>/"
                   "parameters)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    params = args.parameters or T.parameters_root(download=True)
    if params is None:
        print(f"pypownet's parameter folders were not found: pass --parameters or set "
              f"{T.PARAMETERS_ENV}", file=sys.stderr)
        return 2
    failed = 0
    envs: dict[str, object] = {}
    for path in args.traces:
        trace = T.read_trace(path)
        env = envs.get(trace.folder) or make_env(trace, params, args.backend)
        envs[trace.folder] = env
        rep = replay(trace, params, args.backend, extra=args.all, stop_at_first=not args.all,
                     verbose=args.verbose, env=env)
        print(rep.summary())
        failed += not rep.ok
    print(f"{len(args.traces) - failed} of {len(args.traces)} traces agree with pypownet")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
