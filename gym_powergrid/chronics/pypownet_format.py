"""Read and write pypownet chronic folders (13 ``;``-separated CSV files, optionally compressed).

A chronic folder holds, each with one header line (column names) then one row per timestep:

====================================  =====================================================
``_N_prods_p.csv`` / ``_planned``     production active power (MW), one column per production
``_N_prods_v.csv`` / ``_planned``     production voltage set-point; ``<= 0`` = production off
``_N_loads_p.csv`` / ``_planned``     load active power (MW, >= 0), one column per load
``_N_loads_q.csv`` / ``_planned``     load reactive power (MVAr)
``maintenance.csv``, ``hazards.csv``  ``d > 0`` at row t: line unavailable for d steps from t
``_N_datetimes.csv``                  header ``date;time`` then ``yyyy-mmm-dd;h:mm``
``_N_simu_ids.csv``                   one id per timestep
``_N_imaps.csv``                      a single row: thermal limit of each line (A)
====================================  =====================================================

Each file may also be gzip (``.csv.gz``) or bz2 (``.csv.bz2``) compressed. Reading is fast: a
numba kernel parses the numeric files (:mod:`._csv_kernel`; pandas' exact parser is the fallback
for 17-digit numbers), files are parsed in parallel threads, and a whole year of hourly steps of
case118 (8760 x 984 values in 13 files) loads in about 0.3 s uncompressed (bz2 is much slower to
decompress than gzip). Every problem raises :class:`~gym_powergrid.errors.ChronicError` naming the
file, the 1-based line number in the file and the 1-based column; errors are located by a slow,
precise second pass that only runs when the fast pass fails.

Headers: given the grid's element names (``names=`` of :func:`read_chronic`), each header is
matched to them. Columns in another order are reordered by name (logged); unknown, missing or
duplicated names are a :class:`~gym_powergrid.errors.ChronicError` naming the file and the
columns. Two positional conventions are accepted as they are: pypownet's own names, which put
the bus number first (``3_G36.31`` productions, ``2_C-10.61`` loads, ``1_5_2`` lines: origin,
extremity, number), and :func:`write_chronic`'s default names (``prod0``, ``load0``...).

Values: beyond the rules of :func:`~gym_powergrid.chronics.chronic.value_problems`, every value
must fit the float32 arrays of the game and stay in a plausible range: injections within
+-1e5 MW/MVAr, production voltages at most 2 p.u. (when a base kV is given, after the kV
conversion below), thermal limits at most 1e7 A (constants of
:mod:`~gym_powergrid.chronics.validation`). Anything else is an error naming the file, the line
and the column.

Voltage unit: pypownet's documentation says per-unit but its code divides the file values by the
bus base kV, and its shipped chronics are in kV (``106.0`` for 1.06 p.u. at 100 kV). Give
``prod_v_base_kv`` to :func:`read_chronic` to accept both: each column whose values look like kV
is converted to p.u. (logged). :func:`write_chronic` writes kV when given ``prod_v_base_kv``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ChronicError
from . import _csv_kernel
from .chronic import EVENT_FIELDS, INJECTION_FIELDS, Chronic, first_bad_cell, value_problems
from .validation import match_header, range_problem

logger = logging.getLogger(__name__)

DATETIMES_FILE = "_N_datetimes.csv"
SIMU_IDS_FILE = "_N_simu_ids.csv"
IMAPS_FILE = "_N_imaps.csv"
#: The 13 files of a chronic folder, in pypownet's names.
CHRONIC_FILES: tuple[str, ...] = (*[f for _, f in INJECTION_FIELDS.values()],
                                  *EVENT_FIELDS.values(), DATETIMES_FILE, SIMU_IDS_FILE, IMAPS_FILE)
#: Accepted compressions: file suffix after ``.csv`` -> name.
COMPRESSIONS = {"": None, ".gz": "gzip", ".bz2": "bz2"}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NUMBER = {m: i for i, m in enumerate(MONTHS)}
_DATE_RE = re.compile(r"^(\d{4})-([A-Za-z]{3})-(\d{1,2});(\d{1,2})([:;])(\d{2})$")
_HEADER_PREFIX = {"prod": "prod", "load": "load", "line": "line"}


# ---------------------------------------------------------------------- files
def find_chronic_file(folder: Path, name: str) -> Path:
    """Return the path of ``name`` in ``folder``, plain or compressed.

    Raises:
        ChronicError: if the file is missing, or present in more than one compression.
    """
    found = [folder / (name + suffix) for suffix in COMPRESSIONS
             if (folder / (name + suffix)).is_file()]
    if not found:
        raise ChronicError(f"{folder}: missing chronic file {name} (also looked for "
                           f"{name}.gz and {name}.bz2)")
    if len(found) > 1:
        raise ChronicError(f"{folder}: {name} is present several times "
                           f"({', '.join(p.name for p in found)}); keep only one")
    return found[0]


def missing_chronic_files(folder: Path) -> list[str]:
    """Names of the 13 chronic files that ``folder`` lacks (in any compression)."""
    return [n for n in CHRONIC_FILES
            if not any((folder / (n + s)).is_file() for s in COMPRESSIONS)]


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            return gzip.decompress(path.read_bytes())
        if path.suffix == ".bz2":
            return bz2.decompress(path.read_bytes())
        return path.read_bytes()
    except (OSError, EOFError, ValueError) as exc:
        raise ChronicError(f"{path}: cannot read or decompress the file: {exc}") from exc


def _split_header(path: Path, data: bytes) -> tuple[list[str], bytes]:
    if b"\r" in data[:4096]:
        data = data.replace(b"\r\n", b"\n")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    cut = data.find(b"\n")
    header, body = (data, b"") if cut < 0 else (data[:cut], data[cut + 1:])
    try:
        fields = [f.strip() for f in header.decode("utf-8").split(";")]
    except UnicodeDecodeError as exc:
        raise ChronicError(f"{path}: line 1 (header) is not UTF-8 text") from exc
    return fields, body


def _data_line_numbers(body: bytes) -> list[int]:
    """1-based file line numbers of the non-blank data lines (the header is line 1)."""
    return [i + 2 for i, line in enumerate(body.split(b"\n")) if line.strip()]


# ---------------------------------------------------------------------- parsing
class _Table:
    """Values of one numeric file with what is needed to report problems.

    ``columns[c]`` is the file column of value column ``c`` (columns reordered by name).
    """

    def __init__(self, path: Path, header: list[str], body: bytes, values: np.ndarray,
                 columns: np.ndarray | None = None) -> None:
        self.path, self.header, self.body, self.values = path, header, body, values
        self.columns = columns

    def fail(self, row: int, col: int | None, what: str, value=None) -> ChronicError:
        line = _data_line_numbers(self.body)[row] if row >= 0 else 1
        where = f"line {line}"
        if col is not None and self.columns is not None:
            col = int(self.columns[col])
        if col is not None:
            name = self.header[col] if col < len(self.header) else ""
            where += f", column {col + 1}" + (f" ({name!r})" if name else "")
        shown = "" if value is None else f": {value!r}"
        return ChronicError(f"{self.path}: {where}: {what}{shown}")


def _diagnose(path: Path, header: list[str], body: bytes, n_cols: int) -> ChronicError:
    """Find the first malformed cell of a numeric file, the slow and precise way."""
    table = _Table(path, header, body, np.empty(0))
    row = -1
    for raw in body.decode("utf-8", errors="replace").split("\n"):
        if not raw.strip():
            continue
        row += 1
        fields = raw.split(";")
        if len(fields) != n_cols:
            return table.fail(row, None, f"{len(fields)} values, expected {n_cols} "
                                         f"(one per column of the header)")
        for col, text in enumerate(fields):
            text = text.strip()
            if not text:
                return table.fail(row, col, "empty value")
            try:
                value = float(text)
            except ValueError:
                return table.fail(row, col, "non-numeric value", text)
            if not np.isfinite(value):
                return table.fail(row, col, "NaN or infinite value", text)
    return ChronicError(f"{path}: malformed numeric CSV (could not locate the problem)")


def _check_header(path: Path, header: list[str], n_cols: int, what: str) -> None:
    if len(header) != n_cols:
        raise ChronicError(f"{path}: line 1 (header) has {len(header)} columns but the grid "
                           f"has {n_cols} {what}: every row needs {n_cols} ';'-separated values")


def _parse_numeric(path: Path, n_cols: int, what: str, kind: str | None = None,
                   expected: list[str] | None = None) -> _Table:
    """Parse a numeric file (header + rows) into float64 (T, n_cols), columns in grid order."""
    header, body = _split_header(path, _read_bytes(path))
    _check_header(path, header, n_cols, what)
    columns = match_header(path, header, kind, expected) if kind is not None else None
    if not body.strip():
        raise ChronicError(f"{path}: no data row after the header line")
    values, status = _csv_kernel.parse(body, n_cols)
    if status == _csv_kernel.NEEDS_FALLBACK:  # e.g. 17-digit numbers: exact but slower parser
        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(body), sep=";", header=None, dtype=np.float64,
                                engine="c", float_precision="round_trip")
            values = frame.to_numpy(dtype=np.float64)
        except (ValueError, pd.errors.ParserError):
            values = None
        if values is not None and (values.shape[1] != n_cols or not np.all(np.isfinite(values))):
            values = None
    if values is None:
        raise _diagnose(path, header, body, n_cols)
    if columns is not None:
        values = values[:, columns]
    return _Table(path, header, body, values, columns)


def _parse_datetimes(path: Path) -> tuple[np.ndarray, list[int]]:
    """Parse ``_N_datetimes.csv`` into ``datetime64[m]`` and the file line of each row."""
    header, body = _split_header(path, _read_bytes(path))
    if _DATE_RE.match(";".join(header)):
        raise ChronicError(f"{path}: line 1 must be the header 'date;time', found a date")
    texts, line_no = [], []
    for i, raw in enumerate(body.decode("utf-8", errors="replace").split("\n")):
        if raw.strip():
            texts.append(raw.strip())
            line_no.append(i + 2)
    if not texts:
        raise ChronicError(f"{path}: no date after the header line")
    regular = _regular_datetimes(texts)
    if regular is not None:
        return regular, line_no
    return _parse_datetimes_slow(path, texts, line_no)


def _parse_datetimes_slow(path: Path, texts: list[str], line_no: list[int]
                          ) -> tuple[np.ndarray, list[int]]:
    parts = np.zeros((len(texts), 5), dtype=np.int64)
    expected = "expected yyyy-mmm-dd;h:mm such as 2018-jan-31;8:00"
    for r, text in enumerate(texts):
        m = _DATE_RE.match(text)
        month = _MONTH_NUMBER.get(m.group(2).lower(), -1) if m else -1
        if m is None or month < 0:
            raise ChronicError(f"{path}: line {line_no[r]}: date {text!r} does not parse; "
                               f"{expected}")
        if m.group(5) == ";":
            logger.warning("%s: line %d: time %r uses ';' instead of ':'; read as %s:%s",
                           path, line_no[r], text, m.group(4), m.group(6))
        parts[r] = (int(m.group(1)), month, int(m.group(3)), int(m.group(4)), int(m.group(6)))
    year, month, day, hour, minute = parts.T
    month_start = ((year - 1970) * 12 + month).astype("datetime64[M]")
    date = month_start.astype("datetime64[D]") + (day - 1)
    bad = (day < 1) | (date.astype("datetime64[M]") != month_start) | (hour > 23) | (minute > 59)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ChronicError(f"{path}: line {line_no[r]}: date {texts[r]!r} does not exist; "
                           f"{expected}")
    stamps = date.astype("datetime64[m]") + (hour * 60 + minute).astype("timedelta64[m]")
    back = np.flatnonzero(np.diff(stamps) <= np.timedelta64(0, "m"))
    if back.size:
        r = int(back[0]) + 1
        raise ChronicError(f"{path}: line {line_no[r]}: date {texts[r]!r} does not come after "
                           f"{texts[r - 1]!r} (line {line_no[r - 1]}): dates must strictly "
                           "increase")
    return stamps, line_no


def _regular_datetimes(texts: list[str]) -> np.ndarray | None:
    """Fast path: dates equally spaced and written as :func:`format_datetimes` writes them."""
    if len(texts) < 2 or not all(_DATE_RE.match(t) and t.count(";") == 1 for t in texts[:2]):
        return None
    try:
        first, second = _parse_datetimes_slow(Path("-"), texts[:2], [2, 3])[0]
    except ChronicError:
        return None
    step = second - first
    if step <= np.timedelta64(0, "m"):
        return None
    stamps = first + np.arange(len(texts)) * step
    return stamps if format_datetimes(stamps) == texts else None


def _voltages_to_pu(table: _Table, base_kv: np.ndarray | None) -> np.ndarray:
    """Return production voltages in p.u., converting the columns that are in kV."""
    values = table.values
    median = np.full(values.shape[1], np.nan)
    for col in range(values.shape[1]):
        positive = values[values[:, col] > 0, col]
        if positive.size:
            median[col] = np.median(positive)
    if base_kv is None:
        if np.nanmax(median, initial=0.0) > 2.0:
            logger.warning("%s: production voltages look like kV (median up to %.4g) but no base "
                           "kV was given: they are used as p.u.", table.path, np.nanmax(median))
        return values
    base_kv = np.asarray(base_kv, dtype=np.float64)
    out = values.copy()
    converted = []
    for col in range(values.shape[1]):
        m = median[col]
        if not np.isfinite(m) or 0.5 <= m <= 1.5:
            continue
        if base_kv[col] > 0 and 0.5 <= m / base_kv[col] <= 1.5:
            # as pypownet: its float32 reading of the kV values over the float64 base kV
            out[:, col] = values[:, col].astype(np.float32).astype(np.float64) / base_kv[col]
            converted.append(col)
            continue
        row = int(np.flatnonzero(values[:, col] > 0)[0])
        raise table.fail(row, col, f"production voltages around {m:.4g} are neither p.u. "
                                   f"(0.5-1.5) nor kV for a base of {base_kv[col]:.4g} kV",
                         values[row, col])
    if not converted:
        return values
    logger.info("%s: %d production voltage column(s) are in kV (pypownet's convention) and "
                "were divided by their bus base kV", table.path, len(converted))
    return out


# ---------------------------------------------------------------------- read
def read_chronic(
    folder: str | os.PathLike,
    n_prod: int,
    n_load: int,
    n_line: int,
    *,
    name: str | None = None,
    dtype: type = np.float32,
    allow_prod_off: bool = False,
    prod_v_base_kv: np.ndarray | None = None,
    names: dict[str, list[str]] | None = None,
    max_workers: int | None = None,
    truncate_to_shortest: bool = False,
) -> Chronic:
    """Read and validate one pypownet chronic folder.

    Args:
        folder: the chronic folder (holding the 13 files, plain or compressed).
        n_prod, n_load, n_line: grid sizes the columns must match.
        name: chronic name (default: the folder name).
        dtype: float type of the injection arrays (float32 halves the memory; float64 keeps
            every digit).
        allow_prod_off: accept production voltages ``<= 0`` (pypownet's way of switching a
            production off for a step). When False they raise :class:`ChronicError`.
        prod_v_base_kv: (n_prod,) base kV of each production's bus; when given, voltage columns
            in kV are converted to p.u. (see the module doc).
        names: ``{"prod": [...], "load": [...], "line": [...]}``: the grid's element names, in
            the column order the caller expects; headers are matched to them (see the module
            doc). None only checks that header names do not repeat.
        max_workers: threads used to parse the files (default: up to 4).
        truncate_to_shortest: play only as many timesteps as the shortest file has rows, as
            pypownet does (it zips the files row by row; its own shipped folders rely on it:
            default14's ``_N_simu_ids.csv`` has one row fewer than ``_N_datetimes.csv``,
            default118's injections 728 rows for 167 dates). Logged once per chronics folder.
            When False, differing row counts raise :class:`ChronicError`.

    Raises:
        ChronicError: naming the file, line and column of the first problem found: missing
            files, wrong column counts, non-numeric, empty, NaN or infinite values, negative load
            P, non-positive production voltages, bad or non-increasing dates, non-integer events,
            non-positive thermal limits, duplicate ids, row counts differing between files,
            unknown, missing or duplicated header names, values outside float32 or the
            plausible range.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ChronicError(f"chronic folder {folder} does not exist or is not a folder")
    missing = missing_chronic_files(folder)
    if missing:
        raise ChronicError(f"{folder}: missing chronic file(s) {', '.join(missing)}; a pypownet "
                           f"chronic needs all of {', '.join(CHRONIC_FILES)}")
    sizes = {"prod": n_prod, "load": n_load, "line": n_line}
    expected = {k: None if names is None or names.get(k) is None else [str(x) for x in names[k]]
                for k in sizes}
    for kind, given in expected.items():
        if given is not None and len(given) != sizes[kind]:
            raise ChronicError(f"{len(given)} {kind} names given for {sizes[kind]} {kind}s")
    jobs = {}
    for attr, (kind, fname) in INJECTION_FIELDS.items():
        jobs[attr] = lambda k=kind, f=fname: _parse_numeric(
            find_chronic_file(folder, f), sizes[k], k + "s", k, expected[k])
    for attr, fname in EVENT_FIELDS.items():
        jobs[attr] = lambda f=fname: _parse_numeric(find_chronic_file(folder, f), n_line, "lines",
                                                    "line", expected["line"])
    jobs["simu_ids"] = lambda: _parse_numeric(find_chronic_file(folder, SIMU_IDS_FILE), 1, "id")
    jobs["line_limit_a"] = lambda: _parse_numeric(find_chronic_file(folder, IMAPS_FILE),
                                                  n_line, "lines", "line", expected["line"])
    jobs["datetimes"] = lambda: _parse_datetimes(find_chronic_file(folder, DATETIMES_FILE))
    workers = max_workers or min(4, os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {k: pool.submit(job) for k, job in jobs.items()}
            results = {k: f.result() for k, f in futures.items()}
    else:
        results = {k: job() for k, job in jobs.items()}

    datetimes, _ = results.pop("datetimes")
    dt_path = find_chronic_file(folder, DATETIMES_FILE)
    if truncate_to_shortest:
        datetimes = _truncate_like_pypownet(folder, datetimes, results)
    n_steps = datetimes.shape[0]
    for attr, table in results.items():
        if attr == "line_limit_a":
            if table.values.shape[0] != 1:
                raise table.fail(1, None, f"{table.values.shape[0]} data rows; the thermal "
                                          "limits file holds exactly one")
            continue
        if table.values.shape[0] != n_steps:
            raise ChronicError(f"{table.path}: {table.values.shape[0]} data rows but "
                               f"{dt_path.name} has {n_steps}: every file needs one row per "
                               "timestep")
    arrays: dict[str, np.ndarray] = {}
    for attr, table in results.items():
        values = table.values
        keep_f64 = False
        if attr in ("prod_v_pu", "prod_v_planned_pu"):
            pu = _voltages_to_pu(table, prod_v_base_kv)
            keep_f64 = pu is not values  # converted from kV: float32 would round 1.045 off
            values = pu
        if attr == "line_limit_a":
            values = values[0]
        problem = value_problems(attr, values, allow_prod_off=allow_prod_off)
        if problem is None:
            problem = range_problem(attr, values, prod_v_base_kv is not None)
        if problem is not None:
            mask, what = problem
            row, col = first_bad_cell(mask) if mask.ndim == 2 else (0, int(np.argmax(mask)))
            raise table.fail(row, col, what, table.values[row, col])
        if attr == "simu_ids":
            values = values[:, 0]
            uniq, first = np.unique(values, return_index=True)
            if uniq.size != values.size:
                dup = int(np.setdiff1d(np.arange(values.size), first)[0])
                raise table.fail(dup, 0, "duplicate timestep id", values[dup])
        arrays[attr] = values.astype(dtype) if attr in INJECTION_FIELDS and not keep_f64 else values
    return Chronic(name=name or folder.name, datetimes=datetimes, source=folder,
                   allow_prod_off=allow_prod_off, **arrays)


_TRUNCATION_LOGGED: set[Path] = set()


def _truncate_like_pypownet(folder: Path, datetimes: np.ndarray,
                            tables: dict[str, _Table]) -> np.ndarray:
    """Cut every per-timestep table (in place) and ``datetimes`` to the shortest row count."""
    per_step = [t for attr, t in tables.items() if attr != "line_limit_a"]
    n = min(min(t.values.shape[0] for t in per_step), datetimes.shape[0])
    longer = sorted(t.path.name for t in per_step if t.values.shape[0] > n)
    if datetimes.shape[0] > n:
        longer.append(DATETIMES_FILE)
    if not longer:
        return datetimes
    parent = folder.parent
    log = logger.debug if parent in _TRUNCATION_LOGGED else logger.warning
    _TRUNCATION_LOGGED.add(parent)
    log("%s: files have different row counts; playing the first %d timesteps like pypownet "
        "(which zips the files row by row); longer files: %s", folder, n, ", ".join(longer))
    for t in per_step:
        t.values = t.values[:n]
    return datetimes[:n]


# ---------------------------------------------------------------------- write
def _precision(values: np.ndarray) -> int:
    """Smallest number of significant digits that gives back exactly ``values``."""
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x) & (x != 0)
    if not finite.any():
        return 6
    x = x[finite]
    exponent = np.floor(np.log10(np.abs(x)))
    candidates = range(6, 10) if values.dtype == np.float32 else range(6, 18)
    for p in candidates:
        scale = 10.0 ** (p - 1 - exponent)
        with np.errstate(over="ignore", invalid="ignore"):
            back = np.round(x * scale) / scale
        if np.array_equal(back.astype(values.dtype), x.astype(values.dtype)):
            return p
    return candidates[-1]


def _format_rows(values: np.ndarray, float_format: str | None) -> str:
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        fmt = "%d"
    elif float_format is not None:
        fmt = float_format
    else:
        fmt = f"%.{_precision(values)}g"
    row_fmt = ";".join([fmt] * values.shape[1])
    return "".join(row_fmt % tuple(row) + "\n" for row in values.tolist())


def _clean_names(names, n: int, prefix: str) -> list[str]:
    if names is None:
        return [f"{prefix}{i}" for i in range(n)]
    names = [str(x).replace(";", "_").replace("\n", " ").strip() for x in names]
    if len(names) != n:
        raise ChronicError(f"{len(names)} {prefix} names given for {n} columns")
    return names


def format_datetimes(datetimes: np.ndarray) -> list[str]:
    """Format ``datetime64`` values as pypownet's ``yyyy-mmm-dd;h:mm`` strings."""
    stamps = np.asarray(datetimes).astype("datetime64[m]")
    months = stamps.astype("datetime64[M]")
    days = stamps.astype("datetime64[D]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    minutes = (stamps - days.astype("datetime64[m]")).astype(np.int64)
    return [f"{y}-{MONTHS[m]}-{d};{mm // 60}:{mm % 60:02d}"
            for y, m, d, mm in zip(year.tolist(), month.tolist(), day.tolist(), minutes.tolist())]


def write_chronic(
    chronic: Chronic,
    folder: str | os.PathLike,
    *,
    compression: str | None = None,
    float_format: str | None = None,
    prod_v_base_kv: np.ndarray | None = None,
    prod_names=None,
    load_names=None,
    line_names=None,
) -> Path:
    """Write a chronic as a pypownet chronic folder (13 files).

    Args:
        chronic: the chronic to write (its columns are written in their order).
        folder: destination folder, created if needed; other compressions of the same files
            already there are removed so that the folder stays unambiguous.
        compression: None (plain ``.csv``), ``"gzip"`` (``.csv.gz``) or ``"bz2"``
            (``.csv.bz2``). Output is byte-for-byte reproducible (no time stamp in gzip).
        float_format: printf format of the float values (e.g. ``"%.2f"``); by default the
            fewest significant digits that read back exactly in the chronic's dtype.
        prod_v_base_kv: when given, voltages are written in kV (p.u. x base kV), as pypownet's
            code expects; :func:`read_chronic` converts them back when given the same bases.
        prod_names, load_names, line_names: header names (default ``prod0``, ``load0``...).

    Returns:
        The folder path.
    """
    suffix = {None: "", "gzip": ".gz", "bz2": ".bz2"}.get(compression)
    if suffix is None:
        raise ChronicError(f"unknown compression {compression!r}; allowed: None, 'gzip', 'bz2'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    headers = {"prod": ";".join(_clean_names(prod_names, chronic.n_prod, "prod")),
               "load": ";".join(_clean_names(load_names, chronic.n_load, "load")),
               "line": ";".join(_clean_names(line_names, chronic.n_line, "line"))}
    contents: dict[str, str] = {}
    for attr, (kind, fname) in INJECTION_FIELDS.items():
        values = getattr(chronic, attr)
        if prod_v_base_kv is not None and attr in ("prod_v_pu", "prod_v_planned_pu"):
            values = (values.astype(np.float64) * np.asarray(prod_v_base_kv, dtype=np.float64))
        contents[fname] = headers[kind] + "\n" + _format_rows(values, float_format)
    for attr, fname in EVENT_FIELDS.items():
        contents[fname] = headers["line"] + "\n" + _format_rows(getattr(chronic, attr), None)
    contents[DATETIMES_FILE] = "date;time\n" + "".join(
        s + "\n" for s in format_datetimes(chronic.datetimes))
    ids = chronic.simu_ids
    contents[SIMU_IDS_FILE] = "id\n" + "".join(
        (f"{v}\n" if ids.dtype.kind in "iu" else f"{v!r}\n") for v in ids.tolist())
    contents[IMAPS_FILE] = headers["line"] + "\n" + ";".join(
        repr(float(v)) for v in chronic.line_limit_a) + "\n"
    for fname, text in contents.items():
        data = text.encode("utf-8")
        if compression == "gzip":
            data = gzip.compress(data, compresslevel=6, mtime=0)
        elif compression == "bz2":
            data = bz2.compress(data, compresslevel=9)
        for other in COMPRESSIONS:
            stale = folder / (fname + other)
            if other != suffix and stale.exists():
                logger.debug("removing %s: replaced by %s%s", stale, fname, suffix)
                stale.unlink()
        (folder / (fname + suffix)).write_bytes(data)
    return folder
