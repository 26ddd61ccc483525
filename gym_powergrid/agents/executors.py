"""Where the agent benchmark's episodes run: this process, local processes, or Ray tasks.

:func:`run_tasks` plays a list of :class:`~gym_powergrid.agents.compare.Task` and returns their
rows in task order, whatever the executor, so that ``episodes.csv``, ``agents.csv``, the plots and
the JSON are the same for the same seeds and agents (only the timing columns differ).

* ``"local"``: ``workers`` spawned processes (``ProcessPoolExecutor``), or this process when
  ``workers <= 1``.
* ``"ray"``: one Ray task per episode (``num_cpus=1`` each, numba on one thread). Without
  ``ray_address`` a local Ray instance is started on ``workers`` CPUs (dashboard off) and shut
  down at the end; with ``ray_address`` (``"auto"``, ``"HOST:6379"`` or ``"ray://HOST:10001"``)
  the tasks go to that cluster. Agents and env factories given as import paths
  (``"my_agents:Smart"``) are shipped to the workers with Ray's ``py_modules`` when their module
  is not installed in site-packages. A Ray instance already running in this process
  (``ray.init`` called by the user) is used as it is and left running; its workers must then
  import such modules by themselves (the user's ``runtime_env``). A task whose worker dies
  (process killed, by Ray's memory monitor too, node lost) is submitted again up to
  ``max_retries`` times; every retry is logged as a warning and listed in the ``retries`` of
  :class:`RunReport`.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
RAY_INSTALL_HINT = 'pip install "gym-powergrid[ray]"'


@dataclass
class RunReport:
    """What :func:`run_tasks` did besides the rows.

    Attributes:
        executor: ``"local"`` or ``"ray"``.
        retries: one entry per resubmitted task: ``{"task": index, "attempt": n, "error": text}``.
        address: the Ray cluster used (``None`` for the local executor).
    """

    executor: str
    retries: list[dict[str, Any]] = field(default_factory=list)
    address: str | None = None


def run_tasks(tasks: Sequence[Any], executor: str = "local", workers: int = 2,
              ray_address: str | None = None, progress: Callable[[int], None] | None = None,
              max_retries: int = 2) -> tuple[list[dict[str, Any]], RunReport]:
    """Play ``tasks``; returns their rows (in task order) and a :class:`RunReport`.

    Args:
        tasks: :class:`~gym_powergrid.agents.compare.Task` objects.
        executor: ``"local"`` or ``"ray"``.
        workers: local processes, or the CPUs of a local Ray instance.
        ray_address: address of a running Ray cluster (``executor="ray"`` only).
        progress: called with the number of tasks just finished.
        max_retries: Ray only: resubmissions of a task whose worker was lost.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if ray_address is not None and executor != "ray":
        raise ValueError("--ray-address needs --executor ray")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    tick = progress or (lambda n: None)
    if executor == "ray":
        return _run_ray(list(tasks), int(workers), ray_address, tick, int(max_retries))
    return _run_local(list(tasks), int(workers), tick), RunReport("local")


# ---------------------------------------------------------------------- local
def _run_local(tasks: list[Any], workers: int, tick: Callable[[int], None]) -> list[dict]:
    from .compare import _worker_init, run_task

    rows: list[dict] = []
    if workers <= 1:
        for t in tasks:
            rows.append(run_task(t))
            tick(1)
        return rows
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init, initargs=(threads,)) as pool:
        for row in pool.map(run_task, tasks):
            rows.append(row)
            tick(1)
    return rows


# ---------------------------------------------------------------------- ray
def import_ray() -> Any:
    """``import ray``, or an ImportError with the install line."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"the Ray executor needs Ray ({exc}); install it with: "
                          f"{RAY_INSTALL_HINT}") from exc
    return ray


def _play_on_worker(task: Any) -> dict[str, Any]:
    """Body of the Ray task: one episode on one numba thread."""
    from .compare import _worker_init, run_task

    _worker_init(1)
    return run_task(task)


def shipped_modules(agent_specs: Sequence[str], env_specs: Sequence[Any] = ()) -> list[Any]:
    """Modules (or package folders) of import-path agents and envs to ship to Ray workers.

    An agent ``"pkg.mod:Class"`` (or ``"pkg.mod.Class"``) or an env factory ``"pkg.mod:make"``
    is imported here, so that a bad path fails now with its own error rather than on every
    worker. Its top-level module is returned unless it is gym_powergrid or lives in
    site-packages (installed on the workers like gym_powergrid itself); a namespace package is
    returned as its folder.
    """
    import importlib

    from .compare import parse_agent_spec

    names = []
    for spec in agent_specs:
        name, _ = parse_agent_spec(spec)
        if ":" in name or "." in name:
            names.append((spec, name.partition(":")[0] if ":" in name
                          else name.rpartition(".")[0]))
    for spec in env_specs:
        if isinstance(spec, str) and ":" in spec and not Path(spec).exists():
            names.append((spec, spec.partition(":")[0]))
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    out: dict[str, Any] = {}
    for spec, module_name in names:
        top = module_name.split(".")[0]
        if top == "gym_powergrid" or top in out:
            continue
        try:
            importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(f"{spec!r}: cannot import {module_name!r} ({exc}); give an "
                              "import path 'package.module:name' importable from here") from exc
        module = sys.modules[top]
        path = getattr(module, "__file__", None)
        if path is None:  # namespace package: ship its (first) folder
            folders = list(getattr(module, "__path__", []))
            if not folders:
                continue
            path, shipped = folders[0], str(Path(folders[0]).resolve())
        else:
            shipped = module
        if any(s in Path(path).resolve().parents for s in site):
            continue
        out[top] = shipped
    return list(out.values())


def _lost_worker_errors(ray: Any) -> tuple[type, ...]:
    exc = ray.exceptions
    names = ("WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "OwnerDiedError",
             "ObjectLostError", "LocalRayletDiedError", "ActorDiedError")
    return tuple(getattr(exc, n) for n in names if hasattr(exc, n))


def _run_ray(tasks: list[Any], workers: int, address: str | None,
             tick: Callable[[int], None], max_retries: int) -> tuple[list[dict], RunReport]:
    ray = import_ray()
    started_here = False
    modules = shipped_modules(sorted({t.agent for t in tasks}),
                              list(dict.fromkeys(t.env for t in tasks if isinstance(t.env, str))))
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        if modules:
            kwargs["runtime_env"] = {"py_modules": modules}
        if address is None:  # a local instance on loopback
            kwargs.update(num_cpus=workers, _node_ip_address="127.0.0.1")
        logger.info("starting Ray (%s)", address or f"local, {workers} CPUs")
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError, ValueError) as exc:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise RuntimeError(f"cannot connect to {where}: {exc} (start one with 'ray start "
                               "--head', check the address, or leave out --ray-address for "
                               "a local Ray)") from exc
        started_here = True
    else:
        if address is not None:
            logger.warning("Ray is already initialised in this process; ignoring "
                           "ray_address=%r", address)
        if modules:
            logger.warning("Ray was initialised before the benchmark: the workers must import "
                           "%s themselves (ray.init(runtime_env={'py_modules': [...]}))",
                           ", ".join(str(getattr(m, "__name__", m)) for m in modules))
    report = RunReport("ray", address=address or "local")
    try:
        rows = _submit_all(ray, tasks, tick, max_retries, report)
    finally:
        if started_here:
            ray.shutdown()
    return rows, report


def _submit_all(ray: Any, tasks: list[Any], tick: Callable[[int], None], max_retries: int,
                report: RunReport) -> list[dict]:
    # retries are ours (max_retries=0 in Ray) so that each one is seen and reported
    remote = ray.remote(num_cpus=1, max_retries=0)(_play_on_worker)
    lost = _lost_worker_errors(ray)
    pending = {remote.remote(t): (i, 1) for i, t in enumerate(tasks)}
    rows: list[dict | None] = [None] * len(tasks)
    try:
        _drain(ray, remote, lost, tasks, pending, rows, tick, max_retries, report)
    except BaseException:
        for ref in pending:  # a failed run stops the episodes still queued or running
            ray.cancel(ref, force=True)
        raise
    return [r for r in rows if r is not None]


def _drain(ray: Any, remote: Any, lost: tuple[type, ...], tasks: list[Any],
           pending: dict[Any, tuple[int, int]], rows: list[dict | None],
           tick: Callable[[int], None], max_retries: int, report: RunReport) -> None:
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            index, attempt = pending.pop(ref)
            try:
                rows[index] = ray.get(ref)
            except lost as exc:
                if attempt > max_retries:
                    raise RuntimeError(
                        f"task {index} ({tasks[index].agent} on chronic "
                        f"{tasks[index].chronic}, seed {tasks[index].seed}) lost its worker "
                        f"{attempt} times; last error: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
                first = str(exc).splitlines()[0] if str(exc) else ""
                logger.warning("task %d (%s, chronic %s, seed %d): worker lost (%s: %s); "
                               "retry %d/%d", index, tasks[index].agent, tasks[index].chronic,
                               tasks[index].seed, type(exc).__name__, first, attempt,
                               max_retries)
                report.retries.append({"task": index, "attempt": attempt,
                                       "error": f"{type(exc).__name__}: {first}"})
                pending[remote.remote(tasks[index])] = (index, attempt + 1)
                continue
            except ray.exceptions.RayTaskError as exc:  # the episode itself raised
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                raise RuntimeError(f"task {index} ({tasks[index].agent} on chronic "
                                   f"{tasks[index].chronic}, seed {tasks[index].seed}) failed "
                                   f"on a Ray worker: {type(cause).__name__}: {cause}") from exc
            tick(1)
