"""Calibrate scenarios: how long simple policies survive, measured with the env itself.

Every policy is an agent of :mod:`gym_powergrid.agents` (``do_nothing``, ``reconnect``,
``greedy``, ``tree_search``, or any agent spec with options such as ``greedy[horizon=6]``)
played by the agent benchmark (:func:`gym_powergrid.agents.compare.compare_agents`, what
``gym-powergrid bench`` runs): the env's own rules (docs/rules.md), one episode per chronic and
seed in ``hard`` game-over mode (the first game over ends it), up to the step budget.

Prints, per policy, the game overs over the episodes, the mean (and total) steps survived and
the ratio of its mean survival to the ``reconnect`` policy's; a table of the steps survived per
chronic; and, when ``do_nothing``, ``reconnect`` and ``greedy`` are measured, whether the hard
level's targets hold (docs/data.md): do-nothing reaches game over in at least 75% of the
episodes, reconnect in at least 50%, greedy survives at least 1.10 x reconnect's mean.

Usage::

    python benchmarks/calibrate_scenarios.py --params gym_powergrid/envs/params/case14 \\
        --level level1 --policies do_nothing,reconnect,greedy --json calibration.json
    python benchmarks/calibrate_scenarios.py --env PowerGrid-case30-hard-v0 \\
        --policies 'reconnect,greedy[horizon=6]'          # a registered id, a stronger search
    python benchmarks/calibrate_scenarios.py --case case30 --seed 3 --set n_chronics=24 \\
        --set 'stressed_ratio=(1.0, 1.15)'                # generate in a temporary folder first
    python benchmarks/calibrate_scenarios.py --case case14 --seed 2 --plot-weeks week.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The hard level's calibration targets (issue 11; docs/data.md "The hard level").
TARGET_DO_NOTHING_GAME_OVERS = 0.75
TARGET_RECONNECT_GAME_OVERS = 0.50
TARGET_GREEDY_VS_RECONNECT = 1.10


def split_policies(text: str) -> list[str]:
    """Split ``"a,b[x=1,y=2],c"`` on the commas outside brackets.

    Example:
        >>> split_policies("do_nothing,greedy[horizon=3,discount=0.7]")
        ['do_nothing', 'greedy[horizon=3,discount=0.7]']
    """
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    policies = [p for p in out if p]
    if depth != 0 or not policies:
        raise SystemExit(f"error: --policies {text!r}: expected comma-separated agent names, "
                         "e.g. do_nothing,reconnect,greedy (options in brackets: "
                         "greedy[horizon=3])")
    return policies


def _plain_policies(policies: list[str]) -> dict[str, str]:
    """Registered agent name -> the first policy naming it without options."""
    from gym_powergrid.agents import agent_name, resolve_agent
    from gym_powergrid.agents.compare import parse_agent_spec

    out: dict[str, str] = {}
    for p in policies:
        name, options = parse_agent_spec(p)
        if not options:
            out.setdefault(agent_name(resolve_agent(name)), p)
    return out


def summarize(df, policies: list[str]) -> dict[str, float]:
    """Flat numbers per policy: ``<policy>/<metric>``, and the targets when they apply.

    Ratios ``<policy>/survival_vs_reconnect`` and the targets use the policies given without
    options (``greedy``, not ``greedy[horizon=6]``).
    """
    out: dict[str, float] = {}
    for p in policies:
        g = df[df["agent"] == p]
        out[f"{p}/episodes"] = float(len(g))
        out[f"{p}/game_overs"] = float(g["game_over"].sum())
        out[f"{p}/game_over_fraction"] = float(g["game_over"].mean())
        out[f"{p}/survival_mean"] = float(g["steps_survived"].mean())
        out[f"{p}/survival_total"] = float(g["steps_survived"].sum())
        out[f"{p}/actions_mean"] = float(g["actions_taken"].mean())
        out[f"{p}/seconds_per_step"] = float(g["seconds"].sum() / max(g["steps"].sum(), 1))
    plain = _plain_policies(policies)
    reconnect = plain.get("reconnect")
    if reconnect is None or out[f"{reconnect}/survival_mean"] <= 0:
        return out
    ref = out[f"{reconnect}/survival_mean"]
    for p in policies:
        out[f"{p}/survival_vs_reconnect"] = out[f"{p}/survival_mean"] / ref
    if "do-nothing" in plain and "greedy" in plain:
        dn, gr = plain["do-nothing"], plain["greedy"]
        checks = {
            "do_nothing_game_overs":
                out[f"{dn}/game_over_fraction"] >= TARGET_DO_NOTHING_GAME_OVERS,
            "reconnect_game_overs":
                out[f"{reconnect}/game_over_fraction"] >= TARGET_RECONNECT_GAME_OVERS,
            "greedy_vs_reconnect":
                out[f"{gr}/survival_vs_reconnect"] >= TARGET_GREEDY_VS_RECONNECT,
        }
        for key, ok in checks.items():
            out[f"targets/{key}"] = float(ok)
        out["targets/met"] = float(all(checks.values()))
    return out


def plot_weeks(case: str, seed: int, path: str, overrides: dict | None = None) -> None:
    """Plot a winter and a summer week of generated data (production by role, load, stress).

    The data are regenerated in memory exactly as ``gym_powergrid.new_env`` does (same grid
    round trip, same seed), so they are the shipped data when seed and settings match.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from gym_powergrid.chronics.generator import (
        ROLE_SLACK,
        ROLE_SOLAR,
        ROLE_THERMAL,
        ROLE_WIND,
        GeneratorConfig,
        generate_scenarios,
    )
    from gym_powergrid.chronics.generator_pf import base_topology_flows
    from gym_powergrid.new_env import _round_trip_grid

    grid = _round_trip_grid(case, case)
    gen = generate_scenarios(grid, seed, GeneratorConfig(**(overrides or {})))
    weeks = [("January", 0, np.datetime64("2019-01-07T00:00")),
             ("July", 6, np.datetime64("2019-07-08T00:00"))]
    colors = {ROLE_THERMAL: "#8c8c8c", ROLE_SLACK: "#5a6b8c", ROLE_WIND: "#4fa3d9",
              ROLE_SOLAR: "#f2c12e"}
    labels = {ROLE_THERMAL: "thermal units", ROLE_SLACK: "slack (balances, incl. losses)",
              ROLE_WIND: "wind", ROLE_SOLAR: "solar"}
    fig, axes = plt.subplots(2, 2, figsize=(13, 7), sharex="col", sharey="row",
                             gridspec_kw={"height_ratios": [3, 1.3]})
    for col, (title, k, start) in enumerate(weeks):
        c = gen.chronics[k]
        t0 = int(np.searchsorted(c.datetimes, start.astype(c.datetimes.dtype)))
        sl = slice(t0, t0 + 7 * 24)
        x = c.datetimes[sl].astype("datetime64[s]").astype(object)
        p = np.asarray(c.prod_p_mw[sl], dtype=float)
        ax = axes[0, col]
        stack, names, cols = [], [], []
        for role in (ROLE_THERMAL, ROLE_SLACK, ROLE_WIND, ROLE_SOLAR):
            mask = gen.prod_role == role
            if mask.any():
                stack.append(p[:, mask].sum(axis=1))
                names.append(labels[role])
                cols.append(colors[role])
        ax.stackplot(x, *stack, labels=names, colors=cols, alpha=0.9, linewidth=0)
        ax.plot(x, np.asarray(c.load_p_mw[sl]).sum(axis=1), color="black", lw=1.6,
                label="total load")
        ax.plot(x, np.asarray(c.load_p_planned_mw[sl]).sum(axis=1), color="black", lw=0.9,
                ls="--", label="load forecast (planned)")
        ax.set_title(f"{grid.name}: a week in {title} {str(start)[:4]} (chronic {c.name})")
        ax.set_ylim(0, None)
        ax.grid(alpha=0.3)
        f = base_topology_flows(grid, np.asarray(c.prod_p_mw[sl], dtype=float),
                                np.asarray(c.prod_v_pu[sl], dtype=float),
                                np.asarray(c.load_p_mw[sl], dtype=float),
                                np.asarray(c.load_q_mvar[sl], dtype=float))
        rho = f.line_a_or / c.line_limit_a * 100
        ax2 = axes[1, col]
        ax2.plot(x, rho.max(axis=1), color="#c0392b", lw=1.2, label="most loaded line")
        ax2.plot(x, np.median(rho, axis=1), color="#7f8c8d", lw=1.0, label="median line")
        ax2.axhline(100, color="black", lw=0.8, ls=":")
        ax2.set_ylim(0, max(110, float(rho.max()) + 5))
        ax2.grid(alpha=0.3)
        ax2.xaxis.set_major_locator(mdates.DayLocator())
        ax2.xaxis.set_major_formatter(mdates.DateFormatter("%a %d"))
    axes[0, 0].set_ylabel("MW")
    axes[1, 0].set_ylabel("line current / limit, %")
    handles = axes[0, 0].get_legend_handles_labels()[0] + axes[1, 0].get_legend_handles_labels()[0]
    fig.legend(handles, [h.get_label() for h in handles], loc="lower center", ncol=4,
               fontsize=9, frameon=False)
    fig.suptitle(f"Generated chronics of {grid.name} (seed {seed}): production by role vs "
                 "load, and line loading in the base topology", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def format_report(df, policies: list[str], numbers: dict[str, float]) -> str:
    """The policy table, the steps survived per chronic and the targets, as plain text."""
    from gym_powergrid.runner import format_table

    rows = []
    for p in policies:
        ratio = numbers.get(f"{p}/survival_vs_reconnect")
        rows.append([p, f"{numbers[f'{p}/game_overs']:.0f} / {numbers[f'{p}/episodes']:.0f}",
                     f"{numbers[f'{p}/survival_mean']:.1f}",
                     f"{numbers[f'{p}/survival_total']:.0f}",
                     "-" if ratio is None else f"{ratio:.2f}",
                     f"{numbers[f'{p}/actions_mean']:.1f}",
                     f"{1e3 * numbers[f'{p}/seconds_per_step']:.2f}"])
    parts = [format_table(["policy", "game overs / episodes", "mean steps survived",
                           "total", "x reconnect", "actions", "ms/step"], rows)]
    keys = list(dict.fromkeys(zip(df["chronic"], df["seed"])))
    per = []
    for chronic, seed in keys:
        row = [str(chronic), str(seed)]
        for p in policies:
            g = df[(df["agent"] == p) & (df["chronic"] == chronic) & (df["seed"] == seed)]
            r = g.iloc[0]
            row.append(f"{r['steps_survived']}" + (" x" if r["game_over"] else ""))
        per.append(row)
    parts.append("steps survived per chronic (x: game over at that step)\n"
                 + format_table(["chronic", "seed", *policies], per))
    if "targets/met" in numbers:
        lines = ["targets (docs/data.md):"]
        for key, text in (
                ("do_nothing_game_overs",
                 f"do-nothing game over in >= {TARGET_DO_NOTHING_GAME_OVERS:.0%} of the episodes"),
                ("reconnect_game_overs",
                 f"reconnect game over in >= {TARGET_RECONNECT_GAME_OVERS:.0%} of the episodes"),
                ("greedy_vs_reconnect",
                 f"greedy survives >= {TARGET_GREEDY_VS_RECONNECT:.2f} x reconnect's mean")):
            lines.append(f"  {'met   ' if numbers[f'targets/{key}'] else 'FAILED'} {text}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _values(items: list[str] | None, flag: str) -> dict:
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"error: {flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _generate(args, tmp: str) -> str:
    """Generate ``--case``/``--seed``/``--set`` data with ``gym_powergrid.new_env``; its folder."""
    from gym_powergrid.new_env import main as new_env

    argv = [args.case, "--case", args.case, "--seed", str(args.seed), "--out", tmp, "-q"]
    for item in args.set or []:
        argv += ["--set", item]
    if new_env(argv) != 0:
        raise SystemExit(f"error: generating {args.case} with seed {args.seed} failed (above)")
    return str(Path(tmp) / args.case)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="One of --params, --env or --case (with --seed) says what to measure.")
    what = parser.add_argument_group("what to measure")
    what.add_argument("--params", metavar="DIR", help="a parameter folder (pypownet layout)")
    what.add_argument("--env", metavar="ID", help="a registered id (PowerGrid-case30-hard-v0) "
                      "or any env spec of gym-powergrid bench")
    what.add_argument("--level", default=None,
                      help="level of --params/--env (default: the env's, level0 for a folder)")
    what.add_argument("--case", help="generate this case (as new_env) in a temporary folder")
    what.add_argument("--seed", type=int, help="generator seed of --case")
    what.add_argument("--set", action="append", metavar="KEY=VALUE",
                      help="generator setting of --case (as new_env --set, e.g. n_chronics=24)")
    what.add_argument("--config", action="append", metavar="KEY=VALUE",
                      help="game-rule override for the env (a configuration.yaml key, e.g. "
                      "max_number_loads_game_over=1)")
    how = parser.add_argument_group("how")
    how.add_argument("--policies", default="do_nothing,reconnect",
                     help="comma-separated agents, with options in brackets "
                     "(default do_nothing,reconnect; e.g. do_nothing,reconnect,greedy,"
                     "'greedy[horizon=6]')")
    how.add_argument("--chronics", type=int, default=None, metavar="N",
                     help="the first N chronics (default: all)")
    how.add_argument("--chronic", action="append", metavar="NAME",
                     help="explicit chronic name(s) instead of --chronics")
    how.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (default 0)")
    how.add_argument("--steps", type=int, default=744,
                     help="step budget per episode (default 744, a 31-day month)")
    how.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    how.add_argument("--json", metavar="PATH", help="write the numbers as a flat JSON object")
    how.add_argument("--check-targets", action="store_true",
                     help="exit with status 1 when the hard level's targets do not hold")
    how.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--plot-weeks", metavar="PNG",
                        help="plot a winter and a summer week of --case/--seed data and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.plot_weeks:
        if not args.case or args.seed is None:
            parser.error("--plot-weeks needs --case and --seed")
        plot_weeks(args.case, args.seed, args.plot_weeks, _values(args.set, "--set"))
        return 0
    given = [flag for flag, v in (("--params", args.params), ("--env", args.env),
                                  ("--case", args.case)) if v]
    if len(given) != 1:
        parser.error("give exactly one of --params DIR, --env ID or --case CASE (with --seed), "
                     f"got {', '.join(given) or 'none'}")
    if args.case and args.seed is None:
        parser.error("--case needs --seed (the generator seed)")
    if args.set and not args.case:
        parser.error("--set is a generator setting: it needs --case")
    if args.steps < 1 or args.workers < 1 or (args.chronics is not None and args.chronics < 1):
        parser.error("--steps, --workers and --chronics must be at least 1")
    if args.params and not Path(args.params).is_dir():
        parser.error(f"--params {args.params!r} is not a folder (expected a parameter folder "
                     "such as gym_powergrid/envs/params/case14)")
    policies = split_policies(args.policies)
    from gym_powergrid.agents.compare import check_specs, compare_agents

    try:
        check_specs([args.params or args.env or "gym_powergrid:case14"], policies)
    except ValueError as exc:
        parser.error(str(exc))

    env_kwargs = {"game_over_mode": "hard", **_values(args.config, "--config")}
    if args.level:
        env_kwargs["level"] = args.level
    with tempfile.TemporaryDirectory(prefix="calibrate_") as tmp:
        t0 = time.perf_counter()
        spec = args.params or args.env or _generate(args, tmp)
        df = compare_agents([spec], policies, n_chronics=args.chronics, chronics=args.chronic,
                            seeds=tuple(args.seeds), max_steps=args.steps, workers=args.workers,
                            env_kwargs=env_kwargs, progress=not args.no_progress)
        seconds = time.perf_counter() - t0
    numbers = summarize(df, policies)
    level = f" level {args.level}" if args.level else ""
    source = args.params or args.env or f"{args.case} seed {args.seed} (generated)"
    print(f"{source}{level}: {df['chronic'].nunique()} chronics x {len(args.seeds)} seed(s), "
          f"hard game over, {args.steps}-step budget ({seconds:.0f} s)\n")
    print(format_report(df, policies, numbers))
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n")
        print(f"\nwrote {args.json}")
    if args.check_targets and numbers.get("targets/met") != 1.0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
