"""Words for pypownet actions: what a flat switch vector does to the grid.

Pure numpy, no pygame: usable by loggers, the runner and the renderer's "last action" panel.
Element ids are 0-based positions in the observation/action vectors (the same as pandapower's
row order for the named cases); substation ids are :class:`GridArrays` substation indices.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import ActionError
from ..grid.arrays import GridArrays

#: Text returned for an action that switches nothing.
DO_NOTHING_TEXT = "do nothing"


def _as_switch_vector(grid: GridArrays, action_vector) -> np.ndarray:
    """Validate a flat pypownet action and return it as an ``int8`` 0/1 vector."""
    v = np.asarray(action_vector)
    expected = grid.n_prod + grid.n_load + 3 * grid.n_line
    if v.ndim != 1 or v.shape[0] != expected:
        raise ActionError(
            f"action must be 1-D of length {expected} (= {grid.n_prod} prod node switches + "
            f"{grid.n_load} load node switches + {grid.n_line} line origin node switches + "
            f"{grid.n_line} line extremity node switches + {grid.n_line} line status switches), "
            f"got shape {v.shape}"
        )
    if v.dtype != bool:
        if not np.issubdtype(v.dtype, np.number):
            raise ActionError(f"action must hold numbers 0/1, got dtype {v.dtype}")
        bad = ~((v == 0) | (v == 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ActionError(f"action must hold only 0 or 1; entry {i} is {v[i]!r}")
    return v.astype(np.int8)


def _nodes_before(obs: Mapping | None, key: str, n: int) -> np.ndarray | None:
    if obs is None or key not in obs:
        return None
    a = np.asarray(obs[key]).reshape(-1)
    if a.shape[0] != n:
        raise ActionError(f"observation key {key!r} has {a.shape[0]} entries, expected {n}")
    return np.rint(a).astype(np.int8)


def _join_words(words: list[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def describe_action(
    grid: GridArrays, action_vector, obs_before: Mapping | None = None
) -> list[str]:
    """Describe a pypownet switch action in words an operator can read.

    The layout is pypownet's: ``[prod node switches | load node switches | line origin node
    switches | line extremity node switches | line status switches]``; a 1 toggles the
    element. Node switches are grouped by substation, e.g.
    ``"substation 4: load 3 and line 12 origin -> busbar 1"``; status switches read
    ``"line 7 switched off"``.

    Args:
        grid: the grid the action applies to.
        action_vector: the flat 0/1 action (any numeric or bool array-like).
        obs_before: the observation *before* the action (pypownet keys ``productions_nodes``,
            ``loads_nodes``, ``lines_or_nodes``, ``lines_ex_nodes``, ``lines_status``). With it the
            target busbar and the new line status are named; without it the text says
            "switches busbar" / "status toggled".

    Returns:
        One string per substation touched (in substation order), then one per line whose
        status is switched. ``["do nothing"]`` when the action switches nothing.

    Raises:
        ActionError: if the vector has the wrong length or non-binary values, or if an
            observation key has the wrong size.
    """
    v = _as_switch_vector(grid, action_vector)
    n_p, n_l, n_ln = grid.n_prod, grid.n_load, grid.n_line
    a, b, c, d = n_p, n_p + n_l, n_p + n_l + n_ln, n_p + n_l + 2 * n_ln
    groups = (
        ("production {}", v[:a], grid.prod_sub_idx, "productions_nodes", n_p),
        ("load {}", v[a:b], grid.load_sub_idx, "loads_nodes", n_l),
        ("line {} origin", v[b:c], grid.line_sub_or_idx, "lines_or_nodes", n_ln),
        ("line {} extremity", v[c:d], grid.line_sub_ex_idx, "lines_ex_nodes", n_ln),
    )
    # substation -> target busbar (0, 1 or None when unknown) -> element words
    per_sub: dict[int, dict[int | None, list[str]]] = {}
    for fmt, switches, subs, key, n in groups:
        before = _nodes_before(obs_before, key, n)
        for i in np.flatnonzero(switches):
            target = None if before is None else int(1 - before[i])
            per_sub.setdefault(int(subs[i]), {}).setdefault(target, []).append(fmt.format(int(i)))

    out: list[str] = []
    for sub in sorted(per_sub):
        parts = []
        for target in sorted(per_sub[sub], key=lambda t: -1 if t is None else t):
            words = _join_words(per_sub[sub][target])
            if target is None:
                verb = "switch" if len(per_sub[sub][target]) > 1 else "switches"
                parts.append(f"{words} {verb} busbar")
            else:
                parts.append(f"{words} -> busbar {target}")
        out.append(f"substation {sub}: " + "; ".join(parts))

    status_before = _nodes_before(obs_before, "lines_status", n_ln)
    for i in np.flatnonzero(v[d:]):
        if status_before is None:
            out.append(f"line {int(i)} status toggled")
        else:
            out.append(f"line {int(i)} switched {'off' if status_before[i] else 'on'}")
    return out or [DO_NOTHING_TEXT]
