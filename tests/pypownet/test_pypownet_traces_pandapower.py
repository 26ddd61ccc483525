"""The scripted pypownet traces replayed with the pandapower backend (issue 10: both backends
follow the same rules). Same tolerances as test_pypownet_traces.py; marked ``slow``: pandapower
costs about 60 ms per power flow (about a minute for the 14 scripted traces once they agree).
"""

from __future__ import annotations

import _traces as T
import pytest
import replay as R

SCRIPTED = [p for p in T.committed_traces() if p.stem.endswith("_scripted")]


@pytest.fixture(scope="module")
def parameters():
    root = T.parameters_root(download=True, log=lambda msg: None)
    if root is None:
        pytest.skip(f"pypownet's parameter folders are not available (no "
                    f"${T.PARAMETERS_ENV}, no side venv, pip download failed)")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("path", SCRIPTED, ids=lambda p: p.stem)
def test_scripted_trace_replays_like_pypownet_with_pandapower(path, parameters) -> None:
    trace = T.read_trace(path)
    report = R.replay(trace, parameters, backend="pandapower")
    assert report.ok, report.summary()
