"""gym_powergrid: a fast, faithful Gymnasium environment for power-grid operation."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
