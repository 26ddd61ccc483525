"""Environment speed: steps/s and reset() time, side by side with the alternatives.

Measures, in one run on the same machine:

* gym_powergrid, numba backend: do-nothing and random-legal-action policies on case14 and
  case118, AC and DC;
* gym_powergrid, pandapower backend (the oracle): the same, fewer steps (it costs ~50 ms/step);
* Grid2Op + lightsim2grid on its bundled ``l2rpn_case14_sandbox`` test env, when installed;
* ``reset()`` time of each.

* with ``--big-grids DIR``: do-nothing on case300 and case1354pegase, AC and DC, from the
  parameter folders ``DIR/case300`` and ``DIR/case1354pegase`` (written there by
  ``gym-powergrid new-env`` when missing: one week of chronics, enough for the speed), with the
  number of game overs.

Prints a table and the ratios against Grid2Op + lightsim2grid; ``--json PATH`` writes a flat
JSON object of named numbers (documented in benchmarks/README.md).

    python benchmarks/bench_env.py            # full run (~2 minutes)
    python benchmarks/bench_env.py --quick    # fewer steps
    python benchmarks/bench_env.py --quick --no-pandapower --big-grids big
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np


def legal_random_action(env, rng) -> np.ndarray:
    """A random legal unitary action: a line switch or a node switch, or nothing."""
    u = env.unwrapped
    a = u.action_helper.do_nothing()
    r = rng.random()
    st = u.state
    if r < 0.1:
        line = int(rng.integers(u.grid.n_line))
        if st.line_cooldown[line] == 0 and (st.line_status[line] or st.line_unavailable[line] == 0):
            a[u.action_helper.offset_status + line] = 1
    elif r < 0.2:
        pos = int(rng.integers(u.action_helper.offset_status))
        if st.sub_cooldown[u.action_helper.node_switch_sub[pos]] == 0:
            a[pos] = 1
    return a


BIG_GRIDS = ("case300", "case1354pegase")


def big_grid_folder(root: str, case: str, year: bool = False) -> str:
    """``root/case``, generated when missing (one week of chronics, or the documented year)."""
    from pathlib import Path

    folder = Path(root) / case
    if not (folder / "level0").is_dir():
        from gym_powergrid.new_env import main as new_env

        args = [case, "--case", case, "--out", str(root), "--seed", "1"]
        args += [] if year else ["--n-chronics", "1", "--days", "7"]
        print(f"writing {folder} (gym-powergrid new-env {' '.join(args)})")
        if new_env([*args, "-q"]):
            raise SystemExit(f"could not write {folder}")
    return str(folder)


def do_nothing_survival(spec: str, mode: str) -> dict:
    """Every chronic of ``spec`` played once with the all-zero action, hard game over.

    Returns the number of chronics, of game overs, of steps played and in the chronics, the
    game-over reasons, and the steps per second of the whole run (resets included).
    """
    from collections import Counter

    from gym_powergrid.runner import build_env

    env = build_env(spec, loadflow_mode=mode.upper(), game_over_mode="hard")
    u = env.unwrapped
    dn = u.action_helper.do_nothing()
    reasons: Counter = Counter()
    played = total = 0
    t0 = time.perf_counter()
    for k in range(len(u.chronics)):
        env.reset(seed=0, options={"chronic": k})
        total += u.chronics[k].n_steps - 1  # the steps after the first one
        while True:
            _, _, term, trunc, info = env.step(dn)
            played += 1
            if term:
                reasons[info["game_over_reason"]] += 1
            if term or trunc:
                break
    dt = time.perf_counter() - t0
    env.close()
    return {"chronics": len(u.chronics), "game_overs": sum(reasons.values()),
            "steps": played, "steps_total": total, "reasons": dict(reasons),
            "steps_per_s": played / dt}


def survival_rows(root: str, results: dict) -> None:
    """Do-nothing survival of the big grids (year folders) and of the shipped case118."""
    print("do-nothing survival, every chronic, hard game over:")
    specs = [(case, big_grid_folder(root, case, year=True)) for case in BIG_GRIDS]
    for case, spec in [*specs, ("case118 (shipped level0)", "PowerGrid-case118-v0")]:
        for mode in ("ac", "dc"):
            r = do_nothing_survival(spec, mode)
            key = f"survival_{case.split()[0]}_{mode}"
            for name in ("chronics", "game_overs", "steps", "steps_total", "steps_per_s"):
                results[f"{key}_{name}"] = float(r[name])
            print(f"  {case:26s} {mode.upper()}: {r['game_overs']} / {r['chronics']} chronics "
                  f"end in a game over, {r['steps']} / {r['steps_total']} steps played "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(r['reasons'].items())) or '-'}; "
                  f"{r['steps_per_s']:.0f} steps/s)")


def bench_gym_powergrid(env_id: str, backend: str, policy: str, n_steps: int, seed: int = 0,
                        **kwargs):
    from gym_powergrid.runner import build_env

    env = build_env(env_id, backend=backend, **kwargs)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    dn = env.unwrapped.action_helper.do_nothing()
    for _ in range(3):  # warm-up (numba caches are loaded on first use)
        env.step(dn)
    env.reset(seed=seed)
    n = 0
    resets = 0
    t0 = time.perf_counter()
    while n < n_steps:
        a = dn if policy == "do-nothing" else legal_random_action(env, rng)
        _, _, term, trunc, _ = env.step(a)
        n += 1
        resets += int(term)  # game overs
        if term or trunc:
            env.reset()
    dt = time.perf_counter() - t0
    reset_times = []
    for i in range(20 if backend == "numba" else 3):
        t = time.perf_counter()
        env.reset(seed=i)
        reset_times.append(time.perf_counter() - t)
    env.close()
    return n / dt, float(np.median(reset_times)) * 1e3, resets


def bench_big_grid(folder: str, mode: str, n_steps: int, seed: int = 0) -> dict:
    """Do-nothing on a big-grid folder (soft game over), with the game-over steps timed apart.

    A step that ends in a game over usually holds an AC power flow that does not converge
    (or an island cut off from the slack); on these grids Newton stops after a few
    iterations without progress and never falls back to a dense LU (which cost 0.4-3 s per
    step on case1354pegase), so such steps cost about as much as the others.
    Returns the steps/s of the whole run (resets included), the steps/s of the other steps,
    the number of game overs, the seconds spent in game-over steps and the median reset time.
    """
    from gym_powergrid.runner import build_env

    env = build_env(folder, backend="numba", loadflow_mode=mode.upper(), game_over_mode="soft")
    env.reset(seed=seed)
    dn = env.unwrapped.action_helper.do_nothing()
    for _ in range(3):  # warm-up (numba caches are loaded on first use)
        env.step(dn)
    env.reset(seed=seed)
    played = over = reset_s = 0.0
    n_over = 0
    t0 = time.perf_counter()
    for _ in range(n_steps):
        t = time.perf_counter()
        _, _, term, trunc, _ = env.step(dn)
        dt = time.perf_counter() - t
        if term:
            n_over += 1
            over += dt
        else:
            played += dt
        if term or trunc:
            t = time.perf_counter()
            env.reset()
            reset_s += time.perf_counter() - t
    total = time.perf_counter() - t0
    reset_times = []
    for i in range(5):
        t = time.perf_counter()
        env.reset(seed=i)
        reset_times.append(time.perf_counter() - t)
    env.close()
    return {"steps_per_s": n_steps / total, "steps_per_s_no_game_over": (n_steps - n_over) / played,
            "game_overs": float(n_over), "game_over_s": over, "resets_s": reset_s,
            "reset_ms": float(np.median(reset_times)) * 1e3}


def bench_grid2op(policy: str, n_steps: int, seed: int = 0, name: str = "l2rpn_case14_sandbox"):
    try:
        import grid2op
        from lightsim2grid import LightSimBackend
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = grid2op.make(name, test=True, backend=LightSimBackend())
    env.seed(seed)
    env.reset()
    dn = env.action_space()
    rng = np.random.default_rng(seed)
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while n < n_steps:
        if policy == "do-nothing" or rng.random() > 0.1:
            act = dn
        else:
            line = int(rng.integers(env.n_line))
            act = env.action_space({"change_line_status": [line]})
        _, _, done, _ = env.step(act)
        n += 1
        if done:
            env.reset()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    resets = []
    for _ in range(10):
        t = time.perf_counter()
        env.reset()
        resets.append(time.perf_counter() - t)
    env.close()
    return n / dt, float(np.median(resets)) * 1e3, 1e6 * dc / n


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps")
    p.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    p.add_argument("--no-pandapower", action="store_true", help="skip the pandapower backend")
    p.add_argument("--big-grids", metavar="DIR", default=None,
                   help="also case300 and case1354pegase (parameter folders in DIR, written "
                        "when missing)")
    p.add_argument("--survival", action="store_true",
                   help="with --big-grids: only play every chronic of DIR/case300, "
                        "DIR/case1354pegase (a year written when missing) and of the shipped "
                        "case118 with do-nothing, hard game over, AC and DC")
    args = p.parse_args(argv)
    if args.survival:
        if not args.big_grids:
            p.error("--survival needs --big-grids DIR")
        results: dict[str, float] = {}
        survival_rows(args.big_grids, results)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1, sort_keys=True)
        return results
    n = 500 if args.quick else 3000
    n_pp = 20 if args.quick else 100
    results: dict[str, float] = {}
    rows = []
    for case in ("case14", "case118"):
        for mode in ("ac", "dc"):
            env_id = f"PowerGrid-{case}-v0" if mode == "ac" else f"PowerGrid-{case}-dc-v0"
            for policy in ("do-nothing", "random"):
                backends = ["numba"] + ([] if args.no_pandapower else ["pandapower"])
                for backend in backends:
                    if backend == "pandapower" and policy == "random":
                        continue
                    steps = n if backend == "numba" else n_pp
                    sps, reset_ms, _ = bench_gym_powergrid(env_id, backend, policy, steps)
                    key = f"{case}_{mode}_{policy.replace('-', '_')}_{backend}"
                    results[f"{key}_steps_per_s"] = sps
                    results[f"{key}_reset_ms"] = reset_ms
                    rows.append((f"gym_powergrid {backend}", case, mode.upper(), policy, sps,
                                 reset_ms))
    for case in BIG_GRIDS if args.big_grids else ():
        folder = big_grid_folder(args.big_grids, case)
        for mode in ("ac", "dc"):
            r = bench_big_grid(folder, mode, n)
            key = f"{case}_{mode}_do_nothing_numba"
            for name, value in r.items():
                results[f"{key}_{name}"] = value
            rows.append(("gym_powergrid numba", case, mode.upper(), "do-nothing",
                         r["steps_per_s"], r["reset_ms"]))
            print(f"{case} {mode.upper()} do-nothing: {r['game_overs']:.0f} game over(s) in {n} "
                  f"steps, {r['game_over_s']:.2f} s in game-over steps, {r['resets_s']:.2f} s in "
                  f"resets; {r['steps_per_s_no_game_over']:.0f} steps/s without them")
    for policy in ("do-nothing", "random"):
        g = bench_grid2op(policy, n_pp * 5 if args.quick else 1000)
        if g is None:
            rows.append(("grid2op+lightsim2grid", "case14", "AC", policy, float("nan"),
                         float("nan")))
            continue
        key = f"grid2op_lightsim_case14_{policy.replace('-', '_')}"
        results[f"{key}_steps_per_s"], results[f"{key}_reset_ms"] = g[:2]
        results[f"{key}_cpu_us_per_step"] = g[2]
        rows.append(("grid2op+lightsim2grid", "case14", "AC", policy, g[0], g[1]))
    print(f"{'system':28s} {'case':8s} {'mode':4s} {'policy':11s} {'steps/s':>10s} "
          f"{'reset ms':>9s}")
    for r in rows:
        print(f"{r[0]:28s} {r[1]:8s} {r[2]:4s} {r[3]:11s} {r[4]:10.1f} {r[5]:9.3f}")
    ref = results.get("grid2op_lightsim_case14_do_nothing_steps_per_s")
    if ref:
        for case in ("case14", "case118"):
            k = f"{case}_ac_do_nothing_numba_steps_per_s"
            ratio = results[k] / ref
            results[f"ratio_{case}_ac_do_nothing_vs_grid2op_lightsim"] = ratio
            print(f"ratio {case} AC do-nothing numba / Grid2Op+lightsim2grid case14: {ratio:.1f}x")
        rr = results["grid2op_lightsim_case14_do_nothing_reset_ms"]
        ratio = rr / results["case14_ac_do_nothing_numba_reset_ms"]
        results["ratio_case14_reset_grid2op_over_numba"] = ratio
        print(f"reset(): Grid2Op+lightsim2grid {rr:.1f} ms, gym_powergrid "
              f"{results['case14_ac_do_nothing_numba_reset_ms']:.2f} ms ({ratio:.0f}x faster)")
    if "case14_ac_do_nothing_pandapower_steps_per_s" in results:
        r = (results["case14_ac_do_nothing_numba_steps_per_s"]
             / results["case14_ac_do_nothing_pandapower_steps_per_s"])
        results["ratio_case14_ac_numba_vs_pandapower_backend"] = r
        print(f"ratio case14 AC do-nothing numba / pandapower backend: {r:.0f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    return results


if __name__ == "__main__":
    main()
