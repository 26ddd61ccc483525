"""Co-simulation command line: ``gym-powergrid cosim ...`` or ``python -m gym_powergrid.co_sim``.

Sub-commands:

* ``run SCENARIO`` (the default when the first argument is not a sub-command): deploy and run a
  scenario (a YAML path or a shipped name such as ``lv_example``); writes ``voltages.csv``,
  ``summary.json``, the node logs and, with matplotlib, ``voltage.png`` into ``--out``. Exit
  status 0 means a clean run; 3 means the run completed but is not clean (failed power flows,
  late, gone or rejected node-rounds, refused joins, identity conflicts, spoofed packets: see
  ``summary.json``'s ``problems``); 2 is a configuration or deployment error.
* ``node --config-file F``: run a load-node process (what deployments start).
* ``keys DIR NAME...``: generate CURVE key pairs.
* ``list``: list the shipped scenarios.
* ``curves OUT``: regenerate the LV example's curves file.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gym_powergrid.errors import PowerGridError

_COMMANDS = ("run", "node", "keys", "list", "curves")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gym-powergrid cosim",
        description="Co-simulation: simpy load agents over ZeroMQ feeding a power flow.",
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS, help="logging level")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common],
                         help="run a scenario YAML (or a shipped scenario name)")
    run.add_argument("scenario", help="scenario YAML file or shipped name (see 'list')")
    run.add_argument("--steps", type=int, help="number of steps (overrides the scenario)")
    run.add_argument("--mode", choices=("lockstep", "realtime"), help="clock mode override")
    run.add_argument("--speed", type=float, help="real-time speed factor override")
    run.add_argument("--out", type=Path, default=Path("cosim-results"),
                     help="output folder (default ./cosim-results)")
    run.add_argument("--no-plot", action="store_true", help="do not write voltage.png")
    run.add_argument("--quiet", action="store_true", help="no per-step progress lines")
    sub.add_parser("node", help="run a load-node process (see --help)", add_help=False)
    keys = sub.add_parser("keys", parents=[common], help="generate CURVE key pairs")
    keys.add_argument("directory", type=Path)
    keys.add_argument("names", nargs="+")
    sub.add_parser("list", help="list the shipped scenarios")
    curves = sub.add_parser("curves", parents=[common],
                            help="regenerate the LV example curves file")
    curves.add_argument("output", type=Path)
    curves.add_argument("--seed", type=int, default=2019)
    return parser


EXIT_NOT_CLEAN = 3
#: Allocator counters that make a run not clean (summary key -> allocator statistic).
_TRUST_COUNTERS = {
    "reports_rejected": "reports_rejected",
    "joins_refused": "joins_refused",
    "identity_conflicts": "identity_conflicts",
    "joins_stale_session": "joins_stale_session",
    "joins_rate_limited": "joins_rate_limited",
    "spoofed_packets": "spoofed",
    "malformed_packets": "malformed",
}


def run_summary(result: dict[str, Any]) -> dict[str, Any]:
    """The truth about a run: counts of everything that went wrong, and whether it is clean."""
    rounds = result["rounds"]
    stats = result.get("stats", {})
    summary: dict[str, Any] = {
        "steps": len(rounds),
        "session": result.get("session"),
        "failed_power_flows": sum(1 for r in rounds if r.get("converged") is False),
        "late_rounds": sum(1 for r in rounds if r.get("late")),
        "gone_rounds": sum(1 for r in rounds if r.get("gone")),
        "late_node_rounds": sum(len(r.get("late", ())) for r in rounds),
        "gone_node_rounds": sum(len(r.get("gone", ())) for r in rounds),
        "rejected_node_rounds": sum(len(r.get("rejected", ())) for r in rounds),
    }
    for key, stat in _TRUST_COUNTERS.items():
        summary[key] = int(stats.get(stat, 0))
    problems = [f"{key}={value}" for key, value in summary.items()
                if key not in ("steps", "session", "late_rounds", "gone_rounds") and value]
    summary["clean"] = not problems
    summary["problems"] = problems
    summary["allocator_stats"] = stats
    return summary


def _write_outputs(result: dict[str, Any], out: Path, plot: bool, title: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rounds = result["rounds"]
    node_ids = result["node_ids"]
    buses = sorted({b for r in rounds for b in r.get("bus_vm_pu", {})})
    written = [out / "voltages.csv"]
    with open(written[0], "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", *[f"vm_pu_{n}" for n in node_ids],
                         *[f"bus{b}_vm_pu" for b in buses], "converged", "late", "gone",
                         "rejected"])
        for r in rounds:  # a failed power flow has no voltages, and says so
            writer.writerow([r["step"], *[r["vm_pu"].get(n, "") for n in node_ids],
                             *[r.get("bus_vm_pu", {}).get(b, "") for b in buses],
                             int(r.get("converged", True)),
                             " ".join(r.get("late", [])), " ".join(r.get("gone", [])),
                             " ".join(r.get("rejected", []))])
    for name, text in result.get("logs", {}).items():
        (out / f"{name}.log").write_text(text)
    summary = run_summary(result)
    written.append(out / "summary.json")
    written[-1].write_text(json.dumps(summary, indent=2, sort_keys=True))
    if plot and rounds:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            logging.getLogger(__name__).warning(
                'no plot: matplotlib is missing (pip install "gym-powergrid[plot]")')
            return written
        fig, ax = plt.subplots(figsize=(9, 4))
        hours = [r["step"] * 5 / 60 for r in rounds]
        first = node_ids[0]
        ax.plot(hours, [r["vm_pu"].get(first, float("nan")) for r in rounds],
                label=f"bus of {first}")
        ax.set_xlabel("hour of the day (5-minute steps)")
        ax.set_ylabel("voltage (p.u.)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        written.append(out / "voltage.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    return written


def _run(args: argparse.Namespace) -> int:
    from gym_powergrid.co_sim.scenario import load_scenario, run_scenario

    scenario = load_scenario(args.scenario)

    def progress(record: dict[str, Any]) -> None:
        vms = record.get("vm_pu", {})
        vm = next(iter(vms.values())) if vms else float("nan")
        extra = ""
        if record.get("late") or record.get("gone"):
            extra = f"  late={record.get('late')} gone={record.get('gone')}"
        print(f"step {record['step']:4d}  vm = {vm:.6f} p.u.{extra}")  # noqa: T201

    result = run_scenario(
        scenario, steps=args.steps, mode=args.mode, speed=args.speed,
        workdir=args.out / "nodes", progress=None if args.quiet else progress,
    )
    written = _write_outputs(result, args.out, not args.no_plot,
                             f"{scenario.name}: load bus voltage")
    rounds = result["rounds"]
    vms = [v for r in rounds for v in r["vm_pu"].values()]
    if vms:
        print(f"{scenario.name}: {len(rounds)} steps, node voltages "  # noqa: T201
              f"{min(vms):.5f}..{max(vms):.5f} p.u.")
    for path in written:
        print(f"wrote {path}")  # noqa: T201
    summary = run_summary(result)
    if not summary["clean"]:
        print(f"run NOT clean: {', '.join(summary['problems'])} (see "  # noqa: T201
              f"{args.out / 'summary.json'})", file=sys.stderr)
        return EXIT_NOT_CLEAN
    print("run clean: every node answered every round, no failed power flow, no refused, "  # noqa: T201
          "spoofed or implausible packet")
    return 0


def cosim_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gym-powergrid cosim``; returns the exit status.

    Args:
        argv: Arguments after ``cosim`` (default ``sys.argv[1:]``). A first argument that is
            not a sub-command means ``run``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "node":
        from gym_powergrid.co_sim.node import main as node_main

        return node_main(argv[1:])
    if argv and not argv[0].startswith("-") and argv[0] not in _COMMANDS:
        argv.insert(0, "run")
    args = _parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "keys":
            from gym_powergrid.co_sim.keys import generate_curve_keys

            for name, (public, secret) in generate_curve_keys(args.directory, args.names).items():
                print(f"{name}: public {public}  secret {secret}")  # noqa: T201
            return 0
        if args.command == "list":
            from gym_powergrid.co_sim.scenarios import available

            for name in available():
                print(name)  # noqa: T201
            return 0
        if args.command == "curves":
            from gym_powergrid.co_sim.scenarios import write_lv_curves

            print(f"wrote {write_lv_curves(args.output, args.seed)}")  # noqa: T201
            return 0
    except PowerGridError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    return 1  # pragma: no cover - argparse guarantees a command


if __name__ == "__main__":
    sys.exit(cosim_main())
