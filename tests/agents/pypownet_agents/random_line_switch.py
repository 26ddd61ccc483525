"""A pypownet 2.2.9 agent switching one random line per step, through Action objects."""
import numpy as np
import pypownet.agent
import pypownet.environment


class RandomLineSwitchAgent(pypownet.agent.Agent):
    def act(self, observation):
        if not isinstance(observation, pypownet.environment.Observation):
            observation = self.environment.observation_space.array_to_observation(observation)
        assert isinstance(observation, pypownet.environment.Observation)
        action_space = self.environment.action_space
        action = action_space.get_do_nothing_action(as_class_Action=True)
        line = np.random.randint(action_space.lines_status_subaction_length)  # noqa: NPY002
        action_space.set_lines_status_switch_from_id(action=action, line_id=line,
                                                     new_switch_value=1)
        assert action_space.get_lines_status_switch_from_id(action, line) == 1
        return action
