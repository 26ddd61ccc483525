"""Record the README's GIF and screenshot: a greedy agent operating PowerGrid-case14-v0.

    python benchmarks/record_demo.py --steps 36 --out docs/img/greedy_case14.gif \
        --png docs/img/render_case14.png

``--png`` also saves the last frame at 1280 x 720 (the README's screenshot): what
``env.render()`` returns, with the env's own reward components and history.

Frames come from ``render_mode="rgb_array"`` (headless: SDL_VIDEODRIVER=dummy is set here) and
are written with :func:`gym_powergrid.render.record.record_gif` (Pillow).
"""

from __future__ import annotations

import argparse
import os


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="PowerGrid-case14-v0")
    p.add_argument("--agent", default="greedy")
    p.add_argument("--chronic", default="03_mar")
    p.add_argument("--start-step", type=int, default=300)
    p.add_argument("--steps", type=int, default=48)
    p.add_argument("--fps", type=float, default=4.0)
    p.add_argument("--out", default="docs/img/greedy_case14.gif")
    p.add_argument("--png", default=None, help="also save the last frame (1280x720) here")
    args = p.parse_args(argv)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

    import gymnasium as gym

    import gym_powergrid  # noqa: F401
    from gym_powergrid.agents import make_agent
    from gym_powergrid.render.record import record_gif

    env = gym.make(args.env, render_mode="rgb_array")
    obs, _ = env.reset(seed=0, options={"chronic": args.chronic, "start_step": args.start_step})
    from gym_powergrid.render import GridRenderer

    env.unwrapped._renderer = GridRenderer(env.unwrapped.grid, render_mode="rgb_array",
                                           width=960, height=540)
    agent = make_agent(args.agent, env.unwrapped, seed=0)
    frames = [env.render()]
    for _ in range(args.steps):
        obs, _, term, trunc, _ = env.step(agent.act(obs))
        frames.append(env.render())
        if term or trunc:
            break
    path = record_gif(frames, args.out, fps=args.fps)
    print(f"wrote {path} ({len(frames)} frames)")
    if args.png:
        from PIL import Image

        replay = gym.make(args.env, render_mode="rgb_array")
        obs, _ = replay.reset(seed=0, options={"chronic": args.chronic,
                                               "start_step": args.start_step})
        agent = make_agent(args.agent, replay.unwrapped, seed=0)
        for _ in range(len(frames) - 1):
            obs, _, term, trunc, _ = replay.step(agent.act(obs))
            if term or trunc:
                break
        Image.fromarray(replay.render()).save(args.png)
        replay.close()
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
