"""pypownet's simple baselines: do-nothing and the random controllers.

They only build actions with the action helper, as pypownet's examples do; they perform poorly
on purpose and exist to show the action layout and to give a floor in agent comparisons.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Agent


class DoNothing(Agent):
    """Never switches anything (pypownet's ``DoNothing``)."""

    name = "do-nothing"

    def act(self, observation: Any) -> np.ndarray:
        return self.do_nothing()


class RandomSwitch(Agent):
    """Activates one random switch, node or line status (pypownet's ``RandomPointAction``)."""

    name = "random-switch"

    def act(self, observation: Any) -> np.ndarray:
        action = self.do_nothing()
        action[int(self.rng.integers(self.action_helper.action_length))] = 1
        return action


class RandomAction(Agent):
    """Every switch activated with probability ``p`` (pypownet's ``RandomAction``).

    Args:
        env: the environment.
        seed: seed of the agent's generator.
        p: probability of each switch; pypownet's uniform random vector is ``p=0.5`` (most of
            those actions exceed the action limits and are replaced by do-nothing).
    """

    name = "random-action"

    def __init__(self, env: Any, seed: int | None = None, p: float = 0.5) -> None:
        super().__init__(env, seed)
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def act(self, observation: Any) -> np.ndarray:
        n = self.action_helper.action_length
        return (self.rng.random(n) < self.p).astype(np.int8)


class RandomLineSwitch(Agent):
    """Switches the status of one random line per step (pypownet's ``RandomLineSwitch``)."""

    name = "random-line-switch"

    def act(self, observation: Any) -> np.ndarray:
        line = int(self.rng.integers(self.action_helper.lines_status_subaction_length))
        return self.action_helper.set_lines_status_switch_from_id(self.do_nothing(), line, 1)


class RandomNodeSplitting(Agent):
    """A random switch configuration of one random substation per step.

    pypownet's ``RandomNodeSplitting``: pick a substation, draw a random binary configuration
    of its node switches and insert it into a do-nothing action.
    """

    name = "random-node-splitting"

    def act(self, observation: Any) -> np.ndarray:
        helper = self.action_helper
        sub = int(self.rng.integers(self.grid.n_sub))
        n = helper.get_number_elements_of_substation(sub)
        config = self.rng.integers(0, 2, size=n).astype(np.int8)
        return helper.set_switches_configuration_of_substation(self.do_nothing(), sub, config)
