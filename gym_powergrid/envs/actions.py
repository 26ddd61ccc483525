"""Actions as pypownet's switches, and the :class:`ActionHelper` that builds them.

An action is a binary vector (``np.int8``) laid out as pypownet's:

``[prod node switches | load node switches | line origin node switches |
line extremity node switches | line status switches]``

A 1 toggles: a node switch moves the element to the other busbar of its substation, a line
status switch turns the line off (on) if it is on (off).

Substation element order (stable, documented): the substation's productions, then its loads,
then the lines whose *origin* is there, then the lines whose *extremity* is there, each group in
increasing element index.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from ..errors import ActionError
from ..grid.arrays import GridArrays


class ElementType(str, Enum):
    """Type of an element of a substation (values as in pypownet)."""

    PRODUCTION = "production"
    CONSUMPTION = "consumption"
    ORIGIN_POWER_LINE = "origin of power line"
    EXTREMITY_POWER_LINE = "extremity of power line"


def validate_action(action, length: int) -> np.ndarray:
    """Return ``action`` as a fresh int8 vector or raise :class:`ActionError` (a ValueError).

    Accepts lists, tuples and numpy arrays of bools, integers or floats holding only 0 and 1.
    """
    if type(action) is np.ndarray and action.shape == (length,) and action.dtype.kind in "iu":
        # fast path: an integer vector of 0/1 (a fresh copy); as unsigned, negatives are > 1
        u = action if action.dtype.kind == "u" else action.view(f"u{action.dtype.itemsize}")
        if not (u > 1).any():
            return action.astype(np.int8)
    if isinstance(action, (str, bytes)) or action is None:
        raise ActionError(f"action must be a binary vector of length {length}, got {action!r}")
    a = np.asarray(action)
    if a.dtype == object:
        raise ActionError(f"action must be a numeric binary vector of length {length}, "
                          "got an object array (mixed types?)")
    if not (a.dtype == bool or np.issubdtype(a.dtype, np.number)):
        raise ActionError(f"action must hold numbers 0/1, got dtype {a.dtype}")
    if a.ndim != 1 or a.shape[0] != length:
        raise ActionError(f"action must be a 1-D binary vector of length {length} (pypownet "
                          f"layout: prods, loads, line origins, line extremities, line status), "
                          f"got shape {a.shape}")
    if a.dtype != bool:
        if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
            raise ActionError(f"action holds NaN at index {int(np.flatnonzero(np.isnan(a))[0])}; "
                              "use 0 or 1")
        bad = (a != 0) & (a != 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ActionError(f"action must hold only 0 or 1; index {i} is {a[i]!r} "
                              f"({int(bad.sum())} non-binary entries)")
    return a.astype(np.int8)


class ActionHelper:
    """pypownet's ``ActionSpace`` builders over plain int8 vectors.

    Reachable as ``env.unwrapped.action_helper``. Methods never modify the input action in
    place; they return a new vector.
    """

    def __init__(self, grid: GridArrays) -> None:
        self.grid = grid
        self.n_prod = grid.n_prod
        self.n_load = grid.n_load
        self.n_line = grid.n_line
        self.prods_switches_subaction_length = grid.n_prod
        self.loads_switches_subaction_length = grid.n_load
        self.lines_or_switches_subaction_length = grid.n_line
        self.lines_ex_switches_subaction_length = grid.n_line
        self.lines_status_subaction_length = grid.n_line
        self.action_length = grid.n_prod + grid.n_load + 3 * grid.n_line
        self.n = self.action_length
        o_load = grid.n_prod
        o_or = o_load + grid.n_load
        o_ex = o_or + grid.n_line
        self.offset_status = o_ex + grid.n_line
        #: substation of each node switch (length n_prod + n_load + 2 n_line)
        self.node_switch_sub = np.concatenate([grid.prod_sub_idx, grid.load_sub_idx,
                                               grid.line_sub_or_idx, grid.line_sub_ex_idx])
        self._sub_positions: list[np.ndarray] = []
        self._sub_types: list[np.ndarray] = []
        types = np.array([ElementType.PRODUCTION] * grid.n_prod
                         + [ElementType.CONSUMPTION] * grid.n_load
                         + [ElementType.ORIGIN_POWER_LINE] * grid.n_line
                         + [ElementType.EXTREMITY_POWER_LINE] * grid.n_line, dtype=object)
        for s in range(grid.n_sub):
            pos = np.flatnonzero(self.node_switch_sub == s)  # already prods, loads, or, ex
            self._sub_positions.append(pos)
            self._sub_types.append(types[pos])
        self._sub_lines = [np.flatnonzero((grid.line_sub_or_idx == s) | (grid.line_sub_ex_idx == s))
                           for s in range(grid.n_sub)]

    # ------------------------------------------------------------------ builders
    def get_do_nothing_action(self) -> np.ndarray:
        """An action with no switch activated."""
        return np.zeros(self.action_length, dtype=np.int8)

    do_nothing = get_do_nothing_action

    def array_to_action(self, array) -> np.ndarray:
        """Validate an array-like and return it as an action (raises :class:`ActionError`)."""
        return validate_action(array, self.action_length)

    def verify_action_shape(self, action) -> None:
        """Raise :class:`ActionError` unless ``action`` has the right length and 0/1 values."""
        validate_action(action, self.action_length)

    def _check_sub(self, substation_id: int) -> int:
        s = int(substation_id)
        if not 0 <= s < self.grid.n_sub:
            raise ActionError(f"substation id {substation_id} is out of range "
                              f"0..{self.grid.n_sub - 1}")
        return s

    def get_number_elements_of_substation(self, substation_id: int) -> int:
        """Number of prods + loads + line origins + line extremities of a substation."""
        return int(self._sub_positions[self._check_sub(substation_id)].shape[0])

    def get_switches_configuration_of_substation(self, action, substation_id: int):
        """Return ``(switch values, element types)`` of a substation in ``action``."""
        a = validate_action(action, self.action_length)
        s = self._check_sub(substation_id)
        return a[self._sub_positions[s]].copy(), self._sub_types[s].copy()

    def set_switches_configuration_of_substation(self, action, substation_id: int,
                                                 new_configuration) -> np.ndarray:
        """Return a copy of ``action`` with the node switches of a substation replaced."""
        a = validate_action(action, self.action_length)
        s = self._check_sub(substation_id)
        pos = self._sub_positions[s]
        cfg = validate_action(new_configuration, pos.shape[0])
        a[pos] = cfg
        return a

    def substation_element_indices(self, substation_id: int) -> np.ndarray:
        """Positions in the action vector of the node switches of a substation."""
        return self._sub_positions[self._check_sub(substation_id)].copy()

    def get_lines_status_switches_of_substation(self, action, substation_id: int):
        """Return ``(line status switches, line ids)`` of the lines touching a substation."""
        a = validate_action(action, self.action_length)
        lines = self._sub_lines[self._check_sub(substation_id)]
        return a[self.offset_status + lines].copy(), lines.copy()

    def set_lines_status_switches_of_substation(self, action, substation_id: int,
                                                new_configuration) -> np.ndarray:
        """Return a copy of ``action`` with the status switches of a substation's lines set."""
        a = validate_action(action, self.action_length)
        lines = self._sub_lines[self._check_sub(substation_id)]
        a[self.offset_status + lines] = validate_action(new_configuration, lines.shape[0])
        return a

    def set_lines_status_switch_from_id(self, action, line_id: int,
                                        new_switch_value: int) -> np.ndarray:
        """Return a copy of ``action`` with one line status switch set (0 or 1)."""
        a = validate_action(action, self.action_length)
        if not 0 <= int(line_id) < self.n_line:
            raise ActionError(f"line id {line_id} is out of range 0..{self.n_line - 1}")
        if new_switch_value not in (0, 1, True, False):
            raise ActionError(f"switch value must be 0 or 1, got {new_switch_value!r}")
        a[self.offset_status + int(line_id)] = int(new_switch_value)
        return a

    def get_lines_status_switch_from_id(self, action, line_id: int) -> int:
        a = validate_action(action, self.action_length)
        return int(a[self.offset_status + int(line_id)])

    # ------------------------------------------------------------------ splitting
    def split(self, action) -> dict[str, np.ndarray]:
        """The five sub-actions of a (validated) action, as views."""
        a = np.asarray(action)
        g = self.grid
        o1 = g.n_prod
        o2 = o1 + g.n_load
        o3 = o2 + g.n_line
        o4 = o3 + g.n_line
        return {"prods": a[:o1], "loads": a[o1:o2], "lines_or": a[o2:o3], "lines_ex": a[o3:o4],
                "lines_status": a[o4:]}
