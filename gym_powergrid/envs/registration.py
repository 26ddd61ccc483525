"""Registration of the ``PowerGrid-*`` ids with Gymnasium."""

from __future__ import annotations

import gymnasium as gym

#: Registered ids -> constructor keywords.
ENV_IDS: dict[str, dict] = {}

#: Hourly monthly chronics: at most 31 days x 24 steps per episode (one chronic).
MAX_EPISODE_STEPS = 31 * 24

SHIPPED_CASES = ("case14", "case30", "case118")


def register_envs() -> None:
    """Register AC and DC ids for every shipped case (idempotent)."""
    for case in SHIPPED_CASES:
        for suffix, mode in (("", "AC"), ("-dc", "DC")):
            env_id = f"PowerGrid-{case}{suffix}-v0"
            kwargs = {"parameters": case, "loadflow_mode": mode}
            ENV_IDS[env_id] = kwargs
            if env_id in gym.registry:
                continue
            gym.register(
                id=env_id,
                entry_point="gym_powergrid.envs.powergrid_env:PowerGridEnv",
                kwargs=kwargs,
                max_episode_steps=MAX_EPISODE_STEPS,
            )
