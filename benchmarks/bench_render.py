"""Frames per second of GridRenderer in rgb_array mode (case14 and case118).

Observations come from a pandapower power flow (``tests/render/_fake_obs.py``) with an hourly
load profile, so each frame has new numbers to draw (text is not all cached).

Usage::

    python benchmarks/bench_render.py [--frames 200] [--cases case14 case118] [--json out.json]

Prints a table; ``--json`` writes a flat object such as ``{"case14_fps": ..., ...}``:
``<case>_fps`` (wall clock), ``<case>_cpu_fps`` (process CPU time, less sensitive to other
load on the machine), ``<case>_ms_per_frame`` and ``<case>_setup_s`` (constructor: layout and
geometry; the static background is drawn by the first frame, included in ``setup``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
ROOT = Path(__file__).resolve().parents[1]


def _fake_obs_module():
    path = ROOT / "tests" / "render" / "_fake_obs.py"
    spec = importlib.util.spec_from_file_location("_fake_obs", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_fake_obs"] = mod
    spec.loader.exec_module(mod)
    return mod


def bench_case(name: str, n_frames: int, repeats: int = 3) -> dict[str, float]:
    from gym_powergrid.render import GridRenderer

    fo = _fake_obs_module()
    grid, obs = fo.fake_observation(name)
    seq = fo.daily_sequence(obs, n_frames)
    info = {"chronic_name": "bench", "timestep": 0}
    t0 = time.perf_counter()
    renderer = GridRenderer(grid, "rgb_array")
    renderer.render(seq[0], info)
    setup = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for k, o in enumerate(seq):
            info["timestep"] = k
            frame = renderer.render(o, info, cumulative_reward=-k * 0.5,
                                    reward_components={"usage": 1.0, "cut": -0.5},
                                    last_action_text=["do nothing"])
        wall.append((time.perf_counter() - w0) / len(seq))
        cpu.append((time.process_time() - c0) / len(seq))
    assert frame.shape == (renderer.height, renderer.width, 3)
    renderer.close()
    w, c = statistics.median(wall), statistics.median(cpu)
    return {
        f"{name}_fps": 1.0 / w,
        f"{name}_cpu_fps": 1.0 / c,
        f"{name}_ms_per_frame": w * 1e3,
        f"{name}_setup_s": setup,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (median is kept)")
    parser.add_argument("--cases", nargs="+", default=["case14", "case118"])
    parser.add_argument("--json", type=Path, default=None, help="write results to this file")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    print(f"{'case':<10} {'fps':>8} {'cpu fps':>8} {'ms/frame':>9} {'setup s':>8}")
    for name in args.cases:
        r = bench_case(name, args.frames, args.repeats)
        results.update(r)
        print(f"{name:<10} {r[f'{name}_fps']:>8.1f} {r[f'{name}_cpu_fps']:>8.1f} "
              f"{r[f'{name}_ms_per_frame']:>9.2f} {r[f'{name}_setup_s']:>8.2f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
