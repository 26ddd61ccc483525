"""Agent benchmark executors: Ray gives the local executor's rows; lost workers are retried.

A local Ray instance (2 CPUs, loopback, dashboard off) is started once for the module and shut
down at its end. Skipped with the reason when Ray is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gym_powergrid.agents.compare import compare_agents
from gym_powergrid.agents.executors import run_tasks

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "gym-powergrid[ray]")')

ENV = "agents._fixture:make_env"  # an env factory given as an import path (tests/ on sys.path)
TIMING = ["seconds", "seconds_per_step", "candidates_per_second"]  # wall-clock columns
AGENTS_DIR = str(Path(__file__).resolve().parent)


@pytest.fixture(autouse=True)
def _agents_importable(monkeypatch):
    # "_ray_agents:DieOnce" is importable here, not on the workers: the executor ships it
    monkeypatch.syspath_prepend(AGENTS_DIR)


def _same_rows(a, b):
    import pandas as pd

    pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING))


def test_ray_equals_local_and_retries_a_lost_worker(tmp_path, caplog):
    """One local Ray (2 CPUs): same rows as the local executor; a worker that dies is retried."""
    marker = tmp_path / "died"
    dies_once = f"_ray_agents:DieOnce[marker={marker}]"
    agents = ["do-nothing", "random-switch", "reconnect", dies_once]
    kwargs = dict(n_chronics=2, seeds=(0, 1), max_steps=30, progress=False)
    with caplog.at_level("WARNING", logger="gym_powergrid.agents.executors"):
        on_ray = compare_agents([ENV], agents, executor="ray", workers=2, **kwargs)
    assert marker.exists()  # the first DieOnce episode did kill its worker
    # (a loaded machine may add OutOfMemoryError retries of Ray's memory monitor: also retried)
    crashed = [r for r in on_ray.attrs["retries"] if "WorkerCrashedError" in r["error"]]
    assert [(r["task"], r["attempt"]) for r in crashed] == [(12, 1)]
    assert "worker lost (WorkerCrashedError" in caplog.text and "retry 1/2" in caplog.text
    assert not ray.is_initialized()  # the executor shut down the instance it started
    local = compare_agents([ENV], agents, workers=1, **kwargs)  # marker exists: no death
    assert len(local) == 2 * 2 * len(agents)
    _same_rows(on_ray, local)
    assert local.attrs["retries"] == []


def test_failing_episode_raises_clear_error():
    with pytest.raises(RuntimeError, match="failed on a Ray worker: ValueError: this agent "
                                           "refuses to play"):
        compare_agents([ENV], ["_ray_agents:Raises"], n_chronics=1, max_steps=5,
                       executor="ray", progress=False)


def test_bench_cli_on_ray(tmp_path, capsys):
    from gym_powergrid.cli import main

    out = tmp_path / "bench"
    code = main(["bench", ENV, "--agents", "do-nothing", "--chronics", "1", "--seeds", "0",
                 "--steps", "10", "--executor", "ray", "--no-progress", "--output", str(out),
                 "--no-plot"])
    assert code == 0
    assert (out / "episodes.csv").is_file() and "do-nothing" in capsys.readouterr().out


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        run_tasks([], executor="dask")
    with pytest.raises(ValueError, match="--ray-address needs --executor ray"):
        run_tasks([], executor="local", ray_address="auto")
    with pytest.raises(ImportError, match="cannot import 'no_such_module'"):
        run_tasks([_task("no_such_module:Agent")], executor="ray")


def _task(agent):
    from gym_powergrid.agents.compare import Task

    return Task(ENV, agent, 0, 0, 5)
