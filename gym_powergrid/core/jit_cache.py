"""numba's on-disk cache of the core kernels: invalidation on changed callees, cold-cache notice.

numba's ``cache=True`` checks only the timestamp and size of the file that defines the entry
function: a kernel compiled from ``step_kernel.py`` keeps running the old code of a callee
edited in ``game_rules.py`` or a constant changed in ``pf_kernel.py``. :func:`refresh_stale`
(run once per process, on the first import of :mod:`gym_powergrid.core`) stores a hash of every
``core/*.py`` source next to the cache files and, when it differs, deletes the core's
``*.nbi`` / ``*.nbc`` files before any kernel loads them, so everything recompiles.

:func:`warn_if_cold` logs one WARNING the first time a process is about to compile the step
kernel from scratch (the first run after installing or editing ``core/``), so that the long
silent compile is explained.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STAMP_NAME = "gym_powergrid_core.srchash"
#: Cold compile of an env's step kernel and its callees, CPU seconds on one core (case14 AC
#: make + reset + step with empty caches: 34.5 s measured on a 2-core machine at load average
#: 3, 41 s at load 8-10; the previous version 42.8 and 51 s side by side).
COLD_COMPILE_S = 35
_state = {"refreshed": False, "warned": False}


def _anchor() -> None:  # a function of this file: numba's locator finds core's cache folder
    return None


def source_hash(folder: Path = HERE) -> str:
    """Hash of every ``*.py`` file of ``folder`` (names and contents, in name order)."""
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def cache_dir() -> Path | None:
    """The folder where numba keeps the cache files of ``core/`` (None if it has none)."""
    try:
        from numba.core.caching import FunctionCache

        return Path(FunctionCache._impl_class(_anchor).locator.get_cache_path())
    except Exception as exc:  # noqa: BLE001 - no cache locator: numba will not cache either
        logger.debug("no numba cache folder for %s: %s", HERE, exc)
        return None


def clear_if_stale(folder: Path, digest: str) -> int:
    """Delete the numba cache files in ``folder`` unless its stamp says ``digest``; write the
    stamp. Returns the number of files deleted."""
    stamp = folder / STAMP_NAME
    try:
        if stamp.read_text().strip() == digest:
            return 0
    except OSError:
        pass
    n = 0
    modules = {p.stem for p in HERE.glob("*.py")}
    for p in list(folder.glob("*.nbi")) + list(folder.glob("*.nbc")):
        if p.name.split(".", 1)[0] in modules:
            try:
                p.unlink()
                n += 1
            except OSError:  # another process got there first
                pass
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{STAMP_NAME}.{os.getpid()}"
        tmp.write_text(digest + "\n")
        tmp.replace(stamp)
    except OSError as exc:
        logger.debug("cannot write %s: %s", stamp, exc)
    if n:
        logger.info("core/ sources changed: deleted %d stale numba cache files in %s", n, folder)
    return n


def refresh_stale() -> None:
    """Once per process: clear the core's numba caches if any ``core/*.py`` changed."""
    if _state["refreshed"]:
        return
    _state["refreshed"] = True
    try:
        folder = cache_dir()
        if folder is not None:
            clear_if_stale(folder, source_hash())
    except Exception as exc:  # noqa: BLE001 - never block an import over a cache
        logger.debug("numba cache check skipped: %s", exc)


def is_cached(dispatcher) -> bool | None:
    """Whether numba's cache holds a fresh compiled version of ``dispatcher`` (an ``@njit``
    function with ``cache=True``), without compiling; None when it cannot tell. The kernels
    built by a factory (one per power-flow mode) share one index file: an entry counts only
    when its closure hash is this kernel's."""
    try:
        from numba.core.caching import FunctionCache

        cache = FunctionCache(dispatcher.py_func)
        index = cache._cache_file._load_index()
        if dispatcher.py_func.__closure__ is None:
            return bool(index)
        key = cache._index_key(None, dispatcher.targetctx.codegen())  # (sig, arch, hashes)
        return any(k[1:] == key[1:] for k in index)
    except Exception:  # noqa: BLE001 - numba internals moved: say nothing
        return None


def warn_if_cold(kernel, seconds: float = COLD_COMPILE_S) -> bool:
    """Log a WARNING (once per process) when the step kernel ``kernel`` (the env's, e.g.
    ``step_kernel.ENV_STEP_BY_MODE[mode]``) is not in numba's cache.

    Returns True when the warning was logged by this call."""
    if _state["warned"]:
        return False
    if kernel.signatures or is_cached(kernel) is not False:
        return False
    _state["warned"] = True
    msg = (f"first run: compiling numba kernels, about {seconds:.0f} s on one core (cached "
           "afterwards)")
    logger.warning(msg)
    if not _has_handler(logger):  # the package's NullHandler would swallow it: stderr
        logging.lastResort.handle(logger.makeRecord(logger.name, logging.WARNING, __file__, 0,
                                                    msg, (), None))
    return True


def _has_handler(log: logging.Logger) -> bool:
    """Whether a record of ``log`` reaches a handler other than a NullHandler."""
    c: logging.Logger | None = log
    while c is not None:
        if any(not isinstance(h, logging.NullHandler) for h in c.handlers):
            return True
        if not c.propagate:
            return False
        c = c.parent
    return False
