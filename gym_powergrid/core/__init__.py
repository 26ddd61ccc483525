"""numba core: power flow, islands, cascade and game rules over plain arrays.

Nothing in this package imports pandas or gymnasium.
"""

from .status import STATUS_MESSAGES, PFStatus

__all__ = ["PFStatus", "STATUS_MESSAGES"]
