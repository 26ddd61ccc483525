"""A grid simulator that raises mid-run (the mosaik failure test), as a process or in process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for a subprocess

from gym_powergrid.co_sim.mosaik import GridSimulator  # noqa: E402

FAIL_AT = 3 * 300


class FailingGrid(GridSimulator):
    """The real grid simulator, until it raises at time ``FAIL_AT``; records its pid."""

    def init(self, sid, time_resolution=1.0, **params):
        pid_file = os.environ.get("FAILING_GRID_PID_FILE")
        if pid_file:
            Path(pid_file).write_text(str(os.getpid()))
        return super().init(sid, time_resolution, **params)

    def step(self, time, inputs, max_advance):
        if time >= FAIL_AT:
            raise RuntimeError(f"grid simulator broke at time {time}")
        return super().step(time, inputs, max_advance)


if __name__ == "__main__":
    import mosaik_api_v3

    mosaik_api_v3.start_simulation(FailingGrid(), "failing grid")
