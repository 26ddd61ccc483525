"""A deterministic pypownet 2.2.9 agent whose actions depend on the observation (no randomness).

Every 4 steps it switches off the most loaded line that is free to act on; 2 steps later it
reconnects the first line that is off and free again; at step 6 it moves the line origins of
the largest substation that is free to the other busbar. Used to compare the adapter with
pypownet itself, step by step.
"""
import numpy as np
import pypownet.agent
import pypownet.environment


class ObservationDriven(pypownet.agent.Agent):
    def __init__(self, environment):
        super().__init__(environment)
        self.t = 0

    def act(self, observation):
        o = self.environment.observation_space.array_to_observation(observation)
        space = self.environment.action_space
        action = space.get_do_nothing_action(as_class_Action=True)
        self.t += 1
        free = o.timesteps_before_lines_reactionable == 0
        if self.t % 4 == 1:
            usage = np.where((o.lines_status == 1) & free, o.get_lines_capacity_usage(), -1.0)
            space.set_lines_status_switch_from_id(action, int(np.argmax(usage)), 1)
        elif self.t % 4 == 3:
            off = np.flatnonzero((o.lines_status == 0) & free
                                 & (o.timesteps_before_lines_reconnectable == 0))
            if off.size:
                space.set_lines_status_switch_from_id(action, int(off[0]), 1)
        elif self.t == 6:
            subs = [s for s, cd in zip(o.substations_ids, o.timesteps_before_nodes_reactionable)
                    if cd == 0]
            sub = max(subs, key=space.get_number_elements_of_substation)
            nodes, types = o.get_nodes_of_substation(sub)
            config = [1 if t == pypownet.environment.ElementType.ORIGIN_POWER_LINE else 0
                      for t in types]
            action = space.set_substation_switches_in_action(action, sub, config)
        return action
