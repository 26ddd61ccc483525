"""Multi-step look-ahead: candidates/s of ``simulate(horizon=h)`` and of the batched horizon
look-ahead, side by side with Grid2Op's ``obs.simulate(time_step=h)``; greedy h=1 vs h=3 survival.

Speed (one process, measured in the same run): for each horizon ``h`` in 1, 3, 6, the candidate
set of do-nothing plus every legal single line switch (and, on case14, the greedy agent's set
with busbar splits) is scored

* one candidate at a time with ``env.simulate(action, mode, horizon=h)``, DC and AC (a Python
  loop of ``h`` one-step transitions per candidate), and
* all at once by :class:`~gym_powergrid.agents.lookahead.BatchHorizonLookahead` (one numba call,
  ``game_step`` composed ``h`` times per candidate); ``h = 1`` also by the one-step
  :class:`~gym_powergrid.agents.lookahead.BatchLookahead`;
* with Grid2Op + lightsim2grid when installed: ``obs.simulate(action, time_step=h)`` per
  candidate (one AC power flow on the forecast of ``t + h``, not a roll-out), and a roll-out in
  ``obs.get_forecast_env()`` (reset, the candidate, then do-nothing until ``t + h``). The case14
  envs bundled with grid2op forecast one step only (``time_step > 1`` raises
  ``NoForecastAvailable``), so the multi-step column uses the bundled ``l2rpn_idf_2023``
  (118 substations, 186 lines), next to our case118 (118 substations, 186 branches).

Survival: the greedy agent with ``horizon=1`` and ``horizon=3`` plays hard-level chronics of
``PowerGrid-case14-hard-v0`` from their first step until the first game over or the step budget.

    python benchmarks/bench_lookahead.py --quick --json lookahead.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

HORIZONS = (1, 3, 6)


def _rate(fn, n_per_call: int, seconds: float) -> float:
    """Candidates per second of ``fn`` (called repeatedly for about ``seconds``)."""
    fn()  # warm-up (compilation, caches)
    n = 0
    t0 = time.perf_counter()
    while True:
        fn()
        n += n_per_call
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def _env(env_id: str, steps: int = 5):
    import gymnasium as gym

    import gym_powergrid  # noqa: F401 - registers the ids

    env = gym.make(env_id).unwrapped
    env.reset(seed=0, options={"start_step": 0})
    for _ in range(steps):
        env.step(env.action_helper.do_nothing())
    return env


def bench_ours(env_id: str, seconds: float, substations: bool) -> dict:
    from gym_powergrid.agents.lookahead import BatchHorizonLookahead, BatchLookahead
    from gym_powergrid.agents.search import CandidateSet

    env = _env(env_id)
    out = {}
    sets = [("lines", False)] + ([("greedy", True)] if substations else [])
    for set_name, subs in sets:
        cs = CandidateSet(env, lines=True, substations=subs)
        cands = cs.actions[cs.mask(env.state, env.limits)]
        n = len(cands)
        out[f"{set_name}_n_candidates"] = n
        for h in HORIZONS:
            if set_name == "lines":
                for mode, suffix in (("DC", ""), ("AC", "_ac")):
                    def single(h=h, mode=mode, cands=cands):
                        for c in cands:
                            env.simulate(c, mode, horizon=h)
                    out[f"{set_name}_h{h}_simulate{suffix}"] = _rate(single, n, seconds)
            la = BatchHorizonLookahead(env, horizon=h)
            out[f"{set_name}_h{h}_batch"] = _rate(lambda la=la, c=cands: la.evaluate(c), n,
                                                  seconds)
        one = BatchLookahead(env)
        out[f"{set_name}_h1_batch_one_step"] = _rate(lambda one=one, c=cands: one.evaluate(c), n,
                                                     seconds)
    env.close()
    return out


def bench_grid2op(name: str, seconds: float) -> dict | str:
    """Candidates/s of Grid2Op's look-ahead on a bundled env, or the reason it was skipped."""
    try:
        import grid2op
        from grid2op.Exceptions import NoForecastAvailable
        from lightsim2grid import LightSimBackend
    except ImportError as exc:
        return (f"grid2op / lightsim2grid not installed ({exc.name}): "
                "pip install grid2op lightsim2grid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = grid2op.make(name, test=True, backend=LightSimBackend())
        obs = env.reset(seed=0)
        for _ in range(5):
            obs, *_ = env.step(env.action_space())
        cands = [env.action_space()] + [env.action_space({"change_line_status": [k]})
                                        for k in range(env.n_line)]
        out: dict = {"n_candidates": len(cands)}
        for h in HORIZONS:
            try:
                obs.simulate(cands[0], time_step=h)
            except NoForecastAvailable as exc:
                out[f"h{h}_skipped"] = f"NoForecastAvailable: {exc}"[:200]
                continue

            def simulate(h=h):
                for a in cands:
                    obs.simulate(a, time_step=h)
            out[f"h{h}_simulate"] = _rate(simulate, len(cands), seconds)
            fenv = obs.get_forecast_env()

            def rollout(h=h, fenv=fenv):
                for a in cands:
                    fenv.reset()
                    done = fenv.step(a)[2]
                    for _ in range(h - 1):
                        if done:
                            break
                        done = fenv.step(fenv.action_space())[2]
            try:
                out[f"h{h}_forecast_env"] = _rate(rollout, len(cands), seconds)
            except Exception as exc:  # noqa: BLE001 - report, do not stop the benchmark
                out[f"h{h}_forecast_env_error"] = f"{type(exc).__name__}: {exc}"[:200]
        env.close()
    return out


def survival(env_id: str, chronics: list[str], budget: int, horizon: int,
             discount: float = 1.0, ac_check: int | None = None,
             search_above: float | None = None) -> dict:
    """Greedy with ``horizon`` (and ``ac_check``, ``search_above``, None: the agent's default)
    on each chronic from step 0: steps survived (first game over)."""
    import gymnasium as gym

    import gym_powergrid  # noqa: F401
    from gym_powergrid.agents.search import GreedySearch

    env = gym.make(env_id).unwrapped
    agent = GreedySearch(env, horizon=horizon, discount=discount, ac_check=ac_check,
                         search_above=search_above)
    survived, overs, seconds, n_steps = [], 0, 0.0, 0
    for name in chronics:
        obs, _ = env.reset(seed=0, options={"chronic": name, "start_step": 0})
        steps = 0
        while steps < budget:
            t0 = time.perf_counter()
            a = agent.act(obs)
            seconds += time.perf_counter() - t0
            obs, _, term, trunc, _ = env.step(a)
            steps += 1
            n_steps += 1
            if term:
                overs += 1
                break
            if trunc:
                break
        survived.append(steps)
    env.close()
    return {"survived": survived, "mean": float(np.mean(survived)), "game_overs": overs,
            "act_ms": 1e3 * seconds / max(n_steps, 1)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short timings, 3 chronics x 150 steps")
    p.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    p.add_argument("--no-grid2op", action="store_true", help="skip the Grid2Op columns")
    p.add_argument("--no-survival", action="store_true", help="skip the greedy survival runs")
    p.add_argument("--chronics", type=int, default=None,
                   help="hard-level chronics played (default 3 with --quick, else 12)")
    p.add_argument("--budget", type=int, default=None,
                   help="steps per chronic (default 150 with --quick, else the whole chronic)")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 3],
                   help="greedy horizons compared in the survival runs (default 1 3)")
    p.add_argument("--discount", type=float, default=1.0,
                   help="discount of the horizon score in the survival runs (default 1)")
    p.add_argument("--ac-check", type=int, default=None, metavar="K",
                   help="greedy's AC check in the survival runs (default: the agent's, 3; "
                        "0: plain DC greedy)")
    p.add_argument("--search-above", type=float, default=None, metavar="U",
                   help="greedy's danger gate in the survival runs (default: the agent's, 1.0; "
                        "0: search at every step)")
    p.add_argument("--no-speed", action="store_true", help="skip the candidates/s tables")
    args = p.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    seconds = 0.3 if args.quick else 2.0
    res: dict = {}
    rows = []
    cases = () if args.no_speed else (
        ("case14", "PowerGrid-case14-hard-v0", "l2rpn_case14_sandbox"),
        ("case118", "PowerGrid-case118-v0", "l2rpn_idf_2023"))
    for case, env_id, g2o in cases:
        ours = bench_ours(env_id, seconds, substations=case == "case14")
        res.update({f"{case}_{k}": v for k, v in ours.items()})
        theirs = "skipped (--no-grid2op)" if args.no_grid2op else bench_grid2op(g2o, seconds)
        if isinstance(theirs, str):
            res[f"{case}_grid2op_skipped"] = theirs
            theirs = {}
        else:
            res.update({f"{case}_grid2op_{g2o}_{k}": v for k, v in theirs.items()})
        for h in HORIZONS:
            rows.append((case, h, ours["lines_n_candidates"], ours[f"lines_h{h}_simulate"],
                         ours[f"lines_h{h}_simulate_ac"], ours[f"lines_h{h}_batch"],
                         theirs.get(f"h{h}_simulate", float("nan")),
                         theirs.get(f"h{h}_forecast_env", float("nan"))))
            ref = theirs.get(f"h{h}_simulate", float("nan"))
            if ref == ref:
                res[f"ratio_{case}_h{h}_batch_vs_grid2op_simulate"] = (
                    ours[f"lines_h{h}_batch"] / ref)
                res[f"ratio_{case}_h{h}_simulate_ac_vs_grid2op_simulate"] = (
                    ours[f"lines_h{h}_simulate_ac"] / ref)
    if rows:
        print("candidates/s, do-nothing + every single line switch (batched: DC; Grid2Op: AC)")
        print(f"{'case':8s} {'h':>2s} {'cands':>5s} {'simulate DC':>12s} {'simulate AC':>12s} "
              f"{'batched DC':>10s} {'g2o simulate':>13s} {'g2o fc-env':>11s}")
    for case, h, n, s, sa, b, gs, gf in rows:
        print(f"{case:8s} {h:2d} {n:5d} {s:12.0f} {sa:12.0f} {b:10.0f} {gs:13.0f} {gf:11.0f}")
    if "case14_greedy_n_candidates" in res:
        print(f"case14 greedy set ({res['case14_greedy_n_candidates']} candidates), batched: "
              + ", ".join(f"h={h} {res[f'case14_greedy_h{h}_batch']:.0f}/s" for h in HORIZONS)
              + f"; one-step kernel {res['case14_greedy_h1_batch_one_step']:.0f}/s")
    for k in sorted(res):
        if k.endswith("_skipped"):  # nan in the table
            print(f"{k}: {res[k]}")
    if not args.no_survival:
        import gymnasium as gym

        import gym_powergrid  # noqa: F401 - registers the ids

        n_ch = args.chronics or (3 if args.quick else 12)
        probe = gym.make("PowerGrid-case14-hard-v0").unwrapped
        names = list(probe.chronics.names[:n_ch])
        probe.close()
        budget = args.budget or (150 if args.quick else 10 ** 9)
        print(f"\ngreedy survival on PowerGrid-case14-hard-v0, {len(names)} chronics, "
              f"budget {min(budget, 10 ** 6)} steps, discount {args.discount}")
        for h in args.horizons:
            s = survival("PowerGrid-case14-hard-v0", names, budget, h, args.discount,
                         args.ac_check, args.search_above)
            res.update({f"greedy_h{h}_survival_mean": s["mean"],
                        f"greedy_h{h}_game_overs": s["game_overs"],
                        f"greedy_h{h}_act_ms": s["act_ms"]})
            print(f"horizon {h}: survived {s['survived']} (mean {s['mean']:.1f}), "
                  f"{s['game_overs']} game overs, {s['act_ms']:.1f} ms per action")
    res = {k: v for k, v in res.items() if not (isinstance(v, float) and v != v)}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1, sort_keys=True)
    return res


if __name__ == "__main__":
    main()
    sys.exit(0)
