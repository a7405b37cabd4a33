"""Behaviour cloning: a behaviour prior pi0(a | s) learned by maximum likelihood from a dataset's actions.

Objective:
    Over the dataset's steps ``(s_t, a_t)``, minimise the negative log-likelihood of the action taken,

        L(theta) = - 1/|B| sum_{t in B} log pi_theta(a_t | s_t),

    with label smoothing ``eps`` optionally: the target is ``(1 - eps) onehot(a_t) + eps / A`` (cross-entropy
    against it). With ``recurrent=True`` the policy is ``pi_theta(a_t | h_t)``, ``h_t = GRU(enc(s_t), h_{t-1})``, and
    the loss is averaged over windows of ``sequence_length`` consecutive steps of one episode, ``h`` starting at
    zero at each window's first step (truncated backpropagation through the window).

Paper:
    Pomerleau, "ALVINN" (NeurIPS 1988) and the behavioural-cloning baseline of Pertsch et al., "Accelerating
    Reinforcement Learning with Learned Skill Priors" (CoRL 2020), whose flat prior pi0(a | s) is this one; its use
    as a KL-regularising prior for RL follows Tirumala et al., "Behavior Priors for Efficient Reinforcement
    Learning" (JMLR 2022).

What differs here:
    * Discrete actions (openworld's seven): a categorical head, cross-entropy; no Gaussian.
    * Dict observations: the view's integer codes and the vitals go through :class:`ViewEncoder`, the encoder
      family PPO uses. The layout is PPO's ``ActorCritic`` minus the value head: ``encoder`` (a ``ViewEncoder``),
      ``memory`` (a ``GRUCell``, when recurrent) and ``policy`` (``nn.Linear(hidden_size, num_actions)``), with
      PPO's default sizes (``embedding_dim=4``, ``channels=16``, ``hidden_size=128``). So the prior's
      ``encoder.*``, ``memory.*`` and ``policy.*`` weights load into a PPO network of the same settings as they
      are (the ``ppo-prior`` agent's warm start); only the value head starts fresh.
    * Reset-free data: an episode is a segment of a lifetime that ends at a death (terminated) or a cut
      (truncated) while the lifetime goes on. Feed-forward BC needs no episode structure; recurrent windows never
      cross a segment's end (:meth:`TransitionData.chunk_starts`), and the memory starts at zero in each window.
      An acting agent carries the memory across steps with :meth:`BehaviourPrior.step`; :meth:`action_logits`
      (no memory) is the recurrent prior's prediction from a zero memory, i.e. as at the first step of a window.

Figures:
    ``train/nll`` and ``train/accuracy`` (per minibatch; the NLL without label smoothing), and from
    :meth:`BehaviourPrior.evaluate` ``val/nll``, ``val/accuracy``, ``val/entropy`` (mean entropy of pi0, nats) and
    ``val/marginal_nll``: the NLL of the validation actions under the action frequencies of the training side (a
    policy that ignores the observation); BC has learned something from the observations when ``val/nll`` is
    below it. ``monitor`` (early stopping) is ``val/nll``.

Determinism:
    The modules are built under ``torch.random.fork_rng`` and re-initialised from ``seeded_generator(seed)``, so a
    seed gives the same weights and the global generators are never drawn from. The loss draws nothing.

Costs (one CPU thread, the default sizes, the 7x7 view, batch 256, measured with ``fit_offline`` on the busy
2-core development machine): feed-forward training runs 13,500 to 15,000 examples (steps) per second, so an epoch
of a 1M-step dataset takes about 70 s. A recurrent example is a whole window: with ``sequence_length=16``, 800 to
1,000 windows (13,000 to 16,000 steps) per second. Validation evaluates every step of every window it is given,
in batches of :data:`EVALUATION_BATCH_STEPS` steps; the data itself costs about 200 bytes a step
(``TransitionData``).

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> env = gym.make("openworld/Meadow-v0")
    >>> prior = BehaviourPrior(env.observation_space, env.action_space, seed=0)
    >>> obs, _ = env.reset(seed=0)
    >>> from openworld.prior.base import observations_to_tensors
    >>> prior.action_logits(observations_to_tensors(obs["view"][None], obs["vitals"][None])).shape
    torch.Size([1, 7])
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional

from openworld.agent.networks import ViewEncoder, initialise_module
from openworld.errors import PriorError, brief
from openworld.prior.base import Observations, Prior, seeded_generator
from openworld.prior.transitions import TransitionData
from openworld.registry import register_prior

EVALUATION_BATCH_STEPS = 8192  # steps per forward pass in evaluate: bounds its memory (about 20 MB of activations)


class BehaviourPrior(Prior):
    """pi0(a | s): a categorical policy on PPO's encoder, learned by behaviour cloning (see the module docstring).

    Args:
        observation_space: openworld's ``Dict(view, vitals)`` space.
        action_space: a ``Discrete`` space.
        seed: seeds the initial weights.
        embedding_dim: embedding width per view channel (PPO's default).
        channels: convolution channels of the encoder (PPO's default).
        hidden_size: width of the features and of the GRU state (PPO's default).
        label_smoothing: ``eps`` of the training target ``(1 - eps) onehot + eps / A`` (0: plain maximum likelihood).
        recurrent: a GRU cell after the encoder (as PPO's ``recurrent=True``), trained on windows of steps.
        sequence_length: steps per training window when ``recurrent`` (ignored otherwise).

    Raises:
        PriorError: spaces a prior cannot read, or settings out of range.
    """

    monitor: ClassVar[str] = "val/nll"

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, seed: int = 0,
                 embedding_dim: int = 4, channels: int = 16, hidden_size: int = 128, label_smoothing: float = 0.0,
                 recurrent: bool = False, sequence_length: int = 16) -> None:
        super().__init__(observation_space, action_space)
        for name, value in (("embedding_dim", embedding_dim), ("channels", channels), ("hidden_size", hidden_size),
                            ("sequence_length", sequence_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PriorError(f"bc: {name} must be an integer >= 1, got {brief(value)}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise PriorError(f"bc: label_smoothing must be in [0, 1), got {brief(label_smoothing)}")
        self.settings: dict[str, Any] = {
            "embedding_dim": int(embedding_dim), "channels": int(channels), "hidden_size": int(hidden_size),
            "label_smoothing": float(label_smoothing), "recurrent": bool(recurrent),
            "sequence_length": int(sequence_length)}
        self.hidden_size = int(hidden_size)
        self.label_smoothing = float(label_smoothing)
        self.recurrent = bool(recurrent)
        self.sequence_length = int(sequence_length) if self.recurrent else 1
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            self.encoder = ViewEncoder.for_space(observation_space, embedding_dim, channels, hidden_size)
            self.memory = nn.GRUCell(hidden_size, hidden_size) if self.recurrent else None
            self.policy = nn.Linear(hidden_size, self.num_actions)
        generator = seeded_generator(seed)
        initialise_module(self, generator)
        # PPO's policy-head scale: near-uniform logits at the start, and the same starting point as PPO's head.
        nn.init.orthogonal_(self.policy.weight, 0.01, generator=generator)

    def config(self) -> dict[str, Any]:
        return dict(self.settings)

    # ------------------------------------------------------------------------------------------ acting
    def initial_memory(self, n: int) -> torch.Tensor:
        """The memory at the start of a window or a life: zeros ``(n, hidden_size)`` (``(n, 0)`` if feed-forward)."""
        return torch.zeros((n, self.hidden_size if self.recurrent else 0))

    def step(self, obs: Observations, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N, A)`` for ``obs`` and the memory after it (``memory`` returned as is when feed-forward)."""
        features = self.encoder(obs["view"], obs["vitals"])
        if self.memory is not None:
            memory = self.memory(features, memory)
            features = memory
        return self.policy(features), memory

    def action_logits(self, obs: Observations, skill: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N, A)`` of pi0(a | s); a recurrent prior predicts from a zero memory (use :meth:`step` to carry
        one)."""
        logits, _ = self.step(obs, self.initial_memory(obs["view"].shape[0]))
        return logits

    # ------------------------------------------------------------------------------------------ learning
    def examples(self, data: TransitionData) -> np.ndarray:
        """Every step, or every step that starts a ``sequence_length`` window inside one episode when recurrent."""
        if self.recurrent:
            return data.chunk_starts(self.sequence_length)
        return np.arange(data.num_steps, dtype=np.int64)

    def _window_logits(self, data: TransitionData, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B * L, A)`` and actions ``(B * L,)`` of the windows starting at ``starts`` (``L = 1`` when
        feed-forward), the memory starting at zero in each window."""
        steps = np.asarray(starts)[:, None] + np.arange(self.sequence_length)[None, :]  # (B, L)
        obs = data.step_observations(steps)
        batch, length = steps.shape
        features = self.encoder(obs["view"].flatten(0, 1), obs["vitals"].flatten(0, 1)).view(batch, length, -1)
        if self.memory is not None:
            hidden = self.initial_memory(batch)
            outputs = []
            for t in range(length):
                hidden = self.memory(features[:, t], hidden)
                outputs.append(hidden)
            features = torch.stack(outputs, 1)
        logits = self.policy(features.flatten(0, 1))
        return logits, torch.from_numpy(data.actions[steps.reshape(-1)])

    def loss(self, data: TransitionData, examples: np.ndarray,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        logits, actions = self._window_logits(data, examples)
        loss = functional.cross_entropy(logits, actions, label_smoothing=self.label_smoothing)
        with torch.no_grad():
            nll = loss if self.label_smoothing == 0 else functional.cross_entropy(logits, actions)
            accuracy = (logits.argmax(1) == actions).float().mean()
        return loss, {"train/nll": float(nll.detach()), "train/accuracy": float(accuracy)}

    @torch.no_grad()
    def evaluate(self, data: TransitionData, examples: np.ndarray) -> dict[str, float]:
        """``val/nll``, ``val/accuracy``, ``val/entropy`` and ``val/marginal_nll`` over every step of the examples
        (each window's steps when recurrent), in batches of about :data:`EVALUATION_BATCH_STEPS` steps.

        ``val/marginal_nll`` scores the same actions under the action frequencies of the *training side*: the
        steps of every episode that holds none of ``examples`` (``fit_offline`` validates on whole held-out
        episodes, so this is its training split; if it held out a subset of a large validation side, the rest
        counts as training here, which only adds data the baseline could have seen). The counts get one extra
        per action (Laplace), so an action never seen in training costs a finite NLL. When the examples touch
        every episode, the frequencies are those of all the data.
        """
        examples = np.asarray(examples, np.int64)
        if len(examples) == 0:
            raise PriorError("bc: evaluate needs at least one example")
        held_out = np.zeros(data.num_episodes, bool)
        held_out[data.episode[examples]] = True
        training_actions = data.actions[~held_out[data.episode]]
        if len(training_actions) == 0:
            training_actions = data.actions
        counts = np.bincount(training_actions, minlength=self.num_actions).astype(np.float64) + 1.0
        log_frequency = torch.from_numpy(np.log(counts / counts.sum()))
        totals = {"nll": 0.0, "correct": 0.0, "entropy": 0.0, "marginal": 0.0}
        count = 0
        per_batch = max(1, EVALUATION_BATCH_STEPS // self.sequence_length)
        for begin in range(0, len(examples), per_batch):
            logits, actions = self._window_logits(data, examples[begin:begin + per_batch])
            log_probs = torch.log_softmax(logits, 1)
            totals["nll"] -= float(log_probs.gather(1, actions[:, None]).sum())
            totals["correct"] += float((logits.argmax(1) == actions).sum())
            totals["entropy"] -= float((log_probs.exp() * log_probs).sum())
            totals["marginal"] -= float(log_frequency[actions].sum())
            count += len(actions)
        return {"val/nll": totals["nll"] / count, "val/accuracy": totals["correct"] / count,
                "val/entropy": totals["entropy"] / count, "val/marginal_nll": totals["marginal"] / count}


register_prior("bc-v0", BehaviourPrior, "behaviour cloning: pi0(a | s) by maximum likelihood on a dataset's actions "
               "(PPO's encoder, optional GRU)", training="offline")
