"""Record pypownet 2.2.9's own trajectories as test data (tests/pypownet/traces/).

Run with the project's python, from the repository root::

    python tests/pypownet/record_traces.py                   # everything (~4-5 min)
    python tests/pypownet/record_traces.py --only default30  # names containing "default30"
    python tests/pypownet/record_traces.py --check           # record again, compare bytes

It builds (or reuses) a side venv with ``pip install "pypownet==2.2.9" "gym==0.17.3"
"numpy<2"`` (default ``~/.cache/gym_powergrid/pypownet-2.2.9``; ``--venv`` or
``$GYM_POWERGRID_PYPOWNET_VENV`` point at another one), then runs pypownet itself in that venv
(``_pypownet_driver.py``) over pypownet's own parameter folders as its wheel installs them
(``<venv>/parameters``): default14 every level0 chronic, default30 and default118 the first
chronic; scenarios ``do_nothing`` and ``scripted`` (node split, line off, reconnection refused
during the line's cooldown, line on again, node merge; see the driver); soft game over.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from . import _traces as T
except ImportError:  # run as a script: python tests/pypownet/record_traces.py
    import _traces as T

#: the driver's metadata kept in the committed trace (paths and python version left out)
KEPT_META = ("chronic_name", "plan", "n_steps", "chronic_n_timesteps", "versions", "scenario")


def chronic_names(parameters: Path, folder: str) -> list[str]:
    """pypownet's chronic order: the level's chronic folders sorted by name."""
    root = parameters / folder / T.LEVEL / "chronics"
    return sorted(d.name for d in root.iterdir() if d.is_dir())


def jobs(parameters: Path, only: str | None = None, scenarios=T.SCENARIOS):
    """(folder, chronic index, scenarios) to record; ``only`` filters on ``<folder>_<chronic>``."""
    out = []
    for folder, indices in T.FOLDERS.items():
        names = chronic_names(parameters, folder)
        for index in indices:
            if only and only not in f"{folder}_{names[index]}":
                continue
            out.append((folder, index, tuple(scenarios)))
    return out


def record_one(python: Path, parameters: Path, folder: str, index: int, scenarios,
               out_dir: Path, max_steps: int | None = None, tail: int = 40) -> list[Path]:
    """Run the driver for one chronic and write its trace files; returns their paths."""
    job = {"parameters": str(parameters / folder), "level": T.LEVEL, "chronic_index": index,
           "scenarios": list(scenarios), "tail": tail}
    if max_steps is not None:
        job["max_steps"] = int(max_steps)
    with tempfile.TemporaryDirectory(prefix="pypownet_traces_") as tmp:
        cmd = [str(python), str(T.DRIVER), json.dumps(job), tmp]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"pypownet driver failed for {folder} chronic #{index}:\n"
                               + "\n".join(out.stderr.strip().splitlines()[-20:]))
        written = []
        for scenario in scenarios:
            trace = T.read_trace(Path(tmp) / f"{scenario}.npz")
            raw = trace.meta
            texts = {str(k): t for k, t in enumerate(raw["flag_texts"]) if t}
            meta = {k: raw[k] for k in KEPT_META}
            meta.update({"format": 1, "folder": folder, "level": T.LEVEL,
                         "chronic_index": index, "game_over_mode": T.GAME_OVER_MODE,
                         "flag_texts": texts, "max_steps": max_steps,
                         "reward_names": list(T.PYPOWNET_REWARD_NAMES),
                         "flag_names": {str(k): v for k, v in T.FLAG_NAMES.items()}})
            path = out_dir / T.trace_name(folder, raw["chronic_name"], scenario)
            T.write_trace(path, trace.arrays, meta)
            written.append(path)
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--venv", help=f"side venv (default ${T.VENV_ENV} or {T.DEFAULT_VENV})")
    p.add_argument("--python", help="python used to create the side venv (default: the first "
                   "of python3.11 ... python3.8 on PATH)")
    p.add_argument("--out", type=Path, default=T.TRACES_DIR, help="output folder")
    p.add_argument("--only", help="record only names containing this (e.g. default14_a)")
    p.add_argument("--scenario", choices=T.SCENARIOS, action="append",
                   help="scenario(s) to record (default: both)")
    p.add_argument("--max-steps", type=int, help="stop each run after this many steps")
    p.add_argument("--check", action="store_true",
                   help="record into a temporary folder and compare bytes with --out")
    args = p.parse_args(argv)

    venv = T.side_venv(args.venv)
    t0 = time.perf_counter()
    try:
        T.build_venv(venv, args.python)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    parameters = venv / "parameters"
    if not (parameters / "default14").is_dir():
        print(f"{parameters} holds no default14: the side venv's pypownet wheel should have "
              f"installed its parameter folders there; rebuild it (delete {venv})",
              file=sys.stderr)
        return 1
    print(f"side venv {venv} ready ({time.perf_counter() - t0:.1f} s)")
    todo = jobs(parameters, args.only, tuple(args.scenario or T.SCENARIOS))
    if not todo:
        print(f"nothing matches --only {args.only!r}", file=sys.stderr)
        return 1
    out_dir = Path(tempfile.mkdtemp(prefix="pypownet_check_")) if args.check else args.out
    total = time.perf_counter()
    written = []
    for folder, index, scenarios in todo:
        t = time.perf_counter()
        paths = record_one(T.venv_python(venv), parameters, folder, index, scenarios, out_dir,
                           args.max_steps)
        written += paths
        sizes = ", ".join(f"{q.name} {q.stat().st_size / 1e3:.0f} kB" for q in paths)
        print(f"{folder} #{index}: {time.perf_counter() - t:.1f} s  {sizes}")
    print(f"recorded {len(written)} traces in {time.perf_counter() - total:.1f} s; total "
          f"{sum(q.stat().st_size for q in written) / 1e6:.2f} MB in {out_dir}")
    if args.check:
        bad = [q.name for q in written
               if not (args.out / q.name).is_file()
               or (args.out / q.name).read_bytes() != q.read_bytes()]
        if bad:
            print(f"DIFFERENT from {args.out}: {', '.join(bad)} (new files kept in {out_dir})",
                  file=sys.stderr)
            return 1
        print(f"identical to {args.out}: {len(written)} files")
        shutil.rmtree(out_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
