"""Grid2Op environment folders as parameter sources.

A Grid2Op environment folder (``l2rpn_case14_sandbox``, ``rte_case14_realistic``...) holds::

    <env>/grid.json                          the grid, a pandapower net
    <env>/config.py                          Grid2Op classes + literal settings (thermal_limits,
                                             names_chronics_to_grid); read with ``ast``, never run
    <env>/params.json                        optional Grid2Op ``Parameters`` (game rules)
    <env>/chronics/<scenario>/               one folder per scenario:
        load_p, load_q, prod_p, prod_v       ``;``-separated, one named column per element,
        *_forecasted                         ``.csv`` or ``.csv.bz2`` (or any pandas compression)
        maintenance, hazards                 optional, 1 while the line is out
        start_datetime.info, time_interval.info

:class:`Grid2OpFolder` reads it lazily (one scenario at a time, as pypownet chronics) into the
same :class:`~gym_powergrid.grid.arrays.GridArrays`, :class:`~gym_powergrid.config.GameConfig`
and :class:`~gym_powergrid.chronics.looping.ChronicSet` a pypownet folder gives, so
``PowerGridEnv(parameters=<Grid2Op folder>)`` plays it.

Element names and order follow Grid2Op's (:func:`grid2op_names`): generators in ``net.gen``
order, loads in ``net.load`` order, branches ``net.line`` then ``net.trafo`` (origin: from bus /
high-voltage side), so an action on line ``k`` is Grid2Op's line ``k``.
Grid2Op's slack generator (``gen.slack``) becomes the slack of the fast core (it keeps its
place and name).

Conventions translated:

- ``*_forecasted`` row ``t`` is Grid2Op's forecast, made at step ``t``, of step ``t + 1``; it
  becomes planned row ``t + 1`` (the env shows planned row ``t + 1`` at step ``t``, pypownet's
  rule). Planned row 0 is the actual row 0. Without forecast files the actual values are used.
- ``maintenance`` / ``hazards`` are 0/1 per step; a run of ``d`` ones starting at ``t`` becomes
  the duration ``d`` at row ``t`` (the chronic encoding).
- ``prod_v`` is in kV; it is divided by the generator bus's nominal voltage.
- Thermal limits: ``config.py``'s ``thermal_limits`` (list in line order or dict by name), else
  the net's (lines ``max_i_ka``, transformers ``sn_mva`` at the high-voltage side).
- Rules: Grid2Op's ``Parameters`` (defaults, or ``params.json``) mapped onto the configuration
  (:func:`grid2op_config`).

Unsupported parts (redispatching characteristics, storage units, opponents, alarms and
alerts, curtailment) are reported once per folder by name (a ``WARNING`` log) and left out.
Anything that cannot be played correctly (distributed slacks, static generators, missing or
mismatched files) raises an error naming it.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import logging
import os
from functools import cached_property
from pathlib import Path

import numpy as np

from .chronics.chronic import Chronic
from .chronics.looping import ChronicSet
from .config import GameConfig
from .errors import ChronicError, ConfigurationError, UnsupportedGridError
from .grid.arrays import GridArrays

logger = logging.getLogger(__name__)

GRID_FILE = "grid.json"
CONFIG_FILE = "config.py"
PARAMS_FILE = "params.json"
CHRONICS_DIR = "chronics"
#: Scenario files: stem -> (element kind, required).
SCENARIO_FILES: dict[str, tuple[str, bool]] = {
    "load_p": ("load", True), "load_q": ("load", True), "prod_p": ("prod", True),
    "prod_v": ("prod", False),
    "load_p_forecasted": ("load", False), "load_q_forecasted": ("load", False),
    "prod_p_forecasted": ("prod", False), "prod_v_forecasted": ("prod", False),
    "maintenance": ("line", False), "hazards": ("line", False),
}
#: Grid2Op's default start date and step when the ``.info`` files are missing.
DEFAULT_START = np.datetime64("2019-01-01T00:00", "m")
DEFAULT_INTERVAL = np.timedelta64(5, "m")
#: Grid2Op's default Parameters (grid2op 1.12), the keys this reader maps.
GRID2OP_DEFAULT_PARAMETERS: dict[str, object] = {
    "NB_TIMESTEP_OVERFLOW_ALLOWED": 2, "NB_TIMESTEP_RECONNECTION": 10,
    "HARD_OVERFLOW_THRESHOLD": 2.0, "SOFT_OVERFLOW_THRESHOLD": 1.0, "ENV_DC": False,
    "MAX_SUB_CHANGED": 1, "MAX_LINE_STATUS_CHANGED": 1, "NB_TIMESTEP_COOLDOWN_LINE": 0,
    "NB_TIMESTEP_COOLDOWN_SUB": 0, "NO_OVERFLOW_DISCONNECTION": False,
}
#: Files/settings of Grid2Op this reader leaves out, with what they are.
UNSUPPORTED_FILES: dict[str, str] = {
    "prods_charac.csv": "redispatching characteristics (ramps, costs, Pmin/Pmax)",
    "storage_units_charac.csv": "storage units",
    "alerts_info.json": "alerts",
    "loads_charac.csv": "load characteristics",
}
_REPORTED: set[tuple[str, str]] = set()


def is_grid2op_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a Grid2Op environment folder (``grid.json`` + ``chronics/``)."""
    p = Path(path)
    return (p / GRID_FILE).is_file() and (p / CHRONICS_DIR).is_dir()


def _report_once(folder: Path, part: str, what: str) -> None:
    key = (str(folder.resolve()), part)
    if key not in _REPORTED:
        _REPORTED.add(key)
        logger.warning("%s: %s (%s) is not supported by gym_powergrid and is left out",
                       folder.name, part, what)


def read_config_literals(path: Path) -> dict:
    """The literal entries of the ``config = {...}`` dict of a Grid2Op ``config.py``.

    The file is parsed, never executed: entries naming Grid2Op classes are returned as their
    names (strings); ``thermal_limits`` and ``names_chronics_to_grid`` keep their values.
    """
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise ConfigurationError(
            f"{path}: not valid Python ({exc.msg}, line {exc.lineno})") from exc
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "config"
                                                 for t in node.targets)
                and isinstance(node.value, ast.Dict)):
            out = {}
            for k, v in zip(node.value.keys, node.value.values):
                if not isinstance(k, ast.Constant):
                    continue
                try:
                    out[k.value] = ast.literal_eval(v)
                except ValueError:
                    out[k.value] = ast.unparse(v)
            return out
    raise ConfigurationError(f"{path}: no 'config = {{...}}' dictionary found (Grid2Op layout)")


def grid2op_config(parameters: dict | None = None, **overrides) -> GameConfig:
    """Grid2Op's game ``Parameters`` expressed as a :class:`GameConfig`.

    Args:
        parameters: Grid2Op ``Parameters`` keys (``params.json``); missing keys take Grid2Op's
            defaults (:data:`GRID2OP_DEFAULT_PARAMETERS`).
        **overrides: any ``configuration.yaml`` key, applied last.

    A line overflowed more than ``NB_TIMESTEP_OVERFLOW_ALLOWED`` consecutive steps, or above
    ``HARD_OVERFLOW_THRESHOLD`` times its limit, is disconnected for ``NB_TIMESTEP_RECONNECTION``
    steps; one substation and one line status change per step; any lost load or generator ends
    the episode (Grid2Op's game over).
    """
    p = dict(GRID2OP_DEFAULT_PARAMETERS)
    p.update(parameters or {})
    if p["NO_OVERFLOW_DISCONNECTION"]:
        raise ConfigurationError("Grid2Op parameter NO_OVERFLOW_DISCONNECTION=True has no "
                                 "equivalent here (overloaded lines always break)")
    if float(p["SOFT_OVERFLOW_THRESHOLD"]) != 1.0:
        raise ConfigurationError(f"Grid2Op parameter SOFT_OVERFLOW_THRESHOLD="
                                 f"{p['SOFT_OVERFLOW_THRESHOLD']} is not supported (only 1.0: a "
                                 "line is overflowed above its thermal limit)")
    values = {
        "loadflow_backend": "numba",
        "loadflow_mode": "DC" if p["ENV_DC"] else "AC",
        "hard_overflow_coefficient": float(p["HARD_OVERFLOW_THRESHOLD"]),
        "n_timesteps_consecutive_soft_overflow_breaks": int(p["NB_TIMESTEP_OVERFLOW_ALLOWED"]) + 1,
        "n_timesteps_soft_overflow_is_broken": int(p["NB_TIMESTEP_RECONNECTION"]),
        "n_timesteps_hard_overflow_is_broken": int(p["NB_TIMESTEP_RECONNECTION"]),
        "n_timesteps_actionned_line_reactionable": int(p["NB_TIMESTEP_COOLDOWN_LINE"]),
        "n_timesteps_actionned_node_reactionable": int(p["NB_TIMESTEP_COOLDOWN_SUB"]),
        "max_number_actionned_substations": int(p["MAX_SUB_CHANGED"]),
        "max_number_actionned_lines": int(p["MAX_LINE_STATUS_CHANGED"]),
        "max_number_actionned_total": int(p["MAX_SUB_CHANGED"]) + int(p["MAX_LINE_STATUS_CHANGED"]),
        "max_number_loads_game_over": 0,
        "max_number_prods_game_over": 0,
    }
    values.update(overrides)
    return GameConfig.from_dict(values)


def grid2op_net(net):
    """A copy of a Grid2Op ``grid.json`` net the converter accepts, and the slack gen's row.

    Grid2Op's slack is the one ``gen`` row with ``slack=True`` (no ext_grid): it becomes an
    ext_grid with the generator's voltage set-point, name and bus, removed from ``gen``.

    Returns:
        ``(net copy, positional row of the slack generator in net.gen)``.

    Raises:
        UnsupportedGridError: naming what cannot be played (several slacks, an ext_grid beside
            a slack generator, static generators, out-of-service elements).
    """
    problems = []
    gen = net.gen
    slack = gen.slack.astype(bool).to_numpy() if "slack" in gen else np.zeros(len(gen), bool)
    n_ext = len(net.ext_grid) if "ext_grid" in net else 0
    if "sgen" in net and len(net.sgen):
        problems.append(f"table 'sgen' has {len(net.sgen)} static generator(s): Grid2Op does "
                        "not expose them, so their injections cannot be driven by the scenarios")
    for table in ("gen", "load", "line", "trafo"):
        df = net[table]
        if len(df) and not df.in_service.astype(bool).all():
            problems.append(f"table '{table}' has out-of-service rows; Grid2Op's element order "
                            "includes them and gym_powergrid would drop them")
    if n_ext:
        problems.append(f"the net has {n_ext} ext_grid(s): Grid2Op adds a generator for it; "
                        "make the slack a 'gen' row with slack=True instead")
    elif slack.sum() != 1:
        problems.append(f"table 'gen' has {int(slack.sum())} slack=True rows: exactly one "
                        "slack generator is needed (distributed slack is not supported)")
    if problems:
        raise UnsupportedGridError("this Grid2Op grid cannot be played by gym_powergrid:\n  - "
                                   + "\n  - ".join(problems))
    import pandas as pd

    work = copy.deepcopy(net)
    s = int(np.flatnonzero(slack)[0])
    row = work.gen.iloc[s]
    ext = pd.DataFrame({"name": [row.get("name")], "bus": [int(row.bus)],
                        "vm_pu": [float(row.vm_pu)], "va_degree": [0.0],
                        "slack_weight": [1.0], "in_service": [True]})
    work.ext_grid = ext.astype({"bus": work.bus.index.dtype})
    work.gen = work.gen.drop(index=work.gen.index[s])
    work.gen["slack"] = False
    return work, s


def grid2op_names(net) -> dict[str, np.ndarray]:
    """Grid2Op's element names of a net, in Grid2Op's order (PandaPowerBackend's rule).

    A table whose ``name`` column has no missing value keeps its names; otherwise lines are
    ``<from_bus>_<to_bus>_<i>``, transformers ``<a>_<b>_<n_line + i>`` with their two bus labels
    sorted as text, generators ``gen_<bus>_<i>``, loads ``load_<bus>_<i>``; substations are
    ``sub_<bus label>``.
    """
    def given(df):
        if "name" in df and len(df) and not df["name"].isnull().any():
            return [str(x) for x in df["name"]]
        return None

    def ints(col):
        return [int(b) for b in col]

    lines = given(net.line) or [f"{o}_{e}_{i}" for i, (o, e) in
                                enumerate(zip(ints(net.line.from_bus), ints(net.line.to_bus)))]
    n = len(net.line)
    trafos = given(net.trafo) or [
        "{}_{}_{}".format(*sorted((str(h), str(lv))), n + i)
        for i, (h, lv) in enumerate(zip(ints(net.trafo.hv_bus), ints(net.trafo.lv_bus)))]
    gens = given(net.gen) or [f"gen_{b}_{i}" for i, b in enumerate(ints(net.gen.bus))]
    loads = given(net.load) or [f"load_{b}_{i}" for i, b in enumerate(ints(net.load.bus))]
    return {"sub": np.array([f"sub_{b}" for b in net.bus.index], dtype=object),
            "prod": np.array(gens, dtype=object), "load": np.array(loads, dtype=object),
            "line": np.array(lines + trafos, dtype=object)}


def _reorder_prods(grid: GridArrays, order: np.ndarray, names: dict) -> GridArrays:
    """``grid`` with production ``k`` = old production ``order[k]`` and Grid2Op's names."""
    changes = {f.name: getattr(grid, f.name)[order] for f in dataclasses.fields(grid)
               if f.name.startswith("prod_")}
    changes.update(prod_name=names["prod"], load_name=names["load"], line_name=names["line"],
                   sub_name=names["sub"])
    return dataclasses.replace(grid, **changes)


def find_scenario_file(folder: Path, stem: str) -> Path | None:
    """``<stem>.csv`` or a compressed ``<stem>.csv.<ext>`` in ``folder``, or None."""
    plain = folder / f"{stem}.csv"
    if plain.is_file():
        return plain
    found = sorted(folder.glob(f"{stem}.csv.*"))
    return found[0] if found else None


def _read_table(path: Path, names: np.ndarray, rename: dict | None) -> np.ndarray:
    """Read one ``;``-separated scenario file, columns reordered into ``names`` order."""
    import pandas as pd

    try:
        df = pd.read_csv(path, sep=";")
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds; name the file
        raise ChronicError(f"{path}: cannot be read as a ';'-separated CSV file ({exc})") from exc
    cols = [str(c) for c in df.columns]
    if rename:
        cols = [rename.get(c, c) for c in cols]
    if len(cols) != len(names):
        raise ChronicError(f"{path}: {len(cols)} columns, but the grid has {len(names)} such "
                           f"elements ({', '.join(map(str, names[:6]))}...)")
    where = {c: i for i, c in enumerate(cols)}
    unknown = [c for c in cols if c not in set(names)]
    if unknown or len(where) != len(cols):
        raise ChronicError(f"{path}: column names {unknown[:5] or 'repeated'} do not match the "
                           f"grid's element names ({', '.join(map(str, names[:6]))}...); map them "
                           "with 'names_chronics_to_grid' in config.py")
    values = df.to_numpy()
    if values.dtype.kind not in "fiu":
        bad = next(c for c in df.columns if df[c].dtype.kind not in "fiu")
        raise ChronicError(f"{path}: column {bad!r} holds non-numeric values")
    values = values[:, [where[n] for n in names]].astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ChronicError(f"{path}: missing or non-finite value at data row {r + 1}, column "
                           f"{names[c]!r}")
    return values


def _runs_to_durations(flags: np.ndarray) -> np.ndarray:
    """0/1 per step (Grid2Op) -> run length at the first step of each run (chronic encoding)."""
    on = flags > 0
    out = np.zeros(flags.shape, np.int32)
    t_len = on.shape[0]
    for j in range(on.shape[1]):
        col = on[:, j]
        starts = np.flatnonzero(col & ~np.r_[False, col[:-1]])
        ends = np.flatnonzero(col & ~np.r_[col[1:], False]) + 1
        out[starts, j] = (ends - starts)[: len(starts)] if t_len else 0
    return out


def _read_info(folder: Path) -> tuple[np.datetime64, np.timedelta64]:
    start, step = DEFAULT_START, DEFAULT_INTERVAL
    p = folder / "start_datetime.info"
    if p.is_file():
        text = p.read_text().strip()
        try:
            start = np.datetime64(text.replace(" ", "T"), "m")
        except ValueError as exc:
            raise ChronicError(f"{p}: {text!r} is not a date 'YYYY-MM-DD HH:MM'") from exc
    else:
        logger.info("%s has no start_datetime.info; starting at %s (Grid2Op's default)",
                    folder, start)
    p = folder / "time_interval.info"
    if p.is_file():
        text = p.read_text().strip()
        try:
            h, m = (int(x) for x in text.split(":")[:2])
            step = np.timedelta64(60 * h + m, "m")
        except ValueError as exc:
            raise ChronicError(f"{p}: {text!r} is not a duration 'HH:MM'") from exc
        if step <= np.timedelta64(0, "m"):
            raise ChronicError(f"{p}: the time interval must be positive, got {text!r}")
    return start, step


def read_scenario(folder: str | os.PathLike, grid: GridArrays, limits_a: np.ndarray,
                  rename: dict | None = None, dtype: type = np.float32) -> Chronic:
    """Read one Grid2Op scenario folder into a :class:`Chronic` in Grid2Op's element order.

    Raises:
        ChronicError: naming the file for a missing required file, a column count or names that
            do not match the grid, non-numeric or missing values, row counts that differ.
    """
    folder = Path(folder)
    names = {"prod": grid.prod_name, "load": grid.load_name, "line": grid.line_name}
    missing = [s for s, (_, req) in SCENARIO_FILES.items()
               if req and find_scenario_file(folder, s) is None]
    if missing:
        raise ChronicError(f"{folder}: missing scenario file(s) "
                           f"{', '.join(m + '.csv[.bz2]' for m in missing)}; a Grid2Op scenario "
                           "needs load_p, load_q and prod_p")
    tables: dict[str, np.ndarray] = {}
    n_rows = None
    for stem, (kind, _) in SCENARIO_FILES.items():
        path = find_scenario_file(folder, stem)
        if path is None:
            continue
        tables[stem] = _read_table(path, names[kind], (rename or {}).get(kind))
        if n_rows is None:
            n_rows = tables[stem].shape[0]
        elif tables[stem].shape[0] != n_rows:
            raise ChronicError(f"{path}: {tables[stem].shape[0]} rows, but load_p has {n_rows}")
    if not n_rows:
        raise ChronicError(f"{folder}: the scenario files have no data row")
    vn = grid.sub_vn_kv[grid.prod_sub_idx]
    if "prod_v" in tables:
        prod_v = tables["prod_v"] / vn
    else:
        logger.info("%s has no prod_v file: generators keep the grid's voltage set-points", folder)
        prod_v = np.broadcast_to(grid.prod_vm_pu, (n_rows, grid.n_prod))

    def planned(stem: str, actual: np.ndarray) -> np.ndarray:
        fc = tables.get(f"{stem}_forecasted")
        if fc is None:
            return actual
        out = np.empty_like(actual)
        out[0] = actual[0]
        out[1:] = fc[:-1]
        return out

    zeros = np.zeros((n_rows, grid.n_line), np.int32)
    start, step = _read_info(folder)
    chronic = Chronic(
        name=folder.name,
        prod_p_mw=tables["prod_p"].astype(dtype), prod_v_pu=prod_v.astype(dtype),
        load_p_mw=tables["load_p"].astype(dtype), load_q_mvar=tables["load_q"].astype(dtype),
        prod_p_planned_mw=planned("prod_p", tables["prod_p"]).astype(dtype),
        prod_v_planned_pu=(planned("prod_v", tables["prod_v"]) / vn).astype(dtype)
        if "prod_v" in tables else prod_v.astype(dtype),
        load_p_planned_mw=planned("load_p", tables["load_p"]).astype(dtype),
        load_q_planned_mvar=planned("load_q", tables["load_q"]).astype(dtype),
        maintenance=_runs_to_durations(tables["maintenance"]) if "maintenance" in tables else zeros,
        hazards=_runs_to_durations(tables["hazards"]) if "hazards" in tables else zeros,
        datetimes=start + step * np.arange(1, n_rows + 1),  # Grid2Op: row t at start+(t+1)*dt
        simu_ids=np.arange(n_rows, dtype=np.int64),
        line_limit_a=np.asarray(limits_a, np.float64),
        source=folder,
    )
    return chronic.validate(grid.n_prod, grid.n_load, grid.n_line)


class Grid2OpChronicSet(ChronicSet):
    """The scenarios of a Grid2Op ``chronics/`` folder, read lazily with :func:`read_scenario`."""

    def __init__(self, folder: Path, grid: GridArrays, limits_a: np.ndarray,
                 rename: dict | None = None, *, looping_mode: str = "natural",
                 max_cached: int | None = 1) -> None:
        super().__init__(folder, grid.n_prod, grid.n_load, grid.n_line,
                         looping_mode=looping_mode, max_cached=max_cached)
        self._grid, self._limits, self._rename = grid, limits_a, rename

    def _read(self, path: Path) -> Chronic:
        return read_scenario(path, self._grid, self._limits, self._rename)


class Grid2OpFolder:
    """A Grid2Op environment folder read as a parameter source (see the module doc).

    Args:
        path: the environment folder (holding ``grid.json`` and ``chronics/``).

    Raises:
        FileNotFoundError: if ``grid.json`` or ``chronics/`` is missing.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        for need, kind in ((GRID_FILE, "file"), (CHRONICS_DIR, "folder")):
            p = self.path / need
            if not (p.is_file() if kind == "file" else p.is_dir()):
                raise FileNotFoundError(f"{self.path} is not a Grid2Op environment folder: it "
                                        f"has no {need} {kind}")
        self._report_unsupported()

    def _report_unsupported(self) -> None:
        for name, what in UNSUPPORTED_FILES.items():
            if (self.path / name).is_file():
                _report_once(self.path, name, what)
        for key, value in self.settings.items():
            low = key.lower()
            if any(w in low for w in ("opponent", "alarm", "alert", "attention")) and value \
                    and "Dont" not in str(value) and "Base" not in str(value):
                _report_once(self.path, f"config.py '{key}'", "opponents, alarms and alerts")

    @cached_property
    def settings(self) -> dict:
        """Literal entries of ``config.py`` (empty when the file is missing)."""
        p = self.path / CONFIG_FILE
        return read_config_literals(p) if p.is_file() else {}

    @cached_property
    def parameters(self) -> dict:
        """Grid2Op ``Parameters`` of ``params.json`` (empty: Grid2Op's defaults)."""
        p = self.path / PARAMS_FILE
        if not p.is_file():
            return {}
        try:
            return json.loads(p.read_text())
        except ValueError as exc:
            raise ConfigurationError(f"{p}: not valid JSON ({exc})") from exc

    @cached_property
    def config(self) -> GameConfig:
        """Grid2Op's rules as a :class:`GameConfig` (:func:`grid2op_config`)."""
        known = {k: v for k, v in self.parameters.items() if k in GRID2OP_DEFAULT_PARAMETERS}
        return grid2op_config(known)

    @cached_property
    def raw_net(self):  # noqa: ANN201 - pandapowerNet
        """``grid.json`` as Grid2Op reads it."""
        import pandapower as pp

        try:
            return pp.from_json(str(self.path / GRID_FILE))
        except Exception as exc:  # noqa: BLE001 - name the file whatever pandapower raises
            raise UnsupportedGridError(f"{self.path / GRID_FILE}: not a pandapower net "
                                       f"({type(exc).__name__}: {exc})") from exc

    @cached_property
    def _converted(self) -> tuple[object, GridArrays]:
        from .grid.convert import from_pandapower

        net, s = grid2op_net(self.raw_net)
        grid = from_pandapower(net, name=self.path.name)
        n = grid.n_prod
        # converted order: [slack (gen row s), other gens]; Grid2Op's: net.gen rows
        order = np.array([0 if k == s else 1 + k - (k > s) for k in range(n)], dtype=np.int64)
        return net, _reorder_prods(grid, order, grid2op_names(self.raw_net))

    @property
    def net(self):  # noqa: ANN201 - pandapowerNet
        """The net the grid was converted from (slack generator as ext_grid)."""
        return self._converted[0]

    @property
    def grid(self) -> GridArrays:
        """The grid, elements in Grid2Op's order with Grid2Op's names."""
        return self._converted[1]

    @cached_property
    def thermal_limits_a(self) -> np.ndarray:
        """Thermal limits (A) per line, as Grid2Op uses them."""
        grid = self.grid
        lim = self.settings.get("thermal_limits")
        if lim is None:
            return grid.line_limit_or_a.copy()
        if isinstance(lim, dict):
            missing = [n for n in grid.line_name if n not in lim]
            if missing:
                raise ConfigurationError(f"{self.path / CONFIG_FILE}: thermal_limits has no value "
                                         f"for line(s) {', '.join(missing[:5])}")
            lim = [lim[n] for n in grid.line_name]
        arr = np.asarray(lim, dtype=np.float64)
        if arr.shape != (grid.n_line,) or not np.all(arr > 0):
            raise ConfigurationError(f"{self.path / CONFIG_FILE}: thermal_limits must be "
                                     f"{grid.n_line} positive values (one per line), got "
                                     f"{arr.shape[0] if arr.ndim else arr} value(s)")
        return arr

    @cached_property
    def rename(self) -> dict | None:
        """Column renames from ``names_chronics_to_grid`` (None when absent)."""
        m = self.settings.get("names_chronics_to_grid")
        if not m:
            return None
        if not isinstance(m, dict):
            raise ConfigurationError(f"{self.path / CONFIG_FILE}: names_chronics_to_grid must "
                                     f"be a literal dict, got {m!r}")
        return {"load": m.get("loads", {}), "prod": m.get("prods", {}),
                "line": m.get("lines", {})}

    @cached_property
    def chronics(self) -> Grid2OpChronicSet:
        """The scenarios, one read at a time (the last one kept in memory)."""
        return Grid2OpChronicSet(self.path / CHRONICS_DIR, self.grid, self.thermal_limits_a,
                                 self.rename, looping_mode=self.config.chronic_looping_mode)

    def __repr__(self) -> str:
        return f"Grid2OpFolder({str(self.path)!r})"


def convert_to_parameter_folder(source: str | os.PathLike, out: str | os.PathLike,
                                name: str | None = None, *, level: str = "level0",
                                compression: str | None = "bz2", overwrite: bool = False):
    """Write a Grid2Op environment folder as a pypownet-layout parameter folder.

    The grid (Grid2Op's element order and names), the Grid2Op rules as ``configuration.yaml``
    and every scenario (read one at a time) are written to ``out/<name>/<level>/``.

    Returns:
        The written :class:`~gym_powergrid.params.ParameterFolder`.
    """
    from .params import write_parameter_folder

    g2o = Grid2OpFolder(source)
    target = Path(out) / (name or g2o.path.name)
    g = g2o.grid
    # MATPOWER keeps no names: headers in pypownet's positional style (<bus>_G..., <bus>_C...),
    # which the reader takes in file order, keep Grid2Op's names visible after the marker
    grid = dataclasses.replace(
        g, prod_name=np.array([f"{s}_G_{n}" for s, n in zip(g.prod_sub_idx, g.prod_name)],
                              dtype=object),
        load_name=np.array([f"{s}_C_{n}" for s, n in zip(g.load_sub_idx, g.load_name)],
                           dtype=object))
    return write_parameter_folder(target, grid, g2o.config, g2o.chronics, level=level,
                                  compression=compression, overwrite=overwrite)
