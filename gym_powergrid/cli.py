"""The ``gym-powergrid`` command (also ``python -m gym_powergrid``).

Sub-commands: ``run`` (play an agent, pypownet's CLI), ``bench`` (compare agents), ``info``
(what an environment contains), ``new-env`` (create a parameter folder) and ``cosim``
(co-simulation). Run ``gym-powergrid COMMAND --help`` for the options of each.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

DESCRIPTION = """\
gym_powergrid: pypownet's power-grid game as a fast Gymnasium environment.

examples:
  gym-powergrid run PowerGrid-case14-v0 --agent greedy --steps 200
  gym-powergrid run case14 -a reconnect -e 3 -m hard --output runs/reconnect
  gym-powergrid bench --quick
  gym-powergrid info PowerGrid-case14-v0
"""

RUN_EPILOG = """\
ENV is a registered id (PowerGrid-case14-v0, PowerGrid-case14-dc-v0, ...), a shipped
environment name (case14), a pypownet-style parameters folder, or an import path
'package.module:function' returning an env.

AGENT is a registered name (do-nothing, random-switch, random-action, random-line-switch,
random-node-splitting, tree-search, greedy, reconnect, replay), one of pypownet's class names
(DoNothing, RandomPointAction, TreeSearchLineServiceStatus, GreedySearch, ...), or an import
path 'package.module:Class' or 'path/to/file.py:Class'. Constructor options with
--agent-option KEY=VALUE (e.g. -a replay --agent-option path=actions.csv).

pypownet's `python -m pypownet.main` options and their equivalents (pypownet's spellings are
accepted too):
  -a/--agent CLASS             -a/--agent NAME
  -n/--niter N                 -n/--steps N (steps per episode; default: until the chronic ends)
  (Runner.loop epochs)         -e/--episodes N
  -p/--parameters FOLDER       ENV (positional) or -p/--parameters
  -lv/--level LEVEL            -lv/--level LEVEL
  -s/--start-id ID             -s/--start-id/--chronic NAME|INDEX (repeatable)
  -lm/--loop-mode MODE         -lm/--loop-mode natural|random|fixed
  -m/--game-over-mode MODE     -m/--game-over-mode soft|hard|easy
  -r/--render                  -r/--render
  -la/--latency SECONDS        -la/--latency/--render-latency SECONDS
  -v/--verbose, -vv/--vverbose -v (episode logs), -vv (one log line per step)
  --seed SEED                  --seed SEED (env and agent)
  runner.log, machine_logs.csv -o/--output DIR: runner.log, steps.csv, episodes.csv,
                               summary.json (format: gym_powergrid.runner docstring)
"""

BENCH_EPILOG = """\
Every agent plays the same chronics and seeds, one episode each, until the first game over or
the step budget, in parallel processes. Prints one table per env; --output writes
episodes.csv, agents.csv and survival.png; --json writes a flat object of named numbers
'<env>/<agent>/<metric>' (metrics: episodes, survival_mean, survival_median, reward_mean,
reward_per_step, game_overs, actions_mean, seconds_per_step, candidates_per_second) and,
when a search agent is compared, '<env>/lookahead/<metric>' (the batched look-ahead and
simulate side by side).
"""


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _key_values(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} must look like KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = _parse_value(value)
    return out


def _chronic_arg(text: str) -> Any:
    return int(text) if text.lstrip("-").isdigit() else text


# --------------------------------------------------------------------------- parsers
def _add_env_overrides(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("environment")
    g.add_argument("-lv", "--level", default=None, help="chronics level (sub-folder of chronics/)")
    g.add_argument("-lm", "--loop-mode", choices=("natural", "random", "fixed"), default=None,
                   help="how chronics follow each other (configuration: chronic_looping_mode)")
    g.add_argument("-m", "--game-over-mode", choices=("soft", "hard", "easy"), default=None,
                   help="soft: a game over resets the topology and the chronic goes on; "
                        "hard: it ends the episode; easy: as soft, lines never break")
    g.add_argument("--loadflow-mode", choices=("AC", "DC", "ac", "dc"), default=None,
                   help="power-flow model of the game")
    g.add_argument("--reward", default=None, help="reward: pypownet (default), survival, zero, "
                                                  "file")
    g.add_argument("--config", action="append", metavar="KEY=VALUE",
                   help="any configuration.yaml key (repeatable)")


def _env_overrides(args: argparse.Namespace) -> dict[str, Any]:
    kw = _key_values(getattr(args, "config", None), "--config")
    if getattr(args, "level", None):
        kw["level"] = args.level
    if getattr(args, "loop_mode", None):
        kw["chronic_looping_mode"] = args.loop_mode
    if getattr(args, "game_over_mode", None):
        kw["game_over_mode"] = args.game_over_mode
    if getattr(args, "loadflow_mode", None):
        kw["loadflow_mode"] = args.loadflow_mode.upper()
    if getattr(args, "reward", None):
        kw["reward"] = args.reward
    return kw


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gym-powergrid``."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="gym-powergrid", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gym-powergrid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="play an agent on an environment (pypownet's CLI)",
                         description="Play an agent on an environment and print a summary "
                                     "table; optionally write pypownet's logs.",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("env", nargs="?", default=None, metavar="ENV",
                     help="env id, shipped name, parameters folder or module:factory "
                          "(default PowerGrid-case14-v0)")
    run.add_argument("-p", "--parameters", default=None, metavar="FOLDER",
                     help="pypownet spelling of ENV")
    g = run.add_argument_group("agent and episodes")
    g.add_argument("-a", "--agent", default="do-nothing", help="agent name or import path "
                   "(default do-nothing); a pypownet agent file: pypownet:FILE.py:Class")
    g.add_argument("--agent-option", action="append", metavar="KEY=VALUE",
                   help="keyword argument of the agent's constructor (repeatable)")
    g.add_argument("-n", "--steps", "--niter", type=int, default=None, dest="steps",
                   help="steps per episode (default: until the chronic ends)")
    g.add_argument("-e", "--episodes", "--epochs", type=int, default=1, dest="episodes",
                   help="number of episodes (default 1)")
    g.add_argument("-s", "--chronic", "--start-id", action="append", type=_chronic_arg,
                   dest="chronic", metavar="NAME|INDEX",
                   help="chronic(s) to play in turn (default: the loop mode decides)")
    g.add_argument("--start-step", type=int, default=None, help="first row of the chronic")
    g.add_argument("--seed", type=int, default=None, help="seed of the env and the agent")
    g.add_argument("--stop-on-game-over", action="store_true",
                   help="end each episode at its first game over (whatever the mode)")
    _add_env_overrides(run)
    o = run.add_argument_group("output")
    o.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="write runner.log, steps.csv, episodes.csv, summary.json here")
    o.add_argument("--record-actions", action="store_true",
                   help="also write DIR/actions.csv (replay with -a replay)")
    o.add_argument("--record-episodes", action="store_true",
                   help="also save DIR/episodes/episode_<K>.npz (see 'gym-powergrid replay')")
    o.add_argument("--json", default=None, metavar="PATH", help="write the totals as JSON")
    o.add_argument("-r", "--render", action="store_true", help="show the grid (pygame window)")
    o.add_argument("-la", "--render-latency", "--latency", type=float, default=None,
                   dest="render_latency", metavar="SECONDS", help="pause after each frame")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    o.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: episode logs on stderr, -vv: one line per step")

    bench = sub.add_parser("bench", help="compare agents on the same chronics and seeds",
                           description="Agent benchmark (also benchmarks/compare_agents.py).",
                           epilog=BENCH_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_arguments(bench)

    info = sub.add_parser("info", help="what an environment contains",
                          description="Grid size, chronics and configuration of an env; "
                                      "without ENV, the registered envs and agents.")
    info.add_argument("env", nargs="?", default=None, metavar="ENV")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_env_overrides(info)

    rp = sub.add_parser("replay", help="re-render or plot an episode saved by run "
                        "--record-episodes",
                        description="Summary of a saved episode; --gif re-renders it, "
                                    "--heatmap draws its line usage with actions and game "
                                    "overs marked.")
    rp.add_argument("run_dir", metavar="RUN_DIR", help="the run's output folder (or an "
                    "episode_<K>.npz file)")
    rp.add_argument("--episode", type=int, default=0, metavar="K", help="episode (default 0)")
    rp.add_argument("--gif", default=None, metavar="PATH", help="write the replay as a GIF")
    rp.add_argument("--fps", type=float, default=4.0, help="GIF frames per second")
    rp.add_argument("--heatmap", default=None, metavar="PATH",
                    help="write the line-usage heat map (PNG)")

    sub.add_parser("new-env", help="create a parameters folder (run 'new-env --help')",
                   add_help=False)
    sub.add_parser("cosim", help="co-simulation with load agents (run 'cosim --help')",
                   add_help=False)
    return parser


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``gym-powergrid bench`` and ``benchmarks/compare_agents.py``."""
    p.add_argument("envs", nargs="*", metavar="ENV", help="envs (default PowerGrid-case14-v0)")
    p.add_argument("--env", action="append", dest="env_options", metavar="ENV", default=[],
                   help="an env, same as the positional ENV (repeatable)")
    p.add_argument("--agents", nargs="+", default=None, metavar="AGENT",
                   help="agents (default: the baselines); names or import paths, with "
                        "options as NAME[key=value,...], e.g. 'greedy[ac_correction=true]'")
    p.add_argument("--chronics", type=int, default=None, metavar="N",
                   help="first N chronics of each env (default 8; --quick: 03_mar and 08_aug "
                        "where the env has them, else the first 2)")
    p.add_argument("--chronic", action="append", type=_chronic_arg, metavar="NAME|INDEX",
                   help="explicit chronic(s) instead of --chronics")
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="seeds (default 0 1, 0 with --quick)")
    p.add_argument("--steps", type=int, default=None,
                   help="step budget per episode (default 744, 400 with --quick)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local processes (default) or Ray tasks (needs gym-powergrid[ray])")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to use with --executor ray ('auto', HOST:6379 or "
                        "ray://HOST:10001; default: a local Ray on --workers CPUs)")
    p.add_argument("--output", default=None, metavar="DIR",
                   help="write episodes.csv, agents.csv, survival.png here")
    p.add_argument("--json", default=None, metavar="PATH", help="flat JSON of named numbers")
    p.add_argument("--quick", action="store_true",
                   help="small run where the agents differ: 2 chronics in which do-nothing "
                        "fails early, 400 steps, seed 0")
    p.add_argument("--no-plot", action="store_true", help="do not draw survival.png")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-lookahead-speed", action="store_true",
                   help="skip the side-by-side speed of the batched look-ahead and simulate")
    _add_env_overrides(p)


# --------------------------------------------------------------------------- commands
def cmd_run(args: argparse.Namespace) -> int:
    from .agents import make_agent, resolve_agent
    from .runner import Runner, build_env, check_env_spec

    spec = args.env or args.parameters or "PowerGrid-case14-v0"
    check_env_spec(spec)
    resolve_agent(args.agent)  # unknown names fail before the env is built
    overrides = _env_overrides(args)
    if args.render:
        overrides["render_mode"] = "human"
    env = build_env(spec, **overrides)
    agent = make_agent(args.agent, env, seed=args.seed,
                       **_key_values(args.agent_option, "--agent-option"))
    runner = Runner(env, agent, output_dir=args.output, progress=not args.no_progress,
                    render_latency=args.render_latency, record_actions=args.record_actions,
                    stop_on_game_over=True if args.stop_on_game_over else None,
                    record_episodes=args.record_episodes)
    try:
        summary = runner.run(episodes=args.episodes, max_steps=args.steps, chronics=args.chronic,
                             seed=args.seed, start_step=args.start_step)
    finally:
        agent_close = getattr(agent, "close", None)
        if agent_close:
            agent_close()
        env.close()
    print()
    print(summary.format_table())
    if args.output:
        print(f"\nlogs written to {args.output}/ (runner.log, steps.csv, episodes.csv, "
              "summary.json)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary.totals(), fh, indent=2)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .agents import BASELINES
    from .agents.compare import (
        DEFAULT_ENV,
        FULL,
        QUICK,
        aggregate,
        compare_agents,
        env_label,
        flat_metrics,
        format_tables,
        measure_lookahead,
        save_results,
    )

    preset = QUICK if args.quick else FULL
    envs = list(args.envs) + list(getattr(args, "env_options", None) or []) or [DEFAULT_ENV]
    agents = args.agents or list(BASELINES)
    df = compare_agents(envs, agents, n_chronics=args.chronics or preset["n_chronics"],
                        chronics=args.chronic, seeds=tuple(args.seeds or preset["seeds"]),
                        max_steps=args.steps or preset["max_steps"], workers=args.workers,
                        env_kwargs=_env_overrides(args), progress=not args.no_progress,
                        prefer_chronics=None if args.chronics else preset["prefer_chronics"],
                        executor=args.executor, ray_address=args.ray_address)
    agg = aggregate(df)
    print(format_tables(agg))
    metrics = flat_metrics(agg)
    if not args.no_lookahead_speed and {"greedy", "tree-search", "reconnect"} & set(agents):
        for env in envs:
            speed = measure_lookahead(env, _env_overrides(args))
            print(f"\nlook-ahead on {env_label(env)}: {speed['candidates']:.0f} greedy candidates "
                  f"per step; batch {speed['batch_1thread_candidates_per_second']:,.0f}/s (1 "
                  f"thread), {speed['batch_candidates_per_second']:,.0f}/s "
                  f"({speed['threads']:.0f} threads); simulate "
                  f"{speed['simulate_candidates_per_second']:,.0f}/s; speed-up "
                  f"x{speed['speedup']:.0f}")
            metrics.update({f"{env_label(env)}/lookahead/{k}": float(v)
                            for k, v in speed.items()})
    if args.output:
        paths = save_results(df, agg, args.output, plot=not args.no_plot)
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=2, sort_keys=True)
        print(f"wrote {args.json}")
    return 0


def env_info(env) -> dict[str, Any]:
    """What :func:`cmd_info` prints, as a dict."""
    import dataclasses

    import numpy as np

    base = env.unwrapped
    grid = base.grid
    helper = base.action_helper
    n_el = np.bincount(helper.node_switch_sub, minlength=grid.n_sub)
    chronics = base.chronics
    names = list(chronics.names)
    first = chronics[0] if len(names) else None
    obs_size = int(sum(int(np.prod(s.shape)) for s in base.observation_space.spaces.values()))
    return {
        "name": getattr(getattr(env, "spec", None), "id", None) or base.name,
        "parameters_folder": str(base.parameters_folder) if base.parameters_folder else None,
        "grid": {"substations": grid.n_sub, "productions": grid.n_prod, "loads": grid.n_load,
                 "lines": grid.n_line, "busbars": 2 * grid.n_sub,
                 "substations_with_4_or_more_elements": int((n_el >= 4).sum()),
                 "largest_substation_elements": int(n_el.max())},
        "action_length": helper.action_length,
        "observation": {"keys": len(base.observation_space.spaces), "values": obs_size},
        "chronics": {"count": len(names), "names": names[:20],
                     "first_steps": first.n_steps if first is not None else 0,
                     "first_start": str(first.datetimes[0]) if first is not None else None,
                     "first_end": str(first.datetimes[-1]) if first is not None else None,
                     "looping_mode": chronics.looping_mode},
        "configuration": dataclasses.asdict(base.config),
    }


def cmd_info(args: argparse.Namespace) -> int:
    import gymnasium as gym

    from . import ENV_IDS
    from .agents import AGENTS
    from .runner import build_env

    if args.env is None:
        from .envs.sources import shipped_environments

        data = {"registered_envs": sorted(k for k in gym.registry if k in ENV_IDS),
                "shipped_parameter_folders": shipped_environments(),
                "agents": {k: f"{v.__module__}.{v.__qualname__}" for k, v in AGENTS.items()}}
        if args.json:
            print(json.dumps(data, indent=2))
            return 0
        print("registered environments:\n  " + "\n  ".join(data["registered_envs"]))
        print("shipped parameter folders: " + (", ".join(data["shipped_parameter_folders"])
                                               or "none"))
        print("agents:")
        for k, v in data["agents"].items():
            print(f"  {k:<24} {v}")
        return 0
    env = build_env(args.env, **_env_overrides(args))
    try:
        data = env_info(env)
    finally:
        env.close()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    g = data["grid"]
    c = data["chronics"]
    print(f"environment     {data['name']}")
    if data["parameters_folder"]:
        print(f"parameters      {data['parameters_folder']}")
    print(f"grid            {g['substations']} substations ({g['busbars']} busbars), "
          f"{g['productions']} productions, {g['loads']} loads, {g['lines']} lines")
    print(f"                {g['substations_with_4_or_more_elements']} substations with >= 4 "
          f"elements (largest: {g['largest_substation_elements']})")
    print(f"action          MultiBinary({data['action_length']})")
    print(f"observation     Dict of {data['observation']['keys']} keys, "
          f"{data['observation']['values']} values")
    more = "..." if c["count"] > len(c["names"]) else ""
    print(f"chronics        {c['count']} ({', '.join(map(str, c['names']))}{more}); "
          f"looping mode {c['looping_mode']}")
    if c["first_start"]:
        print(f"                first: {c['first_steps']} steps, {c['first_start']} to "
              f"{c['first_end']}")
    print("configuration")
    width = max(len(k) for k in data["configuration"])
    for k, v in data["configuration"].items():
        print(f"  {k:<{width}}  {v}")
    return 0


def _delegate(command: str, argv: list[str]) -> int:
    if command == "new-env":
        try:
            from .new_env import main as new_env_main
        except ImportError as exc:
            print(f"gym-powergrid new-env is not available: {exc}", file=sys.stderr)
            return 2
        return int(new_env_main(argv) or 0)
    from .co_sim.cli import cosim_main

    return int(cosim_main(argv) or 0)


def cmd_replay(args: argparse.Namespace) -> int:
    from .episodes import load_episode, plot_line_usage, save_gif, summary_text

    ep = load_episode(args.run_dir, args.episode)
    print(summary_text(ep))
    if args.heatmap:
        plot_line_usage(ep, args.heatmap)
        print(f"wrote {args.heatmap}")
    if args.gif:
        save_gif(ep, args.gif, fps=args.fps)
        print(f"wrote {args.gif}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gym-powergrid``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("new-env", "cosim"):
        return _delegate(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    verbose = getattr(args, "verbose", 0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if verbose >= 1:
        logging.getLogger("gym_powergrid").setLevel(logging.INFO)
    if verbose >= 2:
        logging.getLogger("gym_powergrid.runner.steps").setLevel(logging.DEBUG)
    commands = {"run": cmd_run, "bench": cmd_bench, "info": cmd_info, "replay": cmd_replay}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError) as exc:
        if verbose >= 2:
            raise
        print(f"gym-powergrid {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
