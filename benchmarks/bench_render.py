"""Frames per second of GridRenderer in rgb_array mode (case14 and case118).

Observations come from a pandapower power flow (``tests/render/_fake_obs.py``) with an hourly
load profile and a scripted story (overflow, line break, maintenance, busbar split, load cut),
so each frame has new numbers and states to draw.

Usage::

    python benchmarks/bench_render.py [--frames 200] [--cases case14 case118] [--json out.json]
                                      [--png-dir docs/img] [--gif docs/img/render_case14.gif]

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


def _reward(k: int, o: dict, info: dict) -> tuple[float, dict[str, float]]:
    usage = float(sum(o["ampere_flows"] / o["thermal_limits"]))
    comps = {"line usage": -0.1 * usage, "cut loads": -5.0 * float(sum(o["are_loads_cut"])),
             "distance to reference": -float(sum(o["loads_nodes"]) + sum(o["lines_or_nodes"]))}
    return -0.8 * k, comps


def bench_case(name: str, n_frames: int, repeats: int = 3, png_dir: Path | None = None,
               gif: Path | None = None) -> dict[str, float]:
    from gym_powergrid.render import GridRenderer

    fo = _fake_obs_module()
    grid, obs = fo.fake_observation(name)
    story = fo.scenario(grid, obs, n_frames)
    t0 = time.perf_counter()
    renderer = GridRenderer(grid, "rgb_array")
    renderer.render(*story[0][:2])
    setup = time.perf_counter() - t0
    wall, cpu = [], []
    frames = []
    for rep in range(repeats):
        renderer.reset_history()
        w0, c0 = time.perf_counter(), time.process_time()
        for k, (o, info, text) in enumerate(story):
            cum, comps = _reward(k, o, info)
            frame = renderer.render(o, info, cumulative_reward=cum, reward_components=comps,
                                    last_action_text=text)
            if rep == 0 and gif is not None and k < 48:
                frames.append(frame)
            if rep == 0 and png_dir is not None and k == min(n_frames - 1, 27):
                png_dir.mkdir(parents=True, exist_ok=True)
                renderer.pg.image.save(renderer._canvas, str(png_dir / f"render_{name}.png"))
        wall.append((time.perf_counter() - w0) / len(story))
        cpu.append((time.process_time() - c0) / len(story))
    assert frame.shape == (renderer.height, renderer.width, 3)
    renderer.close()
    if gif is not None:
        from gym_powergrid.render import record_gif

        record_gif(frames, gif, fps=4)
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
    parser.add_argument("--png-dir", type=Path, default=None,
                        help="save one frame per case as render_<case>.png in this folder")
    parser.add_argument("--gif", type=Path, default=None,
                        help="save the first 48 frames of the first case as a GIF")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    print(f"{'case':<10} {'fps':>8} {'cpu fps':>8} {'ms/frame':>9} {'setup s':>8}")
    for k, name in enumerate(args.cases):
        r = bench_case(name, args.frames, args.repeats, args.png_dir,
                       args.gif if k == 0 else None)
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
