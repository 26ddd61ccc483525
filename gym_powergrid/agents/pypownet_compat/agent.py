"""pypownet's ``pypownet.agent`` module as the adapter provides it: ``Agent``, ``DoNothing``
and the ``ActIOnManager`` helper (same constructor, ``dump`` and ``load`` as pypownet 2.2.9)."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod

import numpy as np

from .environment import RunEnv

logger = logging.getLogger(__name__)


class Agent(ABC):
    """pypownet's agent template: ``Agent(environment)``, ``act``, ``feed_reward``."""

    def __init__(self, environment):
        if not isinstance(environment, RunEnv):
            raise TypeError("a pypownet Agent is built with the environment the adapter gives "
                            f"(pypownet.environment.RunEnv), got {type(environment).__name__}")
        self.environment = environment

    @abstractmethod
    def act(self, observation):
        """Return an action (pypownet ``Action`` or binary array) for an observation array."""

    def feed_reward(self, action, consequent_observation, rewards_aslist):  # noqa: B027
        pass


class DoNothing(Agent):
    """pypownet's do-nothing agent."""

    def act(self, observation):
        return np.zeros(self.environment.action_space.action_length)


class ActIOnManager:
    """pypownet's action file helper: one action per line, appended by :meth:`dump`."""

    def __init__(self, destination_path="saved_actions.csv", delete=True):
        self.actions = []
        self.destination_path = destination_path
        logger.info("storing actions at %s", destination_path)
        if delete and os.path.exists(destination_path):
            os.remove(destination_path)

    def dump(self, action):
        with open(self.destination_path, "a") as f:
            f.write(f"{action}\n")

    @staticmethod
    def load(filepath):
        with open(filepath) as f:
            lines = f.read().splitlines()
        return [[int(v) for v in line.split(",")] for line in lines]
