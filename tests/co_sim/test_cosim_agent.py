"""The generic simpy Agent: scheduling, lock-step and real-time clocks, stopping, errors."""

from __future__ import annotations

import threading
import time

import pytest

from gym_powergrid.co_sim.agent import Agent, run_agents
from gym_powergrid.errors import ConfigurationError

pytestmark = pytest.mark.timeout(30)


def test_lockstep_advances_only_when_told() -> None:
    agent = Agent(mode="lockstep")
    fired: list[tuple[str, float]] = []
    agent.schedule(lambda: fired.append(("a", agent.now)), delay=10)

    def proc():
        for _ in range(3):
            yield agent.env.timeout(5)
            fired.append(("p", agent.now))

    agent.schedule(proc)
    agent.schedule(lambda: fired.append(("now", agent.now)))
    agent.advance_to(0)
    assert fired == [("now", 0.0)]
    agent.advance_to(9.5)
    assert fired[1:] == [("p", 5.0)] and agent.now == 9.5
    agent.advance_to(20)
    assert fired[2:] == [("a", 10.0), ("p", 10.0), ("p", 15.0)] or fired[2:] == [
        ("p", 10.0), ("a", 10.0), ("p", 15.0)]
    with pytest.raises(ValueError, match="back in time"):
        agent.advance_to(3)


def test_failing_action_is_logged_and_counted() -> None:
    agent = Agent()
    agent.schedule(lambda: 1 / 0, delay=1)
    agent.schedule(lambda: None, delay=2)
    agent.advance_to(5)
    assert agent.stats["action_errors"] == 1 and agent.now == 5


def test_realtime_speed_factor() -> None:
    agent = Agent(mode="realtime", speed=200.0)
    stamps: list[float] = []

    def tick():
        while True:
            yield agent.env.timeout(20.0)  # 20 virtual s = 0.1 wall s at x200
            stamps.append(time.monotonic())

    agent.schedule(tick)
    t0 = time.monotonic()
    agent.run(until=100.0)
    elapsed = time.monotonic() - t0
    assert len(stamps) >= 4
    assert 0.4 <= elapsed < 3.0  # 100 virtual s at x200 = 0.5 wall s (loaded CI is slower)


def test_stop_from_another_thread_and_submit() -> None:
    agent = Agent(mode="lockstep")
    thread = agent.start()
    assert agent.running
    assert agent.submit(lambda x: x * 2, 21).result(5) == 42
    assert agent.call(threading.get_ident) == thread.ident
    timers: list[float] = []
    agent.submit(agent.call_later, 0.05, lambda: timers.append(time.monotonic())).result(5)
    time.sleep(0.3)
    assert len(timers) == 1
    agent.stop()
    assert agent.join(5)
    assert not agent.running


def test_many_agents_in_one_loop() -> None:
    agents = [Agent(mode="realtime", speed=1000.0, name=f"a{i}") for i in range(20)]
    counts = [0] * 20

    def make(i: int):
        def tick():
            while True:
                yield agents[i].env.timeout(10.0)
                counts[i] += 1
        return tick

    for i, agent in enumerate(agents):
        agent.schedule(make(i))
    run_agents(agents, until=100.0)
    assert all(c >= 9 for c in counts)


def test_bad_mode_and_speed() -> None:
    with pytest.raises(ConfigurationError, match="mode"):
        Agent(mode="fast")
    with pytest.raises(ConfigurationError, match="speed"):
        Agent(mode="realtime", speed=0)
