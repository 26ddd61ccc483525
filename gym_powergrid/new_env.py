"""Create a new parameter folder (pypownet layout) with generated chronics.

Command line (the ``gym-powergrid new-env`` command calls :func:`main`)::

    python -m gym_powergrid.new_env NAME --case case14 --out DIR --seed 14 [--n-chronics 12]

writes ``DIR/NAME/level0/{configuration.yaml, reference_grid.m, chronics/<chronic>/...}`` and
``DIR/NAME/GENERATED.md`` (the exact command, the seed, the generator settings and what the
chronics look like). The same command with the same seed rewrites the same bytes.

The grid is written as ``reference_grid.m`` first and read back, and the chronics are generated
on the grid read back: the environment that later loads the folder sees exactly the grid the
chronics (and their thermal limits) were computed for.

Python API: :func:`create_environment`.
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from .chronics.generator import GeneratedScenarios, GeneratorConfig, generate_scenarios
from .chronics.generator_config import NO_OP_SETTINGS, tolerated_cut
from .config import GameConfig
from .errors import ConfigurationError, UnsupportedGridError
from .grid.arrays import GridArrays

logger = logging.getLogger(__name__)

#: File written next to the level folders to record how the folder was made.
GENERATED_FILE = "GENERATED.md"


def generated_file(level: str = "level0") -> str:
    """Name of the generation record of ``level``: ``GENERATED.md`` for level0, else
    ``GENERATED-<level>.md`` (each level keeps its own command next to the others)."""
    return GENERATED_FILE if level == "level0" else f"GENERATED-{level}.md"


def default_config(grid: GridArrays, **overrides) -> GameConfig:
    """The configuration written in new parameter folders.

    pypownet's defaults, with the numba AC power flow and game-over thresholds sized for the
    grid: about 10% of the loads and of the productions may be isolated (at least 1) before
    the game is over.

    Args:
        grid: the grid.
        **overrides: any ``configuration.yaml`` key.
    """
    loads, prods = tolerated_cut(grid)
    values = {
        "loadflow_backend": "numba",
        "loadflow_mode": "AC",
        "max_number_loads_game_over": loads,
        "max_number_prods_game_over": prods,
    }
    values.update(overrides)
    return GameConfig.from_dict(values)


def pandapower_case_names() -> list[str]:
    """Every named case of ``pandapower.networks`` (``case14`` ... ``case9241pegase``)."""
    import pandapower.networks as pn

    return sorted(n for n in dir(pn) if n.startswith("case") and callable(getattr(pn, n)))


def resolve_case(case: str):
    """A named case of pandapower (any ``pandapower.networks.case*``) or a MATPOWER file.

    Returns what :func:`create_environment` accepts: the file path, the name of a case
    :func:`~gym_powergrid.grid.cases.load_grid` knows, or a fresh pandapower net.

    Raises:
        ConfigurationError: neither a named case nor an existing file (close names suggested).
    """
    from .grid.cases import NAMED_CASES

    if case in NAMED_CASES or Path(case).is_file():
        return case
    names = pandapower_case_names()
    if case in names:
        import pandapower.networks as pn

        return getattr(pn, case)()
    import difflib

    hint = difflib.get_close_matches(case, names, n=1)
    extra = f" Did you mean {hint[0]!r}?" if hint else ""
    raise ConfigurationError(f"--case {case!r} is neither a named case of pandapower.networks "
                             f"({', '.join(names)}) nor an existing MATPOWER file.{extra}")


def _round_trip_grid(source, name: str) -> GridArrays:
    """The grid as the parameter folder will hold it (written as MATPOWER and read back)."""
    from .grid.cases import load_grid
    from .grid.convert import from_pandapower
    from .grid.matpower import read_matpower, write_matpower

    if isinstance(source, (str, os.PathLike)):
        source = resolve_case(str(source))
    grid = source if isinstance(source, GridArrays) else load_grid(source)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference_grid.m"
        write_matpower(grid, path)
        return from_pandapower(read_matpower(path), name=name)


def create_environment(
    out: str | os.PathLike,
    name: str,
    case,
    seed: int,
    generator: GeneratorConfig | None = None,
    config: GameConfig | None = None,
    *,
    level: str = "level0",
    compression: str | None = "bz2",
    overwrite: bool = False,
    command: str | None = None,
    round_trip: bool = True,
    progress: bool = False,
) -> tuple[Path, GeneratedScenarios]:
    """Generate chronics for a grid and write a parameter folder ``out/name``.

    Args:
        out: folder that will hold the new environment folder.
        name: environment (folder) name.
        case: a named case (``"case14"``), a MATPOWER file path or a :class:`GridArrays`.
        seed: generator seed (same seed, same bytes).
        generator: generator settings (default :class:`GeneratorConfig`).
        config: game configuration (default :func:`default_config` for the grid).
        level: level folder name.
        compression: ``"bz2"`` (default), ``"gzip"`` or None for the chronic files.
        overwrite: replace an existing level folder.
        command: the command line recorded in ``GENERATED.md`` (default: the equivalent
            ``python -m gym_powergrid.new_env`` call).
        round_trip: write the grid as MATPOWER and read it back before generating (what the
            folder will hold). Pass False only with a :class:`GridArrays` that already went
            through that round trip (e.g. ``ParameterFolder(...).grid``).
        progress: show a progress bar over the generator's power flows.

    Returns:
        The environment folder and the generator's output (chronics and statistics).
    """
    from .params import write_parameter_folder

    env_path = Path(out) / name
    level_path = env_path / level
    if level_path.exists() and not overwrite:
        raise FileExistsError(f"{level_path} exists; pass overwrite=True (--overwrite) to "
                              "replace it")
    if round_trip or not isinstance(case, GridArrays):
        grid = _round_trip_grid(case, name)
    else:
        grid = case
    generated = generate_scenarios(grid, seed, generator, progress=progress)
    config = config if config is not None else default_config(grid)
    write_parameter_folder(env_path, grid, config, generated.chronics, level=level,
                           compression=compression, float_format="%.6g", overwrite=overwrite)
    if command is None:
        case_text = "<GridArrays>" if isinstance(case, GridArrays) else str(case)
        command = shlex.join(["python", "-m", "gym_powergrid.new_env", name, "--case",
                              case_text, "--out", str(out), "--seed", str(seed)])
    report = generated_report(generated, config, command, level)
    (env_path / generated_file(level)).write_text(report, encoding="utf-8")
    logger.info("environment %s written to %s", name, env_path)
    return env_path, generated


def generated_report(generated: GeneratedScenarios, config: GameConfig, command: str,
                     level: str = "level0") -> str:
    """Markdown text of ``GENERATED.md``: command, seed, settings and chronic statistics."""
    g = generated.grid
    cfg = generated.config
    roles = generated.prod_role_names
    lines = [
        f"# {g.name}: generated parameter folder",
        "",
        "Regenerate it byte for byte with:",
        "",
        "```",
        command,
        "```",
        "",
        f"- seed: {generated.seed}",
        f"- grid: {g.n_sub} substations, {g.n_prod} productions, {g.n_load} loads, "
        f"{g.n_line} branches",
        "- production roles: " + ", ".join(
            f"{r} {sum(x == r for x in roles)}" for r in ("slack", "thermal", "wind", "solar")),
        f"- branches with a tight thermal limit: {int(generated.line_stressed_mask.sum())}",
        f"- level `{level}`, configuration: loadflow {config.loadflow_backend} "
        f"{config.loadflow_mode}, game over with more than "
        f"{config.max_number_loads_game_over} isolated load(s) or "
        f"{config.max_number_prods_game_over} isolated production(s)",
        "",
        "## Generator settings",
        "",
    ]
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in NO_OP_SETTINGS and value == NO_OP_SETTINGS[f.name]:
            continue
        lines.append(f"- `{f.name}`: {value!r}")
    lines += ["", "## Productions", "", "| # | name | substation | role | capacity MW |",
              "|---|---|---|---|---|"]
    for i, (name, sub, role) in enumerate(zip(g.prod_name.tolist(), g.prod_sub_idx.tolist(),
                                              roles)):
        lines.append(f"| {i} | {name} | {g.sub_name[sub]} | {role} "
                     f"| {generated.prod_capacity_mw[i]:.0f} |")
    lines += [
        "",
        "## Chronics (base topology: every line in service)",
        "",
        "| chronic | steps | load MW (min-max) | slack MW (min-max) | losses % | max load/limit "
        "| steps > 100% | maintenance | hazards |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in generated.stats:
        lines.append(
            f"| {s.name} | {s.n_steps} | {s.load_mw_min:.0f}-{s.load_mw_max:.0f} "
            f"| {s.slack_mw_min:.0f}-{s.slack_mw_max:.0f} | {s.losses_pct_mean:.1f} "
            f"| {s.max_rho:.2f} | {s.n_steps_overloaded} | {s.n_maintenance} | {s.n_hazards} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- command line
def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _key_values(items: Sequence[str] | None, what: str) -> dict:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"{what} expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = _parse_value(value.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the command."""
    p = argparse.ArgumentParser(
        prog="gym-powergrid new-env",
        description="Create a parameter folder (pypownet layout) with generated chronics: "
                    "OUT/NAME/level0/{configuration.yaml, reference_grid.m, chronics/}.")
    p.add_argument("name", help="environment (folder) name")
    p.add_argument("--case",
                   help="a named case of pandapower.networks (case14, case118, case300, "
                        "case1354pegase, case2869pegase, ...) or a MATPOWER .m file "
                        "(required unless --from-grid2op)")
    p.add_argument("--from-grid2op", metavar="FOLDER", default=None,
                   help="convert this Grid2Op environment folder (grid.json, chronics/) instead "
                        "of generating chronics")
    p.add_argument("--out", required=True, help="folder that will hold OUT/NAME")
    p.add_argument("--seed", type=int, help="generator seed (required unless --from-grid2op)")
    p.add_argument("--n-chronics", type=int, default=12, help="chronics, one per month "
                   "(default 12)")
    p.add_argument("--year", type=int, default=2019, help="year of the first chronic")
    p.add_argument("--first-month", type=int, default=1, help="month of the first chronic")
    p.add_argument("--days", type=int, default=None,
                   help="days per chronic (default: the whole month)")
    p.add_argument("--step-minutes", type=int, default=60, help="timestep (default 60)")
    p.add_argument("--maintenance-per-month", type=float, default=None,
                   help="mean planned outages per month (default: 1.5 x sqrt(n_lines / 20))")
    p.add_argument("--hazards-per-month", type=float, default=None,
                   help="mean random outages per month (default: 0.5 x sqrt(n_lines / 20))")
    p.add_argument("--n-stressed", type=int, default=None,
                   help="lines given a tight thermal limit (default: 4 x sqrt(n_lines / 20))")
    p.add_argument("--peak-load-factor", type=float, default=None,
                   help="annual load peak relative to the case's loads (default 1.0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="any other generator setting (see GeneratorConfig), repeatable")
    p.add_argument("--config", action="append", metavar="KEY=VALUE", default=[],
                   help="configuration.yaml key, repeatable (e.g. loadflow_mode=DC)")
    p.add_argument("--level", default="level0", help="level folder name (default level0)")
    p.add_argument("--compression", choices=("bz2", "gzip", "none"), default="bz2",
                   help="compression of the chronic files (default bz2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing level folder")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing but errors (no progress bar)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the library's INFO logs (grid conversion, repairs, files)")
    return p


def generator_config_from_args(args: argparse.Namespace) -> GeneratorConfig:
    """The :class:`GeneratorConfig` described by parsed command-line arguments."""
    values = _key_values(args.set, "--set")
    known = {f.name for f in fields(GeneratorConfig)}
    for key in values:
        if key not in known:
            import difflib

            hint = difflib.get_close_matches(key, known, n=1)
            extra = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ConfigurationError(f"--set {key}=...: unknown generator setting.{extra} "
                                     f"Settings: {', '.join(sorted(known))}")
    named = {"n_chronics": args.n_chronics, "year": args.year, "first_month": args.first_month,
             "days_per_chronic": args.days, "step_minutes": args.step_minutes,
             "maintenance_per_month": args.maintenance_per_month,
             "hazards_per_month": args.hazards_per_month, "n_stressed": args.n_stressed,
             "peak_load_factor": args.peak_load_factor}
    for key, value in named.items():
        if value is not None:
            values[key] = value
    for key, value in values.items():  # tuples arrive as lists from literal_eval of "[..]"
        if isinstance(value, list):  # (no setting is a list)
            values[key] = tuple(value)
    return GeneratorConfig(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 on success, 2 on bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.verbose and not args.quiet:
        logging.getLogger("gym_powergrid").setLevel(logging.INFO)
    if args.from_grid2op is not None:
        return _from_grid2op(args)
    if args.case is None or args.seed is None:
        parser.error("--case and --seed are required (or convert with --from-grid2op FOLDER)")
    try:
        gen_cfg = generator_config_from_args(args)
        case = resolve_case(args.case)
        command = shlex.join(["python", "-m", "gym_powergrid.new_env", *argv])
        compression = None if args.compression == "none" else args.compression
        level_path = Path(args.out) / args.name / args.level
        if level_path.exists() and not args.overwrite:
            raise FileExistsError(f"{level_path} exists; pass --overwrite to replace it")
        config_values = _key_values(args.config, "--config")
        GameConfig.from_dict(config_values)  # bad keys fail before the slow part
        grid = _round_trip_grid(case, args.name)
        game = default_config(grid, **config_values)
        path, generated = create_environment(
            args.out, args.name, grid, args.seed, gen_cfg, game, level=args.level,
            compression=compression, overwrite=args.overwrite, command=command,
            round_trip=False, progress=not args.quiet)
    except (ConfigurationError, UnsupportedGridError, FileExistsError,
            FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - command-line output
        return 2
    if not args.quiet:
        n_steps = sum(s.n_steps for s in generated.stats)
        n_over = sum(s.n_steps_overloaded for s in generated.stats)
        print(f"wrote {path} ({len(generated.chronics)} chronics, {n_steps} steps, "  # noqa: T201
              f"{n_over} steps with a line above 100% in base topology)")
    return 0


def _from_grid2op(args: argparse.Namespace) -> int:
    from .errors import PowerGridError
    from .grid2op_source import convert_to_parameter_folder

    if args.case is not None:
        print("error: --case and --from-grid2op exclude each other", file=sys.stderr)  # noqa: T201
        return 2
    try:
        pf = convert_to_parameter_folder(
            args.from_grid2op, args.out, args.name, level=args.level,
            compression=None if args.compression == "none" else args.compression,
            overwrite=args.overwrite)
    except (PowerGridError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - command-line output
        return 2
    if not args.quiet:
        print(f"wrote {pf.path} ({len(pf.chronics)} chronics converted from "  # noqa: T201
              f"{args.from_grid2op})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
