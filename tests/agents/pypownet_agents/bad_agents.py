"""pypownet-style files the adapter must refuse, each with a clear error (tests only)."""
import pypownet.agent
from pypownet.agent import Agent  # noqa: F401  (naming the base itself is an error)


class NotAnAgent:
    def act(self, observation):
        return None


class UsesTheGame(pypownet.agent.Agent):
    def act(self, observation):
        return self.environment.game.get_substations_ids()


class ReturnsNonsense(pypownet.agent.Agent):
    def act(self, observation):
        return "switch everything"


def helper():
    return 0
