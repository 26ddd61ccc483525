"""pypownet's ``Action`` and ``ActionSpace`` over our switch vectors and :class:`ActionHelper`.

An :class:`Action` holds one int8 switch vector in pypownet's layout (the layout of our
``MultiBinary`` actions); its five sub-actions (``prods_switches_subaction``, ...,
``lines_status_subaction``) are views into it, so pypownet's idiom
``action.lines_status_subaction[l] = 1`` writes the vector. Every substation and line method of
:class:`ActionSpace` delegates to the env's :class:`~gym_powergrid.envs.actions.ActionHelper`:
the layout is written once.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np

from ...envs import actions as env_actions
from .errors import unsupported
from .observation import SUBSTATION_ID_OFFSET

_PARTS = ("prods", "loads", "lines_or", "lines_ex", "lines_status")


class ElementType(Enum):
    """pypownet's ``ElementType`` (a plain Enum, so that ``types == ElementType.PRODUCTION``
    compares element-wise on numpy arrays, as agents do; our ``str`` Enum would not)."""

    PRODUCTION = env_actions.ElementType.PRODUCTION.value
    CONSUMPTION = env_actions.ElementType.CONSUMPTION.value
    ORIGIN_POWER_LINE = env_actions.ElementType.ORIGIN_POWER_LINE.value
    EXTREMITY_POWER_LINE = env_actions.ElementType.EXTREMITY_POWER_LINE.value


def pypownet_types(types) -> np.ndarray:
    """Our element types as an object array of pypownet's :class:`ElementType`."""
    return np.array([ElementType(t.value) for t in types], dtype=object)


def _part_property(part: str) -> property:
    def get(self: Action) -> np.ndarray:
        return self.space.action_helper.split(self.vector)[part]

    def set_(self: Action, value) -> None:
        view = self.space.action_helper.split(self.vector)[part]
        view[:] = np.asarray(value).ravel()

    return property(get, set_, doc=f"the {part} switches (a view into the action vector)")


def public_names(cls: type, instance: Any = None) -> set[str]:
    """Public attribute names of a class (and of an instance's ``__dict__``)."""
    names = {n for n in dir(cls) if not n.startswith("_")}
    if instance is not None:
        names |= {n for n in vars(instance) if not n.startswith("_")}
    return names


class Action:
    """pypownet's ``pypownet.game.Action``: a switch vector with pypownet's accessors."""

    prods_switches_subaction = _part_property("prods")
    loads_switches_subaction = _part_property("loads")
    lines_or_switches_subaction = _part_property("lines_or")
    lines_ex_switches_subaction = _part_property("lines_ex")
    lines_status_subaction = _part_property("lines_status")
    elementtype = ElementType

    def __init__(self, space: ActionSpace, vector: np.ndarray) -> None:
        self.space = space
        self.vector = vector  # int8, owned

    # pypownet's getters
    def get_prods_switches_subaction(self) -> np.ndarray:
        return self.prods_switches_subaction

    def get_loads_switches_subaction(self) -> np.ndarray:
        return self.loads_switches_subaction

    def get_lines_or_switches_subaction(self) -> np.ndarray:
        return self.lines_or_switches_subaction

    def get_lines_ex_switches_subaction(self) -> np.ndarray:
        return self.lines_ex_switches_subaction

    def get_lines_status_subaction(self) -> np.ndarray:
        return self.lines_status_subaction

    def get_node_splitting_subaction(self) -> np.ndarray:
        return self.vector[:self.space.action_helper.offset_status]

    def set_node_splitting_subaction(self, new_node_splitting_subaction) -> None:
        self.vector[:self.space.action_helper.offset_status] = np.asarray(
            new_node_splitting_subaction).ravel()

    def get_substation_switches(self, substation_id, concatenated_output=True):
        return self.space.get_substation_switches_in_action(self, substation_id,
                                                            concatenated_output)

    def set_substation_switches(self, substation_id, new_values) -> Action:
        return self.space.set_substation_switches_in_action(self, substation_id, new_values)

    def set_as_do_nothing(self) -> Action:
        self.vector[:] = 0
        return self

    def as_array(self) -> np.ndarray:
        return self.vector.astype(int)

    def __array__(self, dtype=None, copy=None):
        return self.vector.astype(dtype or int)

    def __len__(self, do_sum=True):
        if do_sum:
            return int(self.vector.shape[0])
        return tuple(int(self.space.action_helper.split(self.vector)[p].shape[0])
                     for p in _PARTS)

    def __getitem__(self, item):
        return self.vector[item % len(self)]

    def __setitem__(self, item, value) -> None:
        self.vector[item % len(self)] = value

    def __deepcopy__(self, memo) -> Action:
        return Action(self.space, self.vector.copy())

    def __copy__(self) -> Action:
        return Action(self.space, self.vector.copy())

    def __str__(self) -> str:
        return str(self.as_array())

    __repr__ = __str__


class ActionSpace:
    """pypownet's ``ActionSpace`` (a ``MultiBinary``), delegating to our ActionHelper.

    Substation ids are pypownet's (1-based); line ids are 0-based as in pypownet.
    """

    def __init__(self, env: Any) -> None:
        base = getattr(env, "unwrapped", env)
        self.action_helper = h = base.action_helper
        g = base.grid
        self.n_substations = g.n_sub
        self.prods_switches_subaction_length = h.prods_switches_subaction_length
        self.loads_switches_subaction_length = h.loads_switches_subaction_length
        self.lines_or_switches_subaction_length = h.lines_or_switches_subaction_length
        self.lines_ex_switches_subaction_length = h.lines_ex_switches_subaction_length
        self.lines_status_subaction_length = h.lines_status_subaction_length
        self.action_length = self.n = h.action_length
        self.shape = (h.action_length,)
        self.dtype = np.int8
        # pypownet's dtypes: substation ids float, element substation ids int
        self.substations_ids = np.arange(g.n_sub, dtype=float) + SUBSTATION_ID_OFFSET
        self.prods_subs_ids = np.asarray(g.prod_sub_idx, dtype=int) + SUBSTATION_ID_OFFSET
        self.loads_subs_ids = np.asarray(g.load_sub_idx, dtype=int) + SUBSTATION_ID_OFFSET
        self.lines_or_subs_id = np.asarray(g.line_sub_or_idx, dtype=int) + SUBSTATION_ID_OFFSET
        self.lines_ex_subs_id = np.asarray(g.line_sub_ex_idx, dtype=int) + SUBSTATION_ID_OFFSET

    # ------------------------------------------------------------------ conversions
    def substation_index(self, substation_id) -> int:
        """Our 0-based index of a pypownet substation id (ValueError naming the valid range)."""
        try:
            s = int(substation_id)
            ok = float(substation_id) == s
        except (TypeError, ValueError):
            ok = False
        if not ok or not 0 <= s - SUBSTATION_ID_OFFSET < self.n_substations:
            raise ValueError(f"Substation with id {substation_id!r} does not exist; pypownet "
                             f"ids run from {SUBSTATION_ID_OFFSET} to "
                             f"{self.n_substations - 1 + SUBSTATION_ID_OFFSET}")
        return s - SUBSTATION_ID_OFFSET

    def to_vector(self, action) -> np.ndarray:
        """The int8 switch vector of an :class:`Action` or array-like (validated, a copy)."""
        if isinstance(action, Action):
            return self.action_helper.array_to_action(action.vector)
        return self.action_helper.array_to_action(action)

    def get_do_nothing_action(self, as_class_Action=False):
        """A do-nothing action: an int array, or an :class:`Action` with ``as_class_Action``."""
        action = Action(self, self.action_helper.get_do_nothing_action())
        return action if as_class_Action else action.as_array()

    def array_to_action(self, array) -> Action:
        """An :class:`Action` from an array-like (ValueError for a wrong length or non 0/1)."""
        if isinstance(array, Action):
            return array
        return Action(self, self.to_vector(array))

    def _as_action(self, action) -> Action:
        return action if isinstance(action, Action) else self.array_to_action(action)

    def sample(self) -> np.ndarray:
        """A random switch vector (numpy's global generator, as pypownet's agents use)."""
        return np.random.randint(0, 2, self.action_length).astype(np.int8)  # noqa: NPY002

    def contains(self, x) -> bool:
        try:
            self.to_vector(x)
        except ValueError:
            return False
        return True

    # ------------------------------------------------------------------ substations
    def get_number_elements_of_substation(self, substation_id) -> int:
        return self.action_helper.get_number_elements_of_substation(
            self.substation_index(substation_id))

    def get_substation_switches_in_action(self, action, substation_id,
                                          concatenated_output=True):
        """``(switch values, element types)`` of a substation, pypownet's element order; with
        ``concatenated_output=False`` the values come as (prods, loads, origins, extremities)."""
        a = self._as_action(action)
        values, types = self.action_helper.get_switches_configuration_of_substation(
            a.vector, self.substation_index(substation_id))
        values = values.astype(int)
        types = pypownet_types(types)
        if concatenated_output:
            return values, types
        groups = tuple(values[types == t] for t in (
            ElementType.PRODUCTION, ElementType.CONSUMPTION, ElementType.ORIGIN_POWER_LINE,
            ElementType.EXTREMITY_POWER_LINE))
        return groups, types

    def set_substation_switches_in_action(self, action, substation_id, new_values) -> Action:
        """Set a substation's node switches; an :class:`Action` is changed in place (and
        returned), an array is not (catch the returned Action, as in pypownet)."""
        a = self._as_action(action)
        a.vector[:] = self.action_helper.set_switches_configuration_of_substation(
            a.vector, self.substation_index(substation_id), np.asarray(new_values).ravel())
        return a

    # ------------------------------------------------------------------ lines
    def get_lines_status_switches_of_substation(self, action, substation_id) -> np.ndarray:
        values, _ = self.action_helper.get_lines_status_switches_of_substation(
            self._as_action(action).vector, self.substation_index(substation_id))
        return values.astype(int)

    def set_lines_status_switches_of_substation(self, action, substation_id,
                                                new_configuration) -> Action:
        a = self._as_action(action)
        a.vector[:] = self.action_helper.set_lines_status_switches_of_substation(
            a.vector, self.substation_index(substation_id),
            np.asarray(new_configuration).ravel())
        return a

    def get_lines_status_switch_from_id(self, action, line_id) -> int:
        return self.action_helper.get_lines_status_switch_from_id(
            self._vector_of(action), line_id)

    def set_lines_status_switch_from_id(self, action, line_id, new_switch_value) -> None:
        """Set one line status switch in place (an :class:`Action` or a numpy array)."""
        vec = self._vector_of(action)
        new = self.action_helper.set_lines_status_switch_from_id(vec, line_id,
                                                                 int(new_switch_value))
        if isinstance(action, Action):
            action.vector[:] = new
        else:
            action[:] = new

    def _vector_of(self, action) -> np.ndarray:
        if isinstance(action, Action):
            return action.vector
        if not isinstance(action, np.ndarray):
            raise TypeError("pass an Action (get_do_nothing_action(as_class_Action=True)) or a "
                            f"numpy array, got {type(action).__name__}")
        return action

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported("ActionSpace", name, public_names(ActionSpace, self))

    def __deepcopy__(self, memo) -> ActionSpace:
        return self  # immutable description of the grid's switches

    def __copy__(self) -> ActionSpace:
        return self


