"""Chronics: the time series (injections, forecasts, maintenance, hazards) that drive a grid.

- :class:`Chronic`: one chronic as read-only numpy arrays;
- :func:`read_chronic` / :func:`write_chronic`: pypownet's chronic folder format (13 CSV files,
  plain, gzip or bz2);
- :class:`ChronicSet`: the chronics of a level, read lazily, looped ``natural``, ``random`` or
  ``fixed``;
- :func:`unavailable_steps` / :func:`steps_to_next_event`: expansion of maintenance and hazards.
"""

from .chronic import EVENT_FIELDS, INJECTION_FIELDS, Chronic
from .events import steps_to_next_event, unavailable_mask, unavailable_steps
from .looping import LOOPING_MODES, ChronicSet, check_start_step
from .pypownet_format import (
    CHRONIC_FILES,
    find_chronic_file,
    format_datetimes,
    missing_chronic_files,
    read_chronic,
    write_chronic,
)

ChronicsLoader = ChronicSet  # alias: the name used in some design notes

__all__ = [
    "Chronic", "INJECTION_FIELDS", "EVENT_FIELDS", "read_chronic", "write_chronic",
    "CHRONIC_FILES", "find_chronic_file", "missing_chronic_files", "format_datetimes",
    "ChronicSet", "ChronicsLoader", "LOOPING_MODES", "check_start_step",
    "unavailable_steps", "unavailable_mask", "steps_to_next_event",
]
