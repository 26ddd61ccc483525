"""Gymnasium environments: :class:`PowerGridEnv`, its helpers and wrappers."""

from .actions import ActionHelper, ElementType, validate_action
from .observation import OBSERVATION_KEYS, as_array, get_lines_capacity_usage
from .powergrid_env import PowerGridEnv

__all__ = ["PowerGridEnv", "ActionHelper", "ElementType", "validate_action",
           "OBSERVATION_KEYS", "as_array", "get_lines_capacity_usage"]
