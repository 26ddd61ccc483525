"""Actions recorded to CSV replay identically; malformed files give clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.agents import (
    ActionsFileReader,
    ActionsRecorder,
    RandomSwitch,
    RecordingAgent,
    load_actions,
    make_agent,
)
from gym_powergrid.errors import ActionError


def test_record_then_replay_round_trip(env, tmp_path):
    path = tmp_path / "actions.csv"
    rec = RecordingAgent(RandomSwitch(env, seed=0), path)
    played = [rec.act(None) for _ in range(5)]
    rec.close()
    assert path.read_text().count("\n") == 5
    assert set(path.read_text().replace("\n", ",").strip(",").split(",")) <= {"0", "1"}
    reader = make_agent("replay", env, path=str(path))
    assert isinstance(reader, ActionsFileReader)
    for a in played:
        assert np.array_equal(reader.act(None), a)
    assert not reader.act(None).any()  # exhausted: do-nothing


def test_replay_loops_when_asked(env, tmp_path):
    path = tmp_path / "a.csv"
    with ActionsRecorder(path) as rec:
        a = env.action_helper.set_lines_status_switch_from_id(env.action_helper.do_nothing(), 2, 1)
        rec.dump(a)
    reader = ActionsFileReader(env, path=path, loop=True)
    assert all(np.array_equal(reader.act(None), a) for _ in range(3))


def test_header_is_skipped_and_errors_name_the_line(env, tmp_path):
    n = env.action_helper.action_length
    path = tmp_path / "h.csv"
    path.write_text(",".join(f"a{i}" for i in range(n)) + "\n" + ",".join(["0"] * n) + "\n")
    assert load_actions(path, n).shape == (1, n)
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(["0"] * n) + "\n" + ",".join(["0"] * (n - 1) + ["2"]) + "\n")
    with pytest.raises(ActionError, match=r"bad.csv:2: actions hold only 0 and 1"):
        load_actions(bad, n)
    short = tmp_path / "short.csv"
    short.write_text("0,1,0\n")
    with pytest.raises(ActionError, match=r"short.csv:1: .* 3"):
        ActionsFileReader(env, path=short)
    with pytest.raises(FileNotFoundError):
        ActionsFileReader(env, path=tmp_path / "missing.csv")
