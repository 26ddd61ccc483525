"""``python -m gym_powergrid.training``."""

from .cli import main

raise SystemExit(main())
