"""Consumption/production curves replayed by load nodes (the SENS ``curves.csv`` layout).

A curves file is a CSV (optionally ``.gz`` or ``.bz2`` compressed) whose first column is a
timestamp (ISO date-time, or seconds) and whose other columns are P and Q values of meters,
named ``<meter>_p_kw`` / ``<meter>_q_kvar`` (or ``_p_mw`` / ``_q_mvar``)::

    timestamp,Load_1_p_kw,Load_1_q_kvar,PV_1_p_kw,PV_1_q_kvar,...
    2019-06-21 00:00:00,1.20,0.39,0.0,0.0,...

Values are magnitudes (a PV meter's production is positive); :class:`Curves` converts them to MW
and MVAr. Rows are evenly spaced; the spacing is the replay period of a node.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np

from gym_powergrid.errors import ChronicError

_UNITS = {"_p_kw": 1e-3, "_q_kvar": 1e-3, "_p_mw": 1.0, "_q_mvar": 1.0}


def _open_text(path: Path, mode: str = "rt") -> IO[str]:
    if path.suffix == ".gz":
        if mode == "wt":  # mtime=0: the same data gives the same bytes
            raw = gzip.GzipFile(path, "wb", mtime=0)
            return io.TextIOWrapper(raw, encoding="utf-8", newline="")
        return gzip.open(path, mode, encoding="utf-8", newline="")  # type: ignore[return-value]
    if path.suffix == ".bz2":
        return bz2.open(path, mode, encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8", newline="")  # noqa: SIM115


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()


@dataclass(frozen=True)
class Curves:
    """Evenly spaced P/Q series of named meters.

    Attributes:
        timestamps: The first column, as written in the file.
        step_s: Spacing between rows, seconds.
        p_mw: Meter name -> active power series, MW.
        q_mvar: Meter name -> reactive power series, MVAr.
    """

    timestamps: tuple[str, ...]
    step_s: float
    p_mw: Mapping[str, np.ndarray]
    q_mvar: Mapping[str, np.ndarray]

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.timestamps)

    @property
    def meters(self) -> list[str]:
        """Meter names (column prefixes) in file order."""
        return list(self.p_mw)

    def value(self, meter: str, row: int) -> tuple[float, float]:
        """Return ``(p_mw, q_mvar)`` of ``meter`` at ``row`` (wrapping around the end).

        Raises:
            KeyError: If the meter is not in the file.
        """
        if meter not in self.p_mw:
            raise KeyError(f"meter {meter!r} not in curves (have {self.meters})")
        i = row % self.n_rows
        return float(self.p_mw[meter][i]), float(self.q_mvar[meter][i])


def read_curves(path: str | Path, step_s: float | None = None) -> Curves:
    """Read a curves file.

    Args:
        path: CSV, ``.csv.gz`` or ``.csv.bz2`` file.
        step_s: Row spacing in seconds; by default the difference of the first two timestamps.

    Returns:
        The curves, converted to MW/MVAr.

    Raises:
        ChronicError: If the file is missing, empty, has unknown columns, a ragged or
            non-numeric row, non-finite values, or a meter without both P and Q columns.
    """
    path = Path(path)
    if not path.is_file():
        raise ChronicError(f"curves file {str(path)!r} does not exist")
    with _open_text(path) as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise ChronicError(f"curves file {str(path)!r} needs a header and at least one row")
    header, body = rows[0], [r for r in rows[1:] if r]
    scales: list[tuple[str, str, float]] = []  # (meter, "p"|"q", factor) per data column
    for name in header[1:]:
        for suffix, factor in _UNITS.items():
            if name.endswith(suffix):
                scales.append((name[: -len(suffix)], suffix[1], factor))
                break
        else:
            raise ChronicError(
                f"curves file {str(path)!r}: column {name!r} must end with one of {list(_UNITS)}"
            )
    data = np.empty((len(body), len(scales)), dtype=np.float64)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ChronicError(
                f"curves file {str(path)!r} line {i + 2}: {len(row)} fields, expected {len(header)}"
            )
        try:
            data[i] = [float(x) for x in row[1:]]
        except ValueError as exc:
            raise ChronicError(f"curves file {str(path)!r} line {i + 2}: {exc}") from None
    if not np.isfinite(data).all():
        raise ChronicError(f"curves file {str(path)!r} holds NaN or infinite values")
    p: dict[str, np.ndarray] = {}
    q: dict[str, np.ndarray] = {}
    for j, (meter, kind, factor) in enumerate(scales):
        column = data[:, j] * factor
        column.flags.writeable = False  # curves may be shared between nodes of one process
        (p if kind == "p" else q)[meter] = column
    if set(p) != set(q):
        raise ChronicError(
            f"curves file {str(path)!r}: meters {sorted(set(p) ^ set(q))} lack a P or Q column"
        )
    timestamps = tuple(r[0] for r in body)
    if step_s is None:
        if len(timestamps) < 2:
            raise ChronicError(f"curves file {str(path)!r}: give step_s for a single row")
        try:
            step_s = _parse_time(timestamps[1]) - _parse_time(timestamps[0])
        except ValueError as exc:
            raise ChronicError(f"curves file {str(path)!r}: bad timestamp ({exc})") from None
    if not (math.isfinite(step_s) and step_s > 0):
        raise ChronicError(f"curves file {str(path)!r}: row spacing must be > 0, got {step_s}")
    return Curves(timestamps, float(step_s), p, {m: q[m] for m in p})


def write_curves(
    path: str | Path,
    timestamps: Sequence[str],
    p_kw: Mapping[str, Sequence[float]],
    q_kvar: Mapping[str, Sequence[float]],
) -> Path:
    """Write a curves file in kW/kVAr (compressed if ``path`` ends with ``.gz`` or ``.bz2``).

    Args:
        path: Output file.
        timestamps: One label per row.
        p_kw: Meter -> active power series, kW.
        q_kvar: Meter -> reactive power series, kVAr (same meters as ``p_kw``).

    Returns:
        The path written.
    """
    path = Path(path)
    header = ["timestamp"]
    for meter in p_kw:
        header += [f"{meter}_p_kw", f"{meter}_q_kvar"]
    with _open_text(path, "wt") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for i, stamp in enumerate(timestamps):
            row = [stamp]
            for meter in p_kw:
                row += [f"{p_kw[meter][i]:.4f}", f"{q_kvar[meter][i]:.4f}"]
            writer.writerow(row)
    return path
