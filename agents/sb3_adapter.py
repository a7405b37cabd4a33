"""A trained stable-baselines3 model, living through openworld's plug-in protocol.

SB3 trains on openworld's single env unchanged (``gymnasium.make("openworld/Meadow-v0")``: SB3's
``DummyVecEnv`` calls ``reset()`` after a death, which respawns the body in the same world). This
adapter then lets the saved model act in a runner's vector env, registered as ``sb3-v0``::

    model = stable_baselines3.PPO("MultiInputPolicy", gymnasium.make("openworld/Meadow-v0"))
    model.learn(100_000)
    model.save("meadow_ppo")
    agent = make_agent("sb3", obs_space, action_space, num_envs, seed=0, path="meadow_ppo.zip", trust_file=True)

**An SB3 model file can run code when loaded**: SB3's ``load`` unpickles parts of the ``.zip`` with
cloudpickle. The adapter loads one only when told that the file is trusted (``trust_file=True``, on the
command line ``agent.trust_file=true``), and warns even then; without it the agent is refused before the
file is opened. Pass it only for files you made or trust. Once loaded, the adapter's checkpointed state is
plain tensors (the policy's weights and the sampling generator), which a run's checkpoint reads without
running code: resuming a run does not reload the ``.zip``'s pickles from the checkpoint.

The model is **frozen**: ``observe`` does nothing (SB3 learns in its own ``learn`` loop, whose
episodic buffers do not fit an online protocol). Actions are sampled from the policy's distribution
with the adapter's own seeded ``torch.Generator`` (SB3's ``predict`` would draw from the global torch
generator), so the adapter is deterministic and its ``state_dict`` (the generator and the policy's
weights) restores it exactly. Policies without a distribution (DQN) act greedily. Recurrent policies
(sb3-contrib's ``RecurrentPPO``) are not supported.

SB3 is an optional dependency (``pip install stable-baselines3``, or openworld's ``test`` extra); it is
imported when an adapter is built, not when this module is imported.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from openworld.agent.protocol import Transition
from openworld.errors import AgentError
from openworld.registry import register_agent


class SB3Agent:
    """A saved stable-baselines3 model as an openworld agent (frozen).

    Args:
        observation_space: one env's observation space; must match the model's.
        action_space: one env's ``Discrete`` space; must match the model's.
        num_envs: worlds driven at once.
        seed: seeds the generator that samples actions.
        path: the model file written by ``model.save(...)`` (``.zip``).
        algorithm: the SB3 class that saved it (``PPO``, ``A2C``, ``DQN``, ...).
        deterministic: act greedily (the distribution's mode) instead of sampling.
        trust_file: load ``path`` although an SB3 ``.zip`` can run code when loaded (it is unpickled);
            only for files you made or trust. Without it the agent is refused.

    Raises:
        AgentError: ``trust_file`` is not ``True`` (naming the file and the risk).

    Warns:
        UserWarning: when a trusted file is loaded, naming the risk.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 path: str | Path, algorithm: str = "PPO", deterministic: bool = False,
                 trust_file: bool = False) -> None:
        try:
            import stable_baselines3
        except ImportError as err:
            raise ImportError("the sb3 agent needs stable-baselines3: pip install stable-baselines3") from err
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"SB3Agent needs a Discrete action space, got {action_space}")
        algorithm_class = getattr(stable_baselines3, algorithm, None)
        if algorithm_class is None or not hasattr(algorithm_class, "load"):
            raise ValueError(f"unknown stable-baselines3 algorithm {algorithm!r}; for discrete actions: "
                             "'PPO', 'A2C' or 'DQN'")
        if not Path(path).exists() and not Path(f"{path}.zip").exists():
            raise FileNotFoundError(f"no saved stable-baselines3 model at {path!r} (save one with model.save(path))")
        check_trusted(path, trust_file)
        self.model = algorithm_class.load(path, device="cpu")
        if self.model.observation_space != observation_space or self.model.action_space != action_space:
            raise ValueError(f"the model at {path!r} was trained on observations {self.model.observation_space} "
                             f"and actions {self.model.action_space}, not {observation_space} and {action_space}")
        self.policy = self.model.policy
        self.policy.set_training_mode(False)
        self.num_envs = int(num_envs)
        self.deterministic = bool(deterministic)
        self.generator = torch.Generator().manual_seed(int(seed))

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            obs_tensor, _ = self.policy.obs_to_tensor(obs)
            get_distribution = getattr(self.policy, "get_distribution", None)
            if self.deterministic or get_distribution is None:
                actions = self.policy._predict(obs_tensor, deterministic=True)
            else:
                probabilities = get_distribution(obs_tensor).distribution.probs
                actions = torch.multinomial(probabilities, 1, generator=self.generator)
        return actions.cpu().numpy().reshape(self.num_envs).astype(np.int64)

    def observe(self, transition: Transition) -> None:
        pass  # frozen: SB3 models learn in SB3's own loop

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "policy": copy.deepcopy(self.policy.state_dict())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"].clone())
        self.policy.load_state_dict(state["policy"])


def check_trusted(path: str | Path, trust_file: object) -> None:
    """Refuse an SB3 model file unless ``trust_file`` is ``True``; warn when it is (the file will be unpickled).

    Raises:
        AgentError: naming the file and the risk.
    """
    risk = "an SB3 .zip can run code when loaded (stable-baselines3 unpickles it with cloudpickle)"
    if trust_file is not True:
        given = "" if trust_file is False else f" (agent.trust_file is {trust_file!r:.40}, not true or false)"
        raise AgentError(f"sb3 agent: not loading {str(path)!r}: {risk}; pass agent.trust_file=true only for "
                         f"files you made or trust{given}")
    warnings.warn(f"loading the stable-baselines3 model {str(path)!r} with agent.trust_file=true: {risk}",
                  UserWarning, stacklevel=3)


register_agent("sb3-v0", SB3Agent, "a saved stable-baselines3 model (path=...), frozen, acting through the protocol",
               num_envs=16)  # a torch forward pass per step
