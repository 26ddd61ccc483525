"""A pypownet 2.2.9 agent that splits the largest substation once, then waits."""
import numpy as np
import pypownet.agent
import pypownet.environment


class SplitLargestSubstation(pypownet.agent.Agent):
    def __init__(self, environment):
        super().__init__(environment)
        self.t = 0
        self.split_substation = None

    def act(self, observation):
        observation = self.environment.observation_space.array_to_observation(observation)
        action_space = self.environment.action_space
        action = action_space.get_do_nothing_action(as_class_Action=True)
        self.t += 1
        if self.t != 2:
            return action
        sizes = [action_space.get_number_elements_of_substation(s)
                 for s in action_space.substations_ids]
        sub = action_space.substations_ids[int(np.argmax(sizes))]
        nodes, types = observation.get_nodes_of_substation(sub)
        assert len(nodes) == len(types) == max(sizes)
        # move every line origin of the substation to the other busbar
        config = np.array([1 if t == pypownet.environment.ElementType.ORIGIN_POWER_LINE else 0
                           for t in types])
        action = action_space.set_substation_switches_in_action(action, sub, config)
        switches, _ = action_space.get_substation_switches_in_action(action, sub)
        assert np.all(switches == config)
        self.split_substation = int(sub)
        return action
