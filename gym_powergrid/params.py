"""pypownet parameter folders: read them as they are, and write new ones in the same layout.

Layout (``default14/`` in pypownet)::

    <env>/reward_signal.py                 optional; the environment decides how to load it
    <env>/<level>/configuration.yaml       game parameters (GameConfig)
    <env>/<level>/reference_grid.m         MATPOWER grid, with pypownet's 666<n> sister buses
    <env>/<level>/chronics/<chronic>/      one folder of 13 CSV files per chronic

A folder written for pypownet loads without edits: the reference grid goes through
:func:`~gym_powergrid.grid.matpower.read_matpower` (sister buses dropped, element order kept),
chronic columns are reordered from the file order into the grid order, production voltages in
kV (what pypownet's code reads) are converted to p.u., and production voltages ``<= 0``
(pypownet's "production off" marker) are accepted: ``Chronic.prod_off_mask`` tells where.

Example:
    >>> folder = ParameterFolder("default14")            # doctest: +SKIP
    >>> folder.levels, folder.config.loadflow_mode      # doctest: +SKIP
    (('level0',), 'AC')
    >>> chronic, start = folder.chronics.select(rng)     # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from .chronics import Chronic, ChronicSet, write_chronic
from .config import GameConfig
from .errors import ChronicError, ConfigurationError
from .grid.arrays import GridArrays
from .grid.matpower import ColumnOrder, pypownet_column_order, read_matpower, write_matpower

logger = logging.getLogger(__name__)

REWARD_FILE = "reward_signal.py"
CONFIG_FILE = "configuration.yaml"
GRID_FILES = ("reference_grid.m", "reference_grid.mat")
CHRONICS_DIR = "chronics"


def _is_level(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith((".", "_")) and (
        (path / CONFIG_FILE).is_file() or (path / CHRONICS_DIR).is_dir()
        or any((path / g).is_file() for g in GRID_FILES))


class ParameterFolder:
    """One level of a pypownet parameter folder, read lazily.

    Args:
        path: the environment folder (``<env>``, holding the level folders).
        level: level name; default the first level in name order (``level0``).

    Raises:
        FileNotFoundError: if ``path`` is not a folder or holds no level folder.
        ConfigurationError: for an unknown level name.
    """

    def __init__(self, path: str | os.PathLike, level: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"parameter folder {self.path} does not exist")
        self.levels: tuple[str, ...] = tuple(sorted(p.name for p in self.path.iterdir()
                                                    if _is_level(p)))
        if not self.levels:
            raise FileNotFoundError(
                f"{self.path} holds no level folder: expected <level>/{CONFIG_FILE}, "
                f"<level>/{GRID_FILES[0]} and <level>/{CHRONICS_DIR}/<chronic>/ (pypownet layout)")
        if level is None:
            level = self.levels[0]
        if level not in self.levels:
            hint = difflib.get_close_matches(str(level), self.levels, n=1)
            extra = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ConfigurationError(f"unknown level {level!r} in {self.path}.{extra} "
                                     f"Levels: {', '.join(self.levels)}")
        self.level = level

    # ------------------------------------------------------------------ paths
    @property
    def level_path(self) -> Path:
        return self.path / self.level

    @property
    def reward_signal_path(self) -> Path | None:
        """``<env>/reward_signal.py`` if present (the environment decides how to use it)."""
        p = self.path / REWARD_FILE
        return p if p.is_file() else None

    @property
    def config_path(self) -> Path:
        return self.level_path / CONFIG_FILE

    @property
    def reference_grid_path(self) -> Path:
        for name in GRID_FILES:
            if (self.level_path / name).is_file():
                return self.level_path / name
        raise FileNotFoundError(f"{self.level_path} has no reference grid: expected "
                                f"{' or '.join(GRID_FILES)}")

    @property
    def chronics_path(self) -> Path:
        return self.level_path / CHRONICS_DIR

    def with_level(self, level: str) -> ParameterFolder:
        """The same environment at another level."""
        return ParameterFolder(self.path, level)

    # ------------------------------------------------------------------ contents
    @cached_property
    def config(self) -> GameConfig:
        """The level's :class:`GameConfig` (from ``configuration.yaml``)."""
        if not self.config_path.is_file():
            raise FileNotFoundError(f"{self.level_path} has no {CONFIG_FILE}; write one with "
                                    "GameConfig().to_yaml(path) (every key has a default)")
        return GameConfig.from_yaml(self.config_path)

    @cached_property
    def net(self):  # noqa: ANN201 - pandapowerNet
        """The reference grid as a pandapower net (shared: copy it before modifying it)."""
        return read_matpower(self.reference_grid_path)

    @cached_property
    def _grid_and_order(self) -> tuple[GridArrays, ColumnOrder]:
        """The grid and the column order, from the grid cache (:mod:`.grid.cache`, no
        pandapower) when this grid file was converted before, else converted and cached."""
        from .grid import cache
        from .grid.convert import from_pandapower

        name = f"{self.path.name}/{self.level}"
        grid_file = self.reference_grid_path
        hit = cache.load(grid_file, name)
        if hit is not None:
            return hit
        grid = from_pandapower(self.net, name=name)
        order = pypownet_column_order(self.net, grid)
        cache.store(grid_file, name, grid, order)
        return grid, order

    @property
    def grid(self) -> GridArrays:
        """The reference grid as :class:`GridArrays`."""
        return self._grid_and_order[0]

    @property
    def column_order(self) -> ColumnOrder:
        """Where each grid element's column is in the chronic files."""
        return self._grid_and_order[1]

    @cached_property
    def chronics(self) -> ChronicSet:
        """The level's chronics, read lazily, in grid column order, voltages in p.u.

        The looping mode is the configuration's ``chronic_looping_mode``.
        """
        grid, order = self.grid, self.column_order
        base_kv_file = np.empty(grid.n_prod)
        base_kv_file[order.prod] = grid.sub_vn_kv[grid.prod_sub_idx]
        names = {}  # element names in file column order: headers are matched to them
        for kind, idx in (("prod", order.prod), ("load", order.load), ("line", order.line)):
            in_file = np.empty(len(idx), dtype=object)
            in_file[idx] = getattr(grid, f"{kind}_name")
            names[kind] = [str(x) for x in in_file]
        if not self.chronics_path.is_dir():
            raise ChronicError(f"{self.level_path} has no {CHRONICS_DIR}/ folder of chronics")
        return ChronicSet(self.chronics_path, grid.n_prod, grid.n_load, grid.n_line,
                          looping_mode=self.config.chronic_looping_mode,
                          transform=order.file_to_grid, allow_prod_off=True,
                          prod_v_base_kv=base_kv_file, names=names,
                          truncate_to_shortest=True)

    def __repr__(self) -> str:
        return f"ParameterFolder({str(self.path)!r}, level={self.level!r}, levels={self.levels})"


def _check_chronic_name(name: str) -> None:
    if not name or name.startswith(".") or any(c in name for c in '/\\:*?"<>|'):
        raise ChronicError(f"chronic name {name!r} cannot be a folder name; use letters, "
                           "digits, '-' and '_'")


def write_parameter_folder(
    path: str | os.PathLike,
    net_or_case_name,
    config: GameConfig | None,
    chronics: Sequence[Chronic],
    level: str = "level0",
    *,
    reward_signal: str | os.PathLike | None = None,
    compression: str | None = None,
    float_format: str | None = None,
    overwrite: bool = False,
) -> ParameterFolder:
    """Write a parameter folder in pypownet's layout and return it opened.

    Args:
        path: the environment folder (created if needed; other levels are left alone).
        net_or_case_name: a pandapower net, a named case (``"case14"``), a MATPOWER file or a
            :class:`GridArrays`. The reference grid is written as ``reference_grid.m`` with
            pypownet's sister buses.
        config: the level's configuration (None: defaults), written as ``configuration.yaml``.
        chronics: chronics in grid column order with voltages in p.u.; each is written to
            ``chronics/<chronic.name>/`` with columns in the file's order and voltages in kV, as
            pypownet reads them.
        level: level folder name.
        reward_signal: a Python file copied to ``<env>/reward_signal.py``.
        compression: None, ``"gzip"`` or ``"bz2"`` for the chronic files.
        float_format: printf format of the chronic values (default: exact, shortest).
        overwrite: replace an existing level folder (otherwise FileExistsError).

    Raises:
        ChronicError: if a chronic does not fit the grid, or names repeat or are not folder
            names.
        FileExistsError: if the level folder exists and ``overwrite`` is False.
    """
    from .grid.cases import load_grid

    grid = (net_or_case_name if isinstance(net_or_case_name, GridArrays)
            else load_grid(net_or_case_name))
    config = config if config is not None else GameConfig()
    if not chronics:
        raise ChronicError("a parameter folder needs at least one chronic")
    names = [c.name for c in chronics]
    if len(set(names)) != len(names):
        raise ChronicError(f"chronic names must be unique, got {names}")
    for c in chronics:
        _check_chronic_name(c.name)
        c.validate(grid.n_prod, grid.n_load, grid.n_line)
    env = Path(path)
    level_path = env / level
    if level_path.exists():
        if not overwrite:
            raise FileExistsError(f"{level_path} exists; pass overwrite=True to replace it")
        shutil.rmtree(level_path)
    level_path.mkdir(parents=True)
    order = write_matpower(grid, level_path / GRID_FILES[0])
    config.to_yaml(level_path / CONFIG_FILE)
    if reward_signal is not None:
        shutil.copyfile(reward_signal, env / REWARD_FILE)
    base_kv_grid = grid.sub_vn_kv[grid.prod_sub_idx]
    inverse = [np.argsort(order.prod), np.argsort(order.load), np.argsort(order.line)]
    file_names = [np.asarray(grid.prod_name)[inverse[0]], np.asarray(grid.load_name)[inverse[1]],
                  np.asarray(grid.line_name)[inverse[2]]]
    for c in chronics:
        write_chronic(order.grid_to_file(c), level_path / CHRONICS_DIR / c.name,
                      compression=compression, float_format=float_format,
                      prod_v_base_kv=base_kv_grid[inverse[0]], prod_names=file_names[0],
                      load_names=file_names[1], line_names=file_names[2])
    logger.info("wrote parameter folder %s (level %s, %d chronics)", env, level, len(chronics))
    return ParameterFolder(env, level)
