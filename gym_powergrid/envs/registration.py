"""Registration of the ``PowerGrid-*`` ids with Gymnasium."""

from __future__ import annotations

import gymnasium as gym

#: Registered ids -> constructor keywords.
ENV_IDS: dict[str, dict] = {}

#: Hourly monthly chronics: at most 31 days x 24 steps per episode (one chronic).
MAX_EPISODE_STEPS = 31 * 24

SHIPPED_CASES = ("case14", "case30", "case118")

#: Default reward of every registered id (bounded, positive per surviving step; see
#: :mod:`gym_powergrid.envs.rewards`). ``gym.make(id, reward="pypownet")`` gives pypownet's.
DEFAULT_REWARD = "survival"

#: The native vector env (:mod:`gym_powergrid.envs.vector`) of every id:
#: ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``.
VECTOR_ENTRY_POINT = "gym_powergrid.envs.vector:PowerGridVectorEnv"

#: Level folder of the ``-hard`` ids (pypownet's layout: ``<case>/level1/``), next to level0.
HARD_LEVEL = "level1"
#: Cases shipping the hard level.
HARD_CASES = SHIPPED_CASES


def register_envs() -> None:
    """Register AC and DC ids, level0 and hard level, for every shipped case (idempotent)."""
    for case in SHIPPED_CASES:
        # level None = the folder's first level (level0), so that gym.make(id, parameters=...)
        # also takes another folder (a Grid2Op folder has no levels)
        variants = [(None, "", "AC"), (None, "-dc", "DC")]
        if case in HARD_CASES:
            variants += [(HARD_LEVEL, "-hard", "AC"), (HARD_LEVEL, "-hard-dc", "DC")]
        for level, suffix, mode in variants:
            env_id = f"PowerGrid-{case}{suffix}-v0"
            kwargs = {"parameters": case, "loadflow_mode": mode, "reward": DEFAULT_REWARD}
            if level is not None:
                kwargs["level"] = level
            ENV_IDS[env_id] = kwargs
            if env_id in gym.registry:
                continue
            gym.register(
                id=env_id,
                entry_point="gym_powergrid.envs.powergrid_env:PowerGridEnv",
                vector_entry_point=VECTOR_ENTRY_POINT,
                kwargs=kwargs,
                max_episode_steps=MAX_EPISODE_STEPS,
            )
