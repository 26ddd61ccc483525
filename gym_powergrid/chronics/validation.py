"""Validation of chronic files: headers matched to the grid's names, plausible values.

See :mod:`gym_powergrid.chronics.pypownet_format` (module doc) for the rules.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..errors import ChronicError
from .chronic import INJECTION_FIELDS

logger = logging.getLogger("gym_powergrid.chronics.pypownet_format")

_HEADER_PREFIX = {"prod": "prod", "load": "load", "line": "line"}
#: pypownet's own column names: bus number first (see the module doc).
_PYPOWNET_NAME = {"prod": re.compile(r"^\d+_G"), "load": re.compile(r"^\d+_C"),
                  "line": re.compile(r"^\d+_\d+_\d+$")}
MAX_ABS_INJECTION = 1e5
"""Largest plausible |P| or |Q| of one element, MW / MVAr (100 GW: above any real unit)."""
MAX_PROD_V_PU = 2.0
"""Largest plausible production voltage set-point, p.u."""
MAX_LINE_LIMIT_A = 1e7
"""Largest plausible thermal limit, A."""
_F32_MAX = float(np.finfo(np.float32).max)


def positional_names(header: list[str], kind: str) -> bool:
    """Whether ``header`` uses pypownet's or write_chronic's positional names for ``kind``."""
    pattern = _PYPOWNET_NAME.get(kind)
    if pattern is not None and all(pattern.match(h) for h in header):
        return True
    return header == [f"{_HEADER_PREFIX.get(kind, kind)}{i}" for i in range(len(header))]


def match_header(path: Path, header: list[str], kind: str,
                  expected: list[str] | None) -> np.ndarray | None:
    """Value column -> file column when the header names the grid's elements in another order.

    Raises:
        ChronicError: for duplicated, unknown or missing names (naming file and columns).
    """
    seen: dict[str, int] = {}
    dups = []
    for i, name in enumerate(header):
        if name in seen:
            dups.append(f"{name!r} (columns {seen[name] + 1} and {i + 1})")
        seen.setdefault(name, i)
    if dups:
        raise ChronicError(f"{path}: line 1 (header): duplicated column name(s) "
                           f"{', '.join(dups[:5])}: each {kind} needs exactly one column")
    if expected is None or header == expected or positional_names(header, kind):
        return None
    known = set(expected)
    unknown = [f"{h!r} (column {i + 1})" for i, h in enumerate(header) if h not in known]
    missing = [e for e in expected if e not in seen]
    if unknown or missing:
        raise ChronicError(
            f"{path}: line 1 (header): column name(s) {', '.join(unknown[:5]) or 'none'} are "
            f"not {kind}s of the grid; missing {missing[:5] or 'none'}. Name the columns after "
            f"the grid's {kind}s (any order), e.g. {';'.join(expected[:4])}...")
    order = np.array([seen[e] for e in expected], dtype=np.int64)
    logger.info("%s: columns are not in the grid's %s order; reordered by name", path, kind)
    return order


def range_problem(attr: str, values: np.ndarray, volts_pu: bool = True
                   ) -> tuple[np.ndarray, str] | None:
    """Cells outside float32 or the plausible range of ``attr`` (see the module doc).

    ``volts_pu``: production voltages are known to be in p.u. (a base kV was given).
    """
    if attr in INJECTION_FIELDS:
        bad = np.abs(values) > _F32_MAX
        if bad.any():
            return bad, "value does not fit the game's float32 arrays (it would become inf)"
        if attr in ("prod_v_pu", "prod_v_planned_pu"):
            if not volts_pu:
                return None
            bad = values > MAX_PROD_V_PU
            return (bad, f"production voltage above {MAX_PROD_V_PU} p.u. (after the kV "
                         "conversion): not a plausible set-point") if bad.any() else None
        bad = np.abs(values) > MAX_ABS_INJECTION
        return (bad, f"|value| above {MAX_ABS_INJECTION:g} MW/MVAr: not a plausible "
                     "injection of one element") if bad.any() else None
    if attr == "line_limit_a":
        bad = values > MAX_LINE_LIMIT_A
        return (bad, f"thermal limit above {MAX_LINE_LIMIT_A:g} A: not plausible"
                ) if bad.any() else None
    return None
