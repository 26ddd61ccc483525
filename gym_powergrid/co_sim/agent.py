"""The generic co-simulation agent: a simpy environment driven by a single-threaded event loop.

An :class:`Agent` owns a ``simpy.Environment`` whose clock runs in one of two modes:

* ``"realtime"``: virtual time follows the wall clock times ``speed`` (the SENS behaviour; e.g.
  ``speed=300`` replays 24 h in 4.8 min). Events fire when their wall time comes.
* ``"lockstep"``: virtual time advances only through :meth:`Agent.advance_to`, called when the
  environment steps; everything is deterministic.

Besides virtual-time events (:meth:`Agent.schedule`), an agent has wall-clock timers
(:meth:`Agent.call_later`) for network matters that must not depend on the simulated clock
(join retries, acknowledgement time-outs, keep-alives).

The loop (:func:`run_agents`) waits on the agents' sockets with a ``zmq.Poller`` until the next
due event, so one thread can serve one agent or hundreds of them (the benchmark multiplexes many
load agents per process). :meth:`Agent.stop` and :meth:`Agent.submit` are thread-safe: they wake
the loop through a socket pair.
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from gym_powergrid.co_sim import _deps
from gym_powergrid.errors import ConfigurationError

logger = logging.getLogger(__name__)

MODES = ("lockstep", "realtime")
_MAX_WAIT_S = 1.0


class TimerHandle:
    """A wall-clock timer returned by :meth:`Agent.call_later`; :meth:`cancel` disarms it."""

    __slots__ = ("due", "fn", "args", "cancelled")

    def __init__(self, due: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.due = due
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Prevent the timer from firing."""
        self.cancelled = True


class Agent:
    """A generic network agent with an endless event loop over a simpy environment.

    Args:
        mode: ``"lockstep"`` or ``"realtime"`` (see the module docstring).
        speed: Real-time speed factor: virtual seconds per wall second (> 0).
        start_time: Initial virtual time, seconds.
        name: Name used in logs and thread names.

    Raises:
        ConfigurationError: For an unknown mode or a non-positive speed.
    """

    def __init__(
        self,
        *,
        mode: str = "lockstep",
        speed: float = 1.0,
        start_time: float = 0.0,
        name: str = "agent",
    ) -> None:
        if mode not in MODES:
            raise ConfigurationError(f"mode {mode!r} is not one of {MODES}")
        if not speed > 0:
            raise ConfigurationError(f"speed must be > 0, got {speed!r}")
        self._simpy = _deps.simpy()
        self.mode = mode
        self.speed = float(speed)
        self.name = name
        self.env = self._simpy.Environment(initial_time=start_time)
        self.stats: Counter[str] = Counter()
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._tick = itertools.count()
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._started = False
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._wall0 = time.monotonic()
        self._virtual0 = float(start_time)

    # ------------------------------------------------------------------ virtual-time events
    @property
    def now(self) -> float:
        """Current virtual time, seconds."""
        return float(self.env.now)

    def schedule(self, action: Callable[[], Any] | Any, delay: float = 0.0) -> Any:
        """Run ``action`` after ``delay`` virtual seconds.

        Args:
            action: A callable (called with no argument; if it returns a generator, that
                generator runs as a simpy process) or a generator.
            delay: Virtual seconds from now (>= 0).

        Returns:
            The ``simpy.Process``. Exceptions raised by the action are logged and counted
            (``stats["action_errors"]``); they never stop the loop.
        """
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")

        def process() -> Any:
            if delay > 0:
                yield self.env.timeout(delay)
            try:
                result = action() if callable(action) else action
                if inspect.isgenerator(result):
                    return (yield from result)
                return result
            except self._simpy.Interrupt:
                return None
            except Exception:
                self.stats["action_errors"] += 1
                logger.exception("%s: scheduled action failed", self.name)
                return None

        return self.env.process(process())

    def reset_clock(self, start_time: float = 0.0) -> None:
        """Replace the simpy environment by a fresh one at ``start_time`` (drops its events)."""
        self.env = self._simpy.Environment(initial_time=start_time)
        self._virtual0 = float(start_time)
        self._wall0 = time.monotonic()

    def advance_to(self, t: float) -> None:
        """Lock-step: process every event up to virtual time ``t`` and set the clock to ``t``.

        Raises:
            ValueError: If ``t`` is in the past.
        """
        if t < self.env.now:
            raise ValueError(f"cannot go back in time from {self.env.now} to {t}")
        self._run_events_until(t)

    def _run_events_until(self, t: float) -> None:
        env = self.env
        while env.peek() <= t:
            try:
                env.step()
            except Exception:  # an un-waited failed process: log and go on
                self.stats["action_errors"] += 1
                logger.exception("%s: simpy event failed", self.name)
        if t > env.now:
            env.run(until=t)

    def _virtual_target(self) -> float:
        return self._virtual0 + (time.monotonic() - self._wall0) * self.speed

    # ------------------------------------------------------------------ wall-clock timers
    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        """Call ``fn(*args)`` from the loop after ``delay_s`` wall seconds (loop thread only)."""
        handle = TimerHandle(time.monotonic() + max(0.0, delay_s), fn, args)
        heapq.heappush(self._timers, (handle.due, next(self._tick), handle))
        return handle

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Thread-safe: run ``fn(*args)`` in the loop thread; return a Future of its result."""
        future: Future[Any] = Future()
        self._calls.append((fn, args, future))
        self._wake()
        return future

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = 10.0) -> Any:
        """Run ``fn(*args)`` in the loop thread and wait for its result.

        Called from the loop thread itself, or while the loop is not running, ``fn`` runs
        directly.
        """
        if not self.running or threading.get_ident() == self._loop_thread:
            return fn(*args)
        return self.submit(fn, *args).result(timeout)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):  # buffer full (already awake) or closed
            pass

    # ------------------------------------------------------------------ loop hooks
    def _pollables(self) -> list[Any]:
        """Sockets or file descriptors to watch; subclasses add theirs."""
        return [self._wake_r.fileno()]

    def _on_readable(self, item: Any) -> None:
        """Handle a readable pollable; subclasses handle their sockets."""
        if item == self._wake_r.fileno():
            try:
                while self._wake_r.recv(4096):
                    pass
            except (BlockingIOError, OSError):
                pass

    def _on_start(self) -> None:
        """Called in the loop thread before the first iteration."""

    def _on_stop(self) -> None:
        """Called in the loop thread after the last iteration (close resources here)."""

    def _time_to_next(self) -> float:
        if self._calls or self._stop_requested.is_set():
            return 0.0
        now = time.monotonic()
        wait = _MAX_WAIT_S
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if self._timers:
            wait = min(wait, self._timers[0][0] - now)
        if self.mode == "realtime":
            nxt = self.env.peek()
            if nxt != float("inf"):
                wait = min(wait, (nxt - self._virtual_target()) / self.speed)
        elif self.env.peek() <= self.env.now:
            wait = 0.0
        return max(0.0, wait)

    def _fire_due(self) -> None:
        while self._calls:
            fn, args, future = self._calls.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(exc)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, handle = heapq.heappop(self._timers)
            if handle.cancelled:
                continue
            try:
                handle.fn(*handle.args)
            except Exception:
                self.stats["timer_errors"] += 1
                logger.exception("%s: timer callback failed", self.name)
        if self.mode == "realtime":
            self._run_events_until(self._virtual_target())
        else:
            self._run_events_until(self.env.now)

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        """Whether the loop has started and not finished."""
        return self._started and not self._stopped.is_set()

    def run(self, until: float | None = None) -> None:
        """Run the event loop in the calling thread until :meth:`stop` (or virtual ``until``).

        Args:
            until: Real-time mode only: stop once virtual time reaches this value.
        """
        run_agents([self], until=until)

    def start(self) -> threading.Thread:
        """Run the loop in a daemon thread and return it."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=run_agents, args=([self],), kwargs={"ready": ready}, name=self.name,
            daemon=True,
        )
        self._thread.start()
        ready.wait(10.0)
        return self._thread

    def stop(self) -> None:
        """Ask the loop to stop (thread-safe, returns at once; see :meth:`join`)."""
        self._stop_requested.set()
        self._wake()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the loop has finished; return True if it has."""
        return self._stopped.wait(timeout)

    def _finish(self) -> None:
        try:
            self._on_stop()
        except Exception:
            logger.exception("%s: error while stopping", self.name)
        finally:
            for _, _, future in self._calls:
                future.cancel()
            self._calls.clear()
            self._wake_r.close()
            self._wake_w.close()
            self._stopped.set()


def run_agents(
    agents: Iterable[Agent], until: float | None = None, ready: threading.Event | None = None
) -> None:
    """Run several agents in one loop in the calling thread until all have stopped.

    Args:
        agents: The agents; each is started, polled and stopped here.
        until: Real-time agents stop once their virtual time reaches ``until``.
        ready: Set once every agent has run its start hook.
    """
    zmq = _deps.zmq()
    alive = list(agents)
    poller = zmq.Poller()
    owners: dict[Any, Agent] = {}
    for agent in alive:
        agent._loop_thread = threading.get_ident()
        agent._started = True
        agent._wall0 = time.monotonic()
        agent._virtual0 = agent.now
    try:
        for agent in alive:
            agent._on_start()
            for item in agent._pollables():
                poller.register(item, zmq.POLLIN)
                owners[item] = agent
    finally:
        if ready is not None:
            ready.set()
    try:
        while alive:
            wait = min(agent._time_to_next() for agent in alive)
            for item, _ in poller.poll(int(wait * 1000) if wait > 0 else 0):
                owner = owners.get(item)
                if owner is not None:
                    owner._on_readable(item)
            for agent in alive:
                agent._fire_due()
                if until is not None and agent.mode == "realtime" and agent.now >= until:
                    agent._stop_requested.set()
            for agent in [a for a in alive if a._stop_requested.is_set()]:
                alive.remove(agent)
                for item in agent._pollables():
                    poller.unregister(item)
                    owners.pop(item, None)
                agent._finish()
    finally:
        for agent in alive:  # an exception escaped the loop: still release every resource
            agent._finish()
