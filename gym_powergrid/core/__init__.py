"""numba core: power flow, islands, cascade and game rules over plain arrays.

Nothing in this package imports pandas or gymnasium. Importing it first clears numba's cache
of the core kernels when any ``core/*.py`` changed (:mod:`.jit_cache`): numba itself only
notices an edited entry file, not an edited callee.
"""

from .jit_cache import refresh_stale
from .status import STATUS_MESSAGES, PFStatus

refresh_stale()

__all__ = ["PFStatus", "STATUS_MESSAGES"]
