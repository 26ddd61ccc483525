"""Acceptance tests of issue 10: PowerGridEnv replays pypownet 2.2.9's own trajectories.

Every committed trace (tests/pypownet/traces/, recorded by record_traces.py with pypownet
itself) is replayed step by step on ``PowerGridEnv(parameters=<pypownet folder>,
level="level0", game_over_mode="soft", reward="pypownet")`` with the folder's backend,
``pypower`` (pypownet's fast-decoupled solver on the numba core, gym_powergrid/core/fdpf.py): ampere
flows within 1e-4 relative (+10 mA), line status and topology equal, the same game-over steps
and reasons, the same applied actions, pypownet's reward components within 1e-6. A failure
prints the first differing step and field with both values (``python -m
tests.pypownet.replay <trace> --all`` gives the whole picture).

pypownet's parameter folders come from ``$GYM_POWERGRID_PYPOWNET_PARAMETERS``, the side venv,
or pypownet's wheel (``pip download``, extracted once into ~/.cache/gym_powergrid).
"""

from __future__ import annotations

import _traces as T
import numpy as np
import pytest
import replay as R

TRACES = T.committed_traces()


@pytest.fixture(scope="module")
def parameters():
    root = T.parameters_root(download=True, log=lambda msg: None)
    if root is None:
        pytest.skip(f"pypownet's parameter folders are not available (no "
                    f"${T.PARAMETERS_ENV}, no side venv, pip download of pypownet=="
                    f"{T.PYPOWNET_VERSION} failed)")
    return root


@pytest.fixture(scope="module")
def env_for(parameters):
    envs = {}

    def get(trace):
        if trace.folder not in envs:
            envs[trace.folder] = R.make_env(trace, parameters, backend="pypower")
        return envs[trace.folder]

    return get


def test_every_expected_trace_is_committed() -> None:
    expected = set()
    for trace_path in TRACES:
        t = T.read_trace(trace_path)
        expected.add((t.folder, t.meta["chronic_index"], t.scenario))
        assert t.meta["level"] == T.LEVEL and t.meta["game_over_mode"] == "soft"
        assert t.meta["versions"]["pypownet"] == T.PYPOWNET_VERSION
        assert t.meta["max_steps"] is None, f"{t.name} is a truncated recording"
    wanted = {(f, i, s) for f, idx in T.FOLDERS.items() for i in idx for s in T.SCENARIOS}
    assert wanted == expected, f"missing {sorted(wanted - expected)}"


@pytest.mark.parametrize("path", [p for p in TRACES if p.stem.endswith("_scripted")],
                         ids=lambda p: p.stem)
def test_scripted_events_happen_in_pypownet(path) -> None:
    """The scripted trace really holds a node split, a line off and on again, and a
    reconnection refused during the line's cooldown (checked on pypownet's own output)."""
    t = T.read_trace(path)
    plan, ev = t.meta["plan"], t.meta["plan"]["events"]
    moved, line = plan["node_switches"], plan["line"]
    topo = np.concatenate([t[f"obs_{k}"] for k in R.TOPOLOGY], axis=1)
    status = t["obs_lines_status"]
    assert (t["flag"][ev["node_split"]:ev["node_merge"] + 1] < 2).all(), "no game over inside"
    assert (topo[ev["node_split"] + 1, moved] == 1).all()
    assert (topo[ev["node_split"], moved] == 0).all()
    assert status[ev["line_off"], line] == 1 and status[ev["line_off"] + 1, line] == 0
    k = ev["reconnection_refused"]
    assert t["flag"][k] == 1 and t["action"][k, -len(status[0]) + line] == 1
    assert t["action_applied"][k, -len(status[0]) + line] == 0 and status[k + 1, line] == 0
    assert t["reward"][k, 2] < 0  # pypownet's illegal-move penalty in its action cost
    assert status[ev["line_on"] + 1, line] == 1
    assert (topo[ev["node_merge"] + 1, moved] == 0).all()


#: Traces we do not reproduce, and why (strict: the test fails when one starts to agree).
KNOWN_DIFFERENCES = {
    "default30_a_do_nothing": (
        "step 62: an island with nothing to serve (buses 9 and 11) leaves pypownet's B' matrix "
        "singular; SciPy's SuperLU reports it exactly singular here (pypownet: 'grid is not "
        "connexe'), while on default14_f step 591 the same kind of island factorises by rounding "
        "and settles. We follow the rule that matches the other cases (the island settles when "
        "its active-power mismatch at the starting point is below the tolerance), docs/rules.md"),
}


def _case(path):
    reason = KNOWN_DIFFERENCES.get(path.stem)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("path", [_case(p) for p in TRACES])
def test_trace_replays_like_pypownet(path, parameters, env_for) -> None:
    trace = T.read_trace(path)
    report = R.replay(trace, parameters, backend="pypower", env=env_for(trace))
    assert report.ok, report.summary()


def test_cli_prints_the_first_divergence_and_exits_accordingly(parameters, capsys) -> None:
    path = T.TRACES_DIR / "default14_a_scripted.npz"
    report = R.replay(path, parameters, backend="pypower")
    code = R.main([str(path), "--parameters", str(parameters)])
    out = capsys.readouterr().out
    assert out.startswith(report.summary().splitlines()[0].split(" (")[0])
    assert code == (0 if report.ok else 1)
    assert ("first divergence" in out) == (not report.ok)


# ---------------------------------------------------------------------- the comparator itself
def test_amps_tolerance_is_relative_with_a_small_floor() -> None:
    ref = np.array([100.0, 0.0, 1000.0, 0.5], np.float32)
    assert R.compare_amps(ref * (1 + 0.9e-4), ref) is None
    bad = R.compare_amps(ref + np.array([0, 0, 0.2, 0]), ref)  # 2e-4 relative on line 2
    assert bad is not None and bad.startswith("1 of 4 differ: [2]")
    assert R.compare_amps(ref + np.array([0, 0.02, 0, 0]), ref) is not None  # 20 mA on 0 A


def test_reward_components_are_mapped_and_compared_to_1e_6() -> None:
    ref = np.array([0.0, -1.4, -0.1, -0.02, -3.5])
    ours = dict(zip(R.REWARD_MAP.values(), ref.tolist()))
    assert R.compare_rewards(ours, ref) is None
    ours["line_usage"] += 5e-6
    assert "line_usage_reward" in R.compare_rewards(ours, ref)


def test_trace_files_are_byte_deterministic(tmp_path) -> None:
    arrays = {"b": np.arange(5, dtype=np.int16), "a": np.linspace(0, 1, 7)}
    meta = {"z": 1, "a": [1, 2]}
    T.write_trace(tmp_path / "one.npz", arrays, meta)
    T.write_trace(tmp_path / "two.npz", dict(reversed(arrays.items())), dict(meta))
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    back = T.read_trace(tmp_path / "one.npz")
    assert back.meta == meta and np.array_equal(back["a"], arrays["a"])
