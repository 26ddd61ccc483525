"""A pypownet 2.2.9 agent that never acts (written against pypownet's API only)."""
import pypownet.agent
import pypownet.environment


class DoNothingAgent(pypownet.agent.Agent):
    def __init__(self, environment):
        super().__init__(environment)
        self.n_calls = 0
        self.rewards_seen = []

    def act(self, observation):
        self.n_calls += 1
        return self.environment.action_space.get_do_nothing_action()

    def feed_reward(self, action, consequent_observation, rewards_aslist):
        self.rewards_seen.append(list(rewards_aslist))
