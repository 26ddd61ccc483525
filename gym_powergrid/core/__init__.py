"""numba core: power flow, islands, cascade and game rules over plain arrays.

Nothing in this package imports pandas or gymnasium. Importing it first clears numba's cache
of the core kernels when any ``core/*.py`` changed (:mod:`.jit_cache`): numba itself only
notices an edited entry file, not an edited callee.
"""

import os

# The parallel kernels (native vector env, batched look-ahead) run on numba's OpenMP layer when
# it is available. GNU OpenMP's default "active" wait spins its worker threads between parallel
# regions; on a machine whose cores are shared with other processes, each step then waits for
# descheduled spinning threads: the vector env measured 8,100 grid-steps/s with two threads
# against 46,000 with one (case14, N = 64, load average 2.5 on 2 cores), and 51,000-57,000 with
# two threads and the passive policy. setdefault: a user's own OMP_WAIT_POLICY wins; it only
# affects OpenMP runtimes loaded after this import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .jit_cache import refresh_stale  # noqa: E402
from .status import STATUS_MESSAGES, PFStatus  # noqa: E402

refresh_stale()

__all__ = ["PFStatus", "STATUS_MESSAGES"]
