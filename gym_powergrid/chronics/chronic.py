"""The :class:`Chronic`: one scenario of time series that drives a grid, as plain numpy arrays.

Row ``t`` of every array is timestep ``t``. Columns follow the order of the grid the chronic was
built for (productions, loads, lines). A chronic read from pypownet files keeps the files' column
order; :meth:`Chronic.take_columns` reorders it (the parameter-folder reader does that).

Planned injections: ``*_planned_*[t]`` is the forecast of the injections of timestep ``t``, as
written in row ``t`` of the ``*_planned.csv`` files. pypownet shows an agent at step ``t`` the
forecast row ``t + 1`` (the next step); the environment does the same.

Maintenance and hazards: a value ``d > 0`` at row ``t`` makes the line unavailable for ``d``
steps from ``t`` (steps ``t .. t + d - 1``); see :mod:`gym_powergrid.chronics.events`.

Productions: pypownet switches a production off for a step by writing a voltage ``<= 0``.
Chronics accept that only when built with ``allow_prod_off=True``; :attr:`Chronic.prod_off_mask`
tells which productions are off.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ChronicError

logger = logging.getLogger(__name__)

#: Injection arrays: attribute name -> (element kind, file name in pypownet's format).
INJECTION_FIELDS: dict[str, tuple[str, str]] = {
    "prod_p_mw": ("prod", "_N_prods_p.csv"),
    "prod_v_pu": ("prod", "_N_prods_v.csv"),
    "load_p_mw": ("load", "_N_loads_p.csv"),
    "load_q_mvar": ("load", "_N_loads_q.csv"),
    "prod_p_planned_mw": ("prod", "_N_prods_p_planned.csv"),
    "prod_v_planned_pu": ("prod", "_N_prods_v_planned.csv"),
    "load_p_planned_mw": ("load", "_N_loads_p_planned.csv"),
    "load_q_planned_mvar": ("load", "_N_loads_q_planned.csv"),
}
#: Event arrays (durations in steps): attribute name -> file name.
EVENT_FIELDS: dict[str, str] = {"maintenance": "maintenance.csv", "hazards": "hazards.csv"}

#: Default duration of a step when a chronic has a single timestep.
DEFAULT_TIMESTEP = np.timedelta64(60, "m")


def first_bad_cell(mask: np.ndarray) -> tuple[int, int] | None:
    """Return ``(row, column)`` (0-based) of the first True cell of a 2-D mask, or None."""
    if mask.ndim == 1:
        mask = mask[:, None]
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    r = int(rows[0])
    return r, int(np.flatnonzero(mask[r])[0])


def value_problems(
    name: str, values: np.ndarray, *, allow_prod_off: bool
) -> tuple[np.ndarray, str] | None:
    """Return ``(mask of bad cells, what is wrong)`` for the first rule ``values`` breaks.

    The rules depend on the array ``name`` (an attribute name of :class:`Chronic`): every value
    must be finite; load active powers must be >= 0; production voltages must be > 0 unless
    ``allow_prod_off``; maintenance and hazards must be non-negative integers; thermal limits
    must be > 0.
    """
    bad = ~np.isfinite(values)
    if bad.any():
        return bad, "NaN, missing or infinite value"
    if name in ("load_p_mw", "load_p_planned_mw"):
        bad = values < 0
        if bad.any():
            return bad, "negative load active power (loads P must be >= 0)"
    elif name in ("prod_v_pu", "prod_v_planned_pu") and not allow_prod_off:
        bad = values <= 0
        if bad.any():
            return bad, ("non-positive production voltage (pypownet's 'production off' marker; "
                         "read with allow_prod_off=True to accept it)")
    elif name in EVENT_FIELDS:
        bad = (values < 0) | (values != np.round(values))
        if bad.any():
            return bad, "not a non-negative integer number of steps"
    elif name == "line_limit_a":
        bad = values <= 0
        if bad.any():
            return bad, "non-positive thermal limit (limits must be > 0 A)"
    return None


@dataclass(frozen=True, eq=False)
class Chronic:
    """One chronic: injections, forecasts, maintenance, hazards, dates and thermal limits.

    Arrays are read-only once the chronic is built. Injections are float32 by default (float64
    is kept when given), events int32, limits float64, dates ``datetime64[m]``.

    Attributes:
        name: chronic name (the folder name for chronics read from files).
        prod_p_mw: (T, n_prod) production active power.
        prod_v_pu: (T, n_prod) production voltage set-point; ``<= 0`` means off (pypownet).
        load_p_mw: (T, n_load) load active power (>= 0).
        load_q_mvar: (T, n_load) load reactive power.
        prod_p_planned_mw, prod_v_planned_pu, load_p_planned_mw, load_q_planned_mvar: forecasts
            of the same quantities, row ``t`` forecasting step ``t``.
        maintenance: (T, n_line) planned outages, ``d > 0`` at row ``t`` = unavailable for ``d``
            steps from ``t``.
        hazards: (T, n_line) unplanned outages, same encoding.
        datetimes: (T,) ``datetime64[m]``, strictly increasing.
        simu_ids: (T,) timestep ids (int64 when integral, float64 otherwise).
        line_limit_a: (n_line,) thermal limits in A.
        source: folder the chronic was read from, if any.
        allow_prod_off: whether production voltages ``<= 0`` (production off) are accepted.
    """

    name: str
    prod_p_mw: np.ndarray
    prod_v_pu: np.ndarray
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    prod_p_planned_mw: np.ndarray
    prod_v_planned_pu: np.ndarray
    load_p_planned_mw: np.ndarray
    load_q_planned_mvar: np.ndarray
    maintenance: np.ndarray
    hazards: np.ndarray
    datetimes: np.ndarray
    simu_ids: np.ndarray
    line_limit_a: np.ndarray
    source: Path | None = None
    allow_prod_off: bool = False

    def __post_init__(self) -> None:
        def fix(attr: str, arr: np.ndarray) -> None:
            arr = np.ascontiguousarray(arr)
            arr.flags.writeable = False
            object.__setattr__(self, attr, arr)

        for attr in INJECTION_FIELDS:
            arr = np.asarray(getattr(self, attr))
            if arr.dtype not in (np.float32, np.float64):
                arr = arr.astype(np.float32)
            fix(attr, arr)
        for attr in EVENT_FIELDS:
            arr = np.asarray(getattr(self, attr))
            if arr.dtype.kind == "f":
                problem = value_problems(attr, arr, allow_prod_off=True)
                if problem is not None:
                    self._raise(attr, problem)
            fix(attr, arr.astype(np.int32))
        fix("datetimes", np.asarray(self.datetimes).astype("datetime64[m]"))
        ids = np.asarray(self.simu_ids)
        if ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
            ids = ids.astype(np.int64)
        elif ids.dtype.kind in "iu":
            ids = ids.astype(np.int64)
        fix("simu_ids", ids)
        fix("line_limit_a", np.asarray(self.line_limit_a, dtype=np.float64))
        if self.source is not None:
            object.__setattr__(self, "source", Path(self.source))
        self._check_shapes()

    # ------------------------------------------------------------------ sizes
    @property
    def n_steps(self) -> int:
        """Number of timesteps T."""
        return int(self.datetimes.shape[0])

    @property
    def n_prod(self) -> int:
        return int(self.prod_p_mw.shape[1])

    @property
    def n_load(self) -> int:
        return int(self.load_p_mw.shape[1])

    @property
    def n_line(self) -> int:
        return int(self.line_limit_a.shape[0])

    def __len__(self) -> int:
        return self.n_steps

    @property
    def timestep(self) -> np.timedelta64:
        """Duration of a step, from the first two datetimes (pypownet's rule).

        A one-step chronic has no second date: one hour (:data:`DEFAULT_TIMESTEP`) is assumed.
        """
        if self.n_steps < 2:
            return DEFAULT_TIMESTEP
        return self.datetimes[1] - self.datetimes[0]

    @property
    def timestep_seconds(self) -> float:
        """Duration of a step in seconds."""
        return float(self.timestep / np.timedelta64(1, "s"))

    @property
    def prod_off_mask(self) -> np.ndarray:
        """(T, n_prod) bool: productions switched off by a voltage ``<= 0`` (pypownet)."""
        return self.prod_v_pu <= 0

    # ------------------------------------------------------------------ checks
    def _raise(self, attr: str, problem: tuple[np.ndarray, str]) -> None:
        mask, what = problem
        cell = first_bad_cell(mask)
        assert cell is not None
        row, col = cell
        where = f"step {row}, column {col}" if mask.ndim == 2 else f"index {row}"
        value = np.asarray(getattr(self, attr))
        bad_value = value[row, col] if value.ndim == 2 else value[row]
        raise ChronicError(
            f"chronic {self.name!r}: {attr} has a {what} at {where}: {bad_value!r}"
        )

    def _check_shapes(self) -> None:
        t = self.n_steps
        if self.datetimes.ndim != 1 or t == 0:
            raise ChronicError(f"chronic {self.name!r}: datetimes must be a non-empty 1-D array")
        if self.line_limit_a.ndim != 1:
            raise ChronicError(f"chronic {self.name!r}: line_limit_a must be 1-D (n_line,)")
        widths = {"prod": None, "load": None, "line": self.n_line}
        for attr, (kind, _) in INJECTION_FIELDS.items():
            arr = getattr(self, attr)
            if arr.ndim != 2 or arr.shape[0] != t:
                raise ChronicError(f"chronic {self.name!r}: {attr} has shape {arr.shape}, "
                                   f"expected ({t}, n_{kind}) with one row per datetime")
            if widths[kind] is None:
                widths[kind] = arr.shape[1]
            elif arr.shape[1] != widths[kind]:
                raise ChronicError(f"chronic {self.name!r}: {attr} has {arr.shape[1]} columns, "
                                   f"other {kind} arrays have {widths[kind]}")
        for attr in EVENT_FIELDS:
            arr = getattr(self, attr)
            if arr.shape != (t, self.n_line):
                raise ChronicError(f"chronic {self.name!r}: {attr} has shape {arr.shape}, "
                                   f"expected ({t}, {self.n_line}) (T, n_line)")
        if self.simu_ids.shape != (t,):
            raise ChronicError(f"chronic {self.name!r}: simu_ids has shape "
                               f"{self.simu_ids.shape}, expected ({t},)")

    def validate(self, n_prod: int | None = None, n_load: int | None = None,
                 n_line: int | None = None) -> Chronic:
        """Check sizes against a grid and every value rule; return ``self``.

        Chronics read from files are validated by the reader with file, line and column in the
        messages; call this for chronics built in memory (e.g. by a generator).

        Raises:
            ChronicError: naming the array, the step and the column of the first problem.
        """
        for kind, want, have in (("prod", n_prod, self.n_prod), ("load", n_load, self.n_load),
                                 ("line", n_line, self.n_line)):
            if want is not None and want != have:
                raise ChronicError(f"chronic {self.name!r} has {have} {kind} columns but the "
                                   f"grid has {want} {kind}s")
        for attr in (*INJECTION_FIELDS, *EVENT_FIELDS, "line_limit_a"):
            problem = value_problems(attr, getattr(self, attr), allow_prod_off=self.allow_prod_off)
            if problem is not None:
                self._raise(attr, problem)
        if self.simu_ids.dtype.kind == "f" and not np.all(np.isfinite(self.simu_ids)):
            raise ChronicError(f"chronic {self.name!r}: simu_ids has NaN or infinite values")
        if np.unique(self.simu_ids).size != self.n_steps:
            raise ChronicError(f"chronic {self.name!r}: simu_ids are not unique")
        steps = np.diff(self.datetimes)
        bad = np.flatnonzero(steps <= np.timedelta64(0, "m"))
        if bad.size:
            i = int(bad[0]) + 1
            raise ChronicError(f"chronic {self.name!r}: datetimes do not strictly increase at "
                               f"step {i}: {self.datetimes[i - 1]} then {self.datetimes[i]}")
        return self

    # ------------------------------------------------------------------ derived chronics
    def take_columns(self, prod_idx: np.ndarray | None = None, load_idx: np.ndarray | None = None,
                     line_idx: np.ndarray | None = None) -> Chronic:
        """Return a chronic whose column ``i`` is this chronic's column ``idx[i]``.

        Used to reorder a chronic from file order to grid order (or back with the inverse
        permutation). ``None`` keeps an element kind as is.
        """
        changes: dict[str, np.ndarray] = {}
        for attr, (kind, _) in INJECTION_FIELDS.items():
            idx = prod_idx if kind == "prod" else load_idx
            if idx is not None:
                changes[attr] = getattr(self, attr)[:, np.asarray(idx, dtype=np.int64)]
        if line_idx is not None:
            idx = np.asarray(line_idx, dtype=np.int64)
            changes.update(maintenance=self.maintenance[:, idx], hazards=self.hazards[:, idx],
                           line_limit_a=self.line_limit_a[idx])
        return dataclasses.replace(self, **changes)

    def with_values(self, **changes) -> Chronic:
        """Return a copy with some fields replaced (arrays are re-checked for shape)."""
        return dataclasses.replace(self, **changes)

    def steps(self, start: int, stop: int | None = None) -> Chronic:
        """Return the sub-chronic of timesteps ``start .. stop - 1``."""
        sl = slice(start, stop)
        changes = {attr: getattr(self, attr)[sl] for attr in (*INJECTION_FIELDS, *EVENT_FIELDS)}
        return dataclasses.replace(self, datetimes=self.datetimes[sl],
                                   simu_ids=self.simu_ids[sl], **changes)

    def __repr__(self) -> str:
        return (f"Chronic(name={self.name!r}, n_steps={self.n_steps}, n_prod={self.n_prod}, "
                f"n_load={self.n_load}, n_line={self.n_line}, timestep={self.timestep})")
