"""On-disk cache of the grid arrays of a parameter folder, so that building an environment from
a folder seen before needs neither pandapower nor the MATPOWER conversion.

An entry is one ``.npz`` file (no pickles) holding the :class:`GridArrays` and the chronic
column order of a level, named by a hash of the level's grid file contents, the grid's name,
the converter's sources and pandapower's version: editing the grid file (or upgrading the
converter) selects a new entry. The cache folder is ``$GYM_POWERGRID_CACHE_DIR`` if set (an
empty value or ``off`` disables the cache), else ``$XDG_CACHE_HOME/gym_powergrid/grids`` or
``~/.cache/gym_powergrid/grids``. Nothing is ever written inside the package; when the folder
cannot be written the cache is skipped with a debug log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from .arrays import GridArrays

logger = logging.getLogger(__name__)

ENV_VAR = "GYM_POWERGRID_CACHE_DIR"
FORMAT = "1"
#: sources whose code decides the converted arrays
_CONVERTER_FILES = ("arrays.py", "convert.py", "matpower.py", "matpower_model.py", "cache.py")
_SCALARS = ("sn_mva", "f_hz", "slack_va_rad")
_ORDER = ("prod", "load", "line")


def cache_folder() -> Path | None:
    """Where grid entries live, or None when the cache is disabled."""
    env = os.environ.get(ENV_VAR)
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none") else Path(env) / "grids"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gym_powergrid" / "grids"


def _pandapower_version() -> str:
    try:
        from importlib.metadata import version

        return version("pandapower")
    except Exception:  # noqa: BLE001 - not installed: the key still works
        return "none"


def entry_key(grid_file: Path, name: str) -> str:
    """Hash naming the cache entry of ``grid_file`` converted under ``name``."""
    h = hashlib.sha256()
    h.update(f"{FORMAT}|{name}|{_pandapower_version()}|".encode())
    here = Path(__file__).resolve().parent
    for f in _CONVERTER_FILES:
        h.update((here / f).read_bytes())
    h.update(Path(grid_file).read_bytes())
    return h.hexdigest()[:24]


def _pack(grid: GridArrays, order) -> dict:
    out = {"name": np.array(grid.name)}
    for f in dataclasses.fields(grid):
        v = getattr(grid, f.name)
        if f.name in ("name", "extra"):
            continue
        if f.name in _SCALARS:
            out[f.name] = np.array(float(v))
        elif v.dtype == object:
            out[f"str__{f.name}"] = np.asarray(v, dtype=str)
        else:
            out[f.name] = v
    for k, v in grid.extra.items():
        out[f"extra__{k}"] = np.asarray(v)
    for k in _ORDER:
        out[f"order__{k}"] = np.asarray(getattr(order, k))
    return out


def _unpack(data) -> tuple[GridArrays, object]:
    from .matpower import ColumnOrder

    kw: dict = {"extra": {}}
    for key in data.files:
        v = data[key]
        if key == "name":
            kw["name"] = str(v)
        elif key in _SCALARS:
            kw[key] = float(v)
        elif key.startswith("str__"):
            kw[key[5:]] = v.astype(object)
        elif key.startswith("extra__"):
            kw["extra"][key[7:]] = v
        elif not key.startswith("order__"):
            kw[key] = v
    order = ColumnOrder(*(data[f"order__{k}"] for k in _ORDER))
    return GridArrays(**kw), order


def load(grid_file: Path, name: str):
    """``(GridArrays, ColumnOrder)`` of ``grid_file`` from the cache, or None."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        path = folder / f"{entry_key(grid_file, name)}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return _unpack(data)
    except Exception as exc:  # noqa: BLE001 - a bad entry only costs a conversion
        logger.debug("grid cache: cannot read the entry of %s: %s", grid_file, exc)
        return None


def store(grid_file: Path, name: str, grid: GridArrays, order) -> Path | None:
    """Write the cache entry of ``grid_file``; returns its path, None when skipped."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{entry_key(grid_file, name)}.npz"
        tmp = folder / f".{path.stem}.{os.getpid()}.npz"
        np.savez(tmp, **_pack(grid, order))
        tmp.replace(path)
        return path
    except Exception as exc:  # noqa: BLE001 - read-only or full disk: no cache
        logger.debug("grid cache: cannot write in %s: %s", folder, exc)
        return None
