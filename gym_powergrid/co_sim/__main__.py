"""``python -m gym_powergrid.co_sim ...``: the co-simulation command line (see ``cli.py``)."""

from __future__ import annotations

import sys

from gym_powergrid.co_sim.cli import cosim_main

if __name__ == "__main__":
    sys.exit(cosim_main(sys.argv[1:]))
