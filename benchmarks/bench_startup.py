"""Start-up time: import + ``gym.make`` + ``reset`` + first ``step`` in a fresh process.

Measures, in one run on the same machine, each in a new Python process (wall time from the
process start, interpreter start-up included):

* **cold**: gym_powergrid with an empty numba cache (``NUMBA_CACHE_DIR``) and an empty grid
  cache (``GYM_POWERGRID_CACHE_DIR``), as the first run after installing: every kernel compiles
  and the grid is converted with pandapower;
* **warm**: the same again, caches filled (median of ``--repeat`` runs);
* Grid2Op + lightsim2grid: ``grid2op.make`` + ``reset`` + first ``step`` of its bundled
  ``l2rpn_case14_sandbox`` (case14) or ``rte_case118_example`` (case118), when installed.

    python benchmarks/bench_startup.py                 # case14, cold + warm (~2 minutes)
    python benchmarks/bench_startup.py --no-cold       # warm only
    python benchmarks/bench_startup.py --case case118 --json startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

GYM_CHILD = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import gymnasium as gym
    import gym_powergrid  # noqa: F401 - registers the ids
    t1 = time.perf_counter()
    env = gym.make({env_id!r})
    t2 = time.perf_counter()
    env.reset(seed=0)
    t3 = time.perf_counter()
    env.step(env.unwrapped.action_helper.do_nothing())
    t4 = time.perf_counter()
    print("RESULT", t1 - t0, t2 - t1, t3 - t2, t4 - t3, int("pandapower" in sys.modules))
""")

GRID2OP_CHILD = textwrap.dedent("""
    import sys, time, warnings
    t0 = time.perf_counter()
    import grid2op
    from lightsim2grid import LightSimBackend
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = grid2op.make({name!r}, test=True, backend=LightSimBackend())
    t2 = time.perf_counter()
    env.reset()
    t3 = time.perf_counter()
    env.step(env.action_space())
    t4 = time.perf_counter()
    print("RESULT", t1 - t0, t2 - t1, t3 - t2, t4 - t3, int("pandapower" in sys.modules))
""")

GRID2OP_ENVS = {"case14": "l2rpn_case14_sandbox", "case118": "rte_case118_example"}
PARTS = ("import_s", "make_s", "reset_s", "step_s")


def run_child(code: str, env: dict) -> dict | None:
    """Run ``code`` in a fresh interpreter; its timings and the total wall time."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.stderr.write(proc.stderr[-2000:])
        return None
    values = [float(x) for x in line.split()[1:]]
    out = dict(zip(PARTS, values[:4]))
    out["pandapower_imported"] = bool(values[4])
    out["wall_s"] = wall
    out["stderr"] = proc.stderr.strip()
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="case14", choices=sorted(GRID2OP_ENVS))
    p.add_argument("--mode", default="ac", choices=("ac", "dc"))
    p.add_argument("--repeat", type=int, default=3, help="warm runs (median)")
    p.add_argument("--no-cold", action="store_true", help="skip the cold run (minutes)")
    p.add_argument("--no-grid2op", action="store_true", help="skip Grid2Op")
    p.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = p.parse_args(argv)
    env_id = f"PowerGrid-{args.case}{'-dc' if args.mode == 'dc' else ''}-v0"
    code = GYM_CHILD.format(env_id=env_id)
    results: dict = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if not args.no_cold:
            env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")
            env["GYM_POWERGRID_CACHE_DIR"] = os.path.join(tmp, "gym_powergrid")
            cold = run_child(code, env)
            if cold is not None:
                rows.append(("gym_powergrid cold", cold))
                first = cold["stderr"].splitlines()[:1]
                print(f"cold run, first stderr line: {first[0] if first else '(none)'}")
        warm = [r for r in (run_child(code, env) for _ in range(max(1, args.repeat))) if r]
        if warm:
            med = {k: statistics.median(r[k] for r in warm) for k in (*PARTS, "wall_s")}
            med["pandapower_imported"] = any(r["pandapower_imported"] for r in warm)
            rows.append(("gym_powergrid warm", med))
    if not args.no_grid2op:
        g2o = [r for r in (run_child(GRID2OP_CHILD.format(name=GRID2OP_ENVS[args.case]),
                                     dict(os.environ)) for _ in range(max(1, args.repeat))) if r]
        if g2o:
            med = {k: statistics.median(r[k] for r in g2o) for k in (*PARTS, "wall_s")}
            med["pandapower_imported"] = any(r["pandapower_imported"] for r in g2o)
            rows.append((f"grid2op+lightsim2grid {GRID2OP_ENVS[args.case]}", med))
    print(f"{env_id}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'system':44s} {'import':>7s} {'make':>7s} {'reset':>7s} {'step':>7s} {'total':>7s}"
          f" {'wall':>7s}  pandapower")
    for name, r in rows:
        total = sum(r[k] for k in PARTS)
        pp = "imported" if r["pandapower_imported"] else "-"
        print(f"{name:44s} " + " ".join(f"{r[k]:7.2f}" for k in PARTS)
              + f" {total:7.2f} {r['wall_s']:7.2f}  {pp}")
        key = name.replace("+", "_").replace(" ", "_")
        for k in (*PARTS, "wall_s"):
            results[f"{key}_{k}"] = r[k]
        results[f"{key}_total_s"] = total
    results["load_average_1min"] = os.getloadavg()[0]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    return results


if __name__ == "__main__":
    main()
