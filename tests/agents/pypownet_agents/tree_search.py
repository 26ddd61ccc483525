"""A pypownet 2.2.9 depth-1 tree search over line status switches, with environment.simulate.

pypownet 2.2.9's simulate returns (observation, reward, done, flag); with do_sum=False the reward
is the list of reward components.
"""
import numpy as np
import pypownet.agent
import pypownet.environment


class TreeSearchLines(pypownet.agent.Agent):
    def __init__(self, environment):
        super().__init__(environment)
        self.simulations = 0
        self.last_choice = None

    def act(self, observation):
        action_space = self.environment.action_space
        candidates = [action_space.get_do_nothing_action(as_class_Action=True)]
        for line in range(action_space.lines_status_subaction_length):
            action = action_space.get_do_nothing_action(as_class_Action=True)
            action_space.set_lines_status_switch_from_id(action=action, line_id=line,
                                                         new_switch_value=1)
            candidates.append(action)
        rewards = []
        for action in candidates:
            obs, reward_aslist, done, flag = self.environment.simulate(action, do_sum=False)
            self.simulations += 1
            assert (obs is None) == done
            if obs is not None:
                self.environment.observation_space.array_to_observation(obs)
            rewards.append(sum(reward_aslist))
        best = int(np.argmax(rewards))
        self.last_choice = best
        return candidates[best]
