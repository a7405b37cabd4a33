"""The environments: one adapter core (:mod:`~openworld.envs.core`) and its four thin views, the single
Gymnasium env, the batched vector env, several bodies as envs, and the PettingZoo ParallelEnv."""
