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
    python benchmarks/bench_startup.py --compile-profile   # where the cold compile goes

``--compile-profile`` runs one cold child that records numba's compiler events
(``numba:compile`` per dispatcher, ``numba:run_pass`` per compiler pass) with the process CPU
time, for ``gym.make`` + ``reset`` + ``step`` of the AC env and then what the DC env adds in
the same process: per function the number of compiled signatures, the inclusive CPU time and
the exclusive time in its own passes (``native_lowering`` is numba's lowering to LLVM IR plus
LLVM's optimisation and machine-code generation of the function *and of every callee linked
into it*), and the totals per pass.
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

PROFILE_CHILD = textwrap.dedent("""
    import collections, time
    from numba.core import event as ev

    ENV_ID, DC_ID = "__ENV_ID__", "__DC_ID__"

    stack, passes, disp = [], collections.Counter(), {}
    incl, count = collections.Counter(), collections.Counter()

    class Recorder(ev.Listener):
        def on_start(self, event):
            stack.append([time.process_time(), 0.0])

        def on_end(self, event):
            t0, child = stack.pop()
            total = time.process_time() - t0
            if stack:
                stack[-1][1] += total
            d = event.data or {}
            if event.kind == "numba:run_pass":
                passes[(d["qualname"], d["name"].split(" [")[0])] += total - child
            else:
                q = d["dispatcher"].py_func.__qualname__
                incl[q] += total
                count[q] += 1
                disp[q] = d["dispatcher"]

    rec = Recorder()
    ev.register("numba:run_pass", rec)
    ev.register("numba:compile", rec)
    import gymnasium as gym
    import gym_powergrid  # noqa: F401

    def play(env_id):
        c = time.process_time()
        env = gym.make(env_id)
        env.reset(seed=0)
        env.step(env.unwrapped.action_helper.do_nothing())
        return time.process_time() - c

    def report(title, seconds):
        by_fn = collections.Counter()
        by_pass = collections.Counter()
        for (q, name), t in passes.items():
            by_fn[q] += t
            by_pass[name] += t
        print(f"== {title}: {seconds:.1f} s CPU (make + reset + step), "
              f"{sum(count.values())} compilations of {len(count)} functions")
        print(f"{'function':36s} {'sigs':>4s} {'compiled':>8s} {'incl s':>7s} {'own s':>6s}")
        for q, t in incl.most_common(25):
            print(f"{q[:36]:36s} {len(disp[q].signatures):4d} {count[q]:8d} {t:7.2f} "
                  f"{by_fn[q]:6.2f}")
        print("per pass (CPU s): " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                 by_pass.most_common(6)))
        passes.clear(); incl.clear(); count.clear()

    report(ENV_ID, play(ENV_ID))
    report(f"then {DC_ID} in the same process", play(DC_ID))
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


def compile_profile(case: str) -> dict:
    """Print where a cold compile goes (one child process, empty caches)."""
    code = (PROFILE_CHILD.replace("__ENV_ID__", f"PowerGrid-{case}-v0")
            .replace("__DC_ID__", f"PowerGrid-{case}-dc-v0"))
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"),
                   GYM_POWERGRID_CACHE_DIR=os.path.join(tmp, "gym_powergrid"))
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return {"returncode": proc.returncode}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="case14", choices=sorted(GRID2OP_ENVS))
    p.add_argument("--mode", default="ac", choices=("ac", "dc"))
    p.add_argument("--repeat", type=int, default=3, help="warm runs (median)")
    p.add_argument("--no-cold", action="store_true", help="skip the cold run (minutes)")
    p.add_argument("--no-grid2op", action="store_true", help="skip Grid2Op")
    p.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    p.add_argument("--compile-profile", action="store_true",
                   help="only profile a cold compile per function and pass (see above)")
    args = p.parse_args(argv)
    env_id = f"PowerGrid-{args.case}{'-dc' if args.mode == 'dc' else ''}-v0"
    if args.compile_profile:
        return compile_profile(args.case)
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
