"""What every skill-discovery prior shares: a library of ``K`` discrete skills learned without reward, online.

A skill-discovery method (:mod:`openworld.priors.diayn`, :mod:`openworld.priors.metra`) is an intrinsic reward
``r(s, z, s')`` plus a representation learned beside a skill-conditioned policy. Everything else is here, once:

* **Skills.** ``K`` discrete skills, one-hot rows (``skill_kind = "discrete"``, ``skill_dim = K``). Each env holds a
  skill, resampled uniformly every ``skill_steps`` world steps and at every respawn after a death (the lifetime is
  reset-free: there are no episodes to start a skill with).
* **The skill library.** An actor-critic ``pi(a | s, z)``, ``V(s, z)`` on :class:`~openworld.agent.networks.ViewEncoder`
  (the encoder's features concatenated with ``z``, one ReLU layer, a policy and a value head), trained online with
  PPO on the intrinsic reward only (the world's reward is never read):

  ``L = E[max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps))] + c_v E[(V(s, z) - R)^2] / 2 - c_H E[H(pi(. | s, z))]``

  with generalized advantage estimation (``gamma``, ``gae_lambda``), advantages normalised per minibatch.
* **Cuts.** A death is a terminal (no bootstrap). The vector env's ``NEXT_STEP`` autoreset step (the step after a
  termination: its action is ignored and its next observation is the respawned body) is excluded from every loss,
  the representation's included. A skill's end (resample) cuts the advantage chain and bootstraps from
  ``V(s', z)`` with the skill that ended (not the next one's value, which is why the advantages are computed here
  rather than with :func:`openworld.agents.ppo.generalized_advantages`, which reads ``V(s_{t+1})`` off the rollout).
* **One update per rollout.** Every ``rollout_steps`` world steps the representation is trained first on minibatches
  drawn from a replay of the last ``replay_rollouts`` rollouts' valid transitions (``representation_epochs`` x
  ``num_minibatches``), the intrinsic rewards are computed with the updated representation (as URLB's DIAYN and
  METRA's own code do), then PPO runs ``num_epochs`` passes on the rollout. The papers train everything
  off-policy (SAC with a replay buffer); here the policy learns on-policy, as openworld's PPO does. The
  representation's replay matters more here than in the papers: a skill is held for ``skill_steps`` steps in one
  world, so on one rollout alone a discriminator learns which *world* each skill ran in (the views of a place),
  not what the skill does, and that memorised reward pays a skill for standing still where it was seen (measured:
  without replay, DIAYN's held-out accuracy stayed at exactly ``1 / K``: every skill stood still from the snapshot).
  The replay alone does not cure it at small budgets (below).
* **Measuring the library** (:func:`measure_skills`, also used by ``benchmarks/skill_coverage.py``): from one
  snapshot of the envs, each skill in turn is held fixed for ``skill_steps`` steps in every env, starting from the
  same state (``envs.get_state``/``set_state``), so the skills' visit maps differ only by the skills. The body
  positions come from the engine state (``envs.engine.state.body_cell``), which the agent never sees.

Determinism:
    The initial weights come from :func:`~openworld.prior.base.seeded_generator` of the constructor's ``seed``
    (modules are built inside ``torch.random.fork_rng`` and re-initialised); ``fit_online`` draws skills, actions and
    minibatches from one generator derived from its ``seed``, and resets the env with that seed, so the same seed
    gives identical training on the CPU with a fixed thread count.

Costs and status (one CPU thread, 8 worlds of ``Meadow-v0``, K = 8, the defaults, on the busy 2-core development
machine; ``python benchmarks/skill_coverage.py --steps 25000``, 3 seeds, IQM): training lives about 2,800
agent-steps per second for DIAYN and 2,450 for METRA (two encoders per transition); the encoders' forward and
backward passes dominate, the world's step is ~2%. At that budget (200,000 agent-steps) DIAYN's skills are told
apart on held-out states (accuracy 0.50, chance 0.125) and METRA's barely (0.19); METRA covers more distinct cells
(273 [243, 321] against 198 [193, 203]) and more per skill (63 against 48), but both cover fewer than the untrained,
near-uniform policy (462): neither has yet learnt to travel far. The PPO settings matter: with ``entropy_coef`` 0.01 and
``learning_rate`` 1e-3 every skill's policy converged to the same behaviour (per-skill action distributions equal
within 0.01) and DIAYN's held-out accuracy stayed at ``1 / K``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from openworld.agent.losses import clipped_surrogate, masked_mean, normalised_advantages
from openworld.agent.networks import ViewEncoder, initialise_module
from openworld.errors import PriorError
from openworld.prior.base import FitResult, LogFunction, Observations, Prior, seeded_generator
from openworld.prior.fitting import setting_number

Batch = dict[str, torch.Tensor]  # flat transitions: view, vitals, next_view, next_vitals, skill (one-hot), ...


# ---------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SkillSettings:
    """The ``training`` node of a skill-discovery prior's pretrain config (the keys every method shares).

    Attributes:
        rollout_steps: world steps per env between updates.
        num_epochs: PPO passes over each rollout.
        representation_epochs: passes of the discriminator / representation per update, each of ``num_minibatches``
            minibatches of the rollout's size drawn from the replay of past rollouts.
        replay_rollouts: how many past rollouts' valid transitions the discriminator / representation replays.
        num_minibatches: minibatches per pass (of the ``rollout_steps * num_envs`` transitions).
        learning_rate: Adam step size of the policy and value.
        representation_learning_rate: Adam step size of the discriminator / representation.
        gamma: discount of the intrinsic return.
        gae_lambda: GAE's lambda.
        clip_coef: PPO's ratio clip.
        entropy_coef: weight of the entropy bonus.
        value_coef: weight of the value loss.
        max_grad_norm: global gradient-norm clip of the policy's update.
        skill_steps: world steps a skill is held before it is resampled (and the length of the final measurement).
    """

    rollout_steps: int = 64
    num_epochs: int = 4
    representation_epochs: int = 2
    replay_rollouts: int = 16
    num_minibatches: int = 4
    learning_rate: float = 3e-3
    representation_learning_rate: float = 1e-3
    gamma: float = 0.9
    gae_lambda: float = 0.9
    clip_coef: float = 0.2
    entropy_coef: float = 0.001
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    skill_steps: int = 50


def parse_settings(prior: str, settings: Mapping[str, Any],
                   extras: Mapping[str, float]) -> tuple[SkillSettings, dict[str, float]]:
    """The shared settings and the method's own (``extras``: their defaults) from a ``training`` mapping.

    Raises:
        PriorError: naming an unknown key (and the known ones), or a count below 1.
    """
    shared = {f.name for f in dataclasses.fields(SkillSettings)}
    unknown = sorted(set(settings) - shared - set(extras))
    if unknown:
        raise PriorError(f"{prior}: unknown training setting(s) {unknown}; known: {sorted(shared | set(extras))}")
    types = {f.name: int if f.type in ("int", int) else float for f in dataclasses.fields(SkillSettings)}
    parsed = SkillSettings(**{key: setting_number(key, settings[key], types[key]) for key in shared & set(settings)})
    for key in ("rollout_steps", "num_epochs", "representation_epochs", "replay_rollouts", "num_minibatches",
                "skill_steps"):
        if getattr(parsed, key) < 1:
            raise PriorError(f"{prior}: training.{key} must be >= 1, got {getattr(parsed, key)}")
    return parsed, {key: setting_number(key, settings.get(key, default), float) for key, default in extras.items()}


# ---------------------------------------------------------------------------------------------- networks
class SkillPolicy(nn.Module):
    """``pi(a | s, z)`` and ``V(s, z)``: encoder features and the skill, one ReLU layer, a policy and a value head."""

    def __init__(self, encoder: ViewEncoder, hidden_size: int, num_skills: int, num_actions: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.trunk = nn.Sequential(nn.Linear(hidden_size + num_skills, hidden_size), nn.ReLU())
        self.policy = nn.Linear(hidden_size, num_actions)
        self.value = nn.Linear(hidden_size, 1)

    def forward(self, view: torch.Tensor, vitals: torch.Tensor,
                skill: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N, A)`` and values ``(N,)``."""
        features = self.trunk(torch.cat([self.encoder(view, vitals), skill], 1))
        return self.policy(features), self.value(features).squeeze(1)

    def initialise(self, generator: torch.Generator) -> None:
        """As PPO: orthogonal (gain sqrt 2; 0.01 for the policy so it starts uniform, 1 for the value)."""
        initialise_module(self, generator)
        nn.init.orthogonal_(self.policy.weight, 0.01, generator=generator)
        nn.init.orthogonal_(self.value.weight, 1.0, generator=generator)


def one_hot(indices: torch.Tensor, num_skills: int) -> torch.Tensor:
    """Float one-hot rows ``(N, K)``."""
    return nn.functional.one_hot(indices.long(), num_skills).float()


def advantages_with_cuts(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                         terminated: torch.Tensor, cut: torch.Tensor, valid: torch.Tensor, gamma: float,
                         gae_lambda: float) -> torch.Tensor:
    """GAE over a ``(T, n)`` rollout whose bootstrap values are given per step.

    ``next_values[t] = V(s_{t+1}, z_t)`` (the skill of step ``t``, also when the skill changes at ``t + 1``). A
    terminated step does not bootstrap; a terminated or cut step ends the chain; an invalid step has advantage 0.

    Example:
        >>> ones, zeros = torch.ones(3, 1), torch.zeros(3, 1, dtype=torch.bool)
        >>> cut = torch.tensor([[False], [True], [False]])
        >>> advantages_with_cuts(ones, torch.zeros(3, 1), ones, zeros, cut, ~zeros, 0.5, 1.0).flatten().tolist()
        [2.25, 1.5, 1.5]
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        alive = (~terminated[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * alive * next_values[t] - values[t]
        carry = alive * (~cut[t]).to(rewards.dtype)
        running = (delta + gamma * gae_lambda * carry * running) * valid[t].to(rewards.dtype)
        advantages[t] = running
    return advantages


# ---------------------------------------------------------------------------------------------- the prior
class SkillDiscovery(Prior):
    """Base of the discovered-skill priors: the skill policy, skill sampling, the online loop and the measurement.

    A subclass builds its representation in :meth:`build_representation` and implements
    :meth:`representation_loss`, :meth:`intrinsic_rewards` and :meth:`predict_skills`.

    Args:
        observation_space: one env's ``Dict(view, vitals)`` space.
        action_space: one env's ``Discrete`` space.
        seed: seeds the initial weights.
        num_skills: ``K``, the number of discrete skills.
        embedding_dim: embedding width per view channel (every encoder).
        channels: convolution channels (every encoder).
        hidden_size: features of every encoder, and width of the policy's layer.
    """

    name: ClassVar[str] = "skill discovery"
    extra_settings: ClassVar[dict[str, float]] = {}  # the method's own training settings and their defaults

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, seed: int = 0,
                 num_skills: int = 8, embedding_dim: int = 4, channels: int = 16, hidden_size: int = 128) -> None:
        super().__init__(observation_space, action_space)
        if int(num_skills) < 2:
            raise PriorError(f"{self.name}: num_skills must be >= 2, got {num_skills}")
        self.num_skills, self.embedding_dim = int(num_skills), int(embedding_dim)
        self.channels, self.hidden_size = int(channels), int(hidden_size)
        self.skill_kind = "discrete"
        self.skill_dim = self.num_skills
        generator = seeded_generator(seed)
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            self.skill_policy = SkillPolicy(self.encoder(), self.hidden_size, self.num_skills, self.num_actions)
            self.representation = self.build_representation()
        self.skill_policy.initialise(generator)
        initialise_module(self.representation, generator)

    def encoder(self) -> ViewEncoder:
        """A fresh encoder of this prior's sizes."""
        return ViewEncoder.for_space(self.observation_space, self.embedding_dim, self.channels, self.hidden_size)

    def config(self) -> dict[str, Any]:
        return {"num_skills": self.num_skills, "embedding_dim": self.embedding_dim, "channels": self.channels,
                "hidden_size": self.hidden_size}

    # ------------------------------------------------------------------------------------------ what agents read
    def action_logits(self, obs: Observations, skill: torch.Tensor | None = None) -> torch.Tensor:
        if skill is None or skill.ndim != 2 or skill.shape[1] != self.num_skills:
            raise PriorError(f"{self.name}: action_logits needs skills (N, {self.num_skills}) (one-hot rows from "
                             f"sample_skill), got {None if skill is None else tuple(skill.shape)}")
        logits, _ = self.skill_policy(obs["view"], obs["vitals"], skill.float())
        return logits  # type: ignore[no-any-return]

    def sample_skill(self, obs: Observations, generator: torch.Generator) -> torch.Tensor:
        """Uniform one-hot skills ``(N, K)``."""
        count = int(obs["view"].shape[0])
        return one_hot(torch.randint(self.num_skills, (count,), generator=generator), self.num_skills)

    # ------------------------------------------------------------------------------------------ per method
    def build_representation(self) -> nn.Module:
        """The discriminator or representation (built inside ``fork_rng``, re-initialised by the caller)."""
        raise NotImplementedError

    def representation_optimisers(self, settings: SkillSettings,
                                  extras: Mapping[str, float]) -> list[torch.optim.Optimizer]:
        """The optimisers stepped with :meth:`representation_loss` (the representation's; METRA adds its dual)."""
        return [torch.optim.Adam(self.representation.parameters(), lr=settings.representation_learning_rate)]

    def representation_loss(self, batch: Batch, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The representation's loss over the ``mask``-ed transitions of ``batch``, and its figures."""
        raise NotImplementedError

    def intrinsic_rewards(self, batch: Batch) -> torch.Tensor:
        """``r(s, z, s')`` ``(N,)`` of the transitions of ``batch`` (no gradient needed)."""
        raise NotImplementedError

    def predict_skills(self, start: Observations, next_obs: Observations) -> torch.Tensor:
        """The skill ``(N,)`` the representation reads off ``next_obs`` (``start``: where the skill began)."""
        raise NotImplementedError

    def step_figures(self, obs: Observations, next_obs: Observations) -> dict[str, torch.Tensor]:
        """Per-transition figures ``(N,)`` the final measurement averages (``val/...``), beyond the accuracy."""
        return {}

    # ------------------------------------------------------------------------------------------ learning online
    def check_training(self, settings: Mapping[str, Any]) -> None:
        """Refuse unknown or out-of-range training settings (``openworld pretrain`` asks before writing anything)."""
        parse_settings(self.name, settings, self.extra_settings)

    def fit_online(self, envs: Any, steps: int, seed: int, log: LogFunction,
                   settings: Mapping[str, Any], world_seeds: Sequence[int] | None = None) -> FitResult:
        """Discover skills by living ``steps`` world steps in ``envs`` on the intrinsic reward (module docstring)."""
        config, extras = parse_settings(self.name, settings, self.extra_settings)
        started = time.perf_counter()
        n, K, T = int(envs.num_envs), self.num_skills, config.rollout_steps
        if T * n < config.num_minibatches:
            raise PriorError(f"{self.name}: num_minibatches ({config.num_minibatches}) exceeds the rollout's "
                             f"{T * n} transitions")
        generator = seeded_generator(int(np.random.SeedSequence([int(seed), 0x5C1]).generate_state(1)[0]))
        policy_optimiser = torch.optim.Adam(self.skill_policy.parameters(), lr=config.learning_rate, eps=1e-5)
        representation_optimisers = self.representation_optimisers(config, extras)
        replay = Replay(config.replay_rollouts * T * n)
        self.train()
        obs_np, _ = envs.reset(seed=list(world_seeds) if world_seeds is not None else int(seed))
        obs = _tensors(obs_np)
        skills = torch.randint(K, (n,), generator=generator)
        age = torch.zeros(n, dtype=torch.long)
        after_done = torch.zeros(n, dtype=torch.bool)
        curves: list[dict[str, float]] = []
        buffer: dict[str, list[torch.Tensor]] = {}
        done_steps = 0
        while done_steps < steps:
            length = min(T, steps - done_steps)
            buffer = {key: [] for key in ("view", "vitals", "next_view", "next_vitals", "skill", "action",
                                          "log_prob", "value", "terminated", "cut", "valid")}
            for _ in range(length):
                valid = ~after_done
                with torch.no_grad():
                    logits, values = self.skill_policy(obs["view"], obs["vitals"], one_hot(skills, K))
                    actions = torch.multinomial(torch.softmax(logits, 1), 1, generator=generator).squeeze(1)
                next_np, _, terminated_np, truncated_np, _ = envs.step(actions.numpy())
                next_obs = _tensors(next_np)
                terminated = torch.as_tensor(np.asarray(terminated_np, dtype=bool))
                age += 1
                cut = ((age >= config.skill_steps) | torch.as_tensor(np.asarray(truncated_np, dtype=bool))) \
                    & ~terminated
                for key, value in (("view", obs["view"]), ("vitals", obs["vitals"]),
                                   ("next_view", next_obs["view"]), ("next_vitals", next_obs["vitals"]),
                                   ("skill", skills.clone()), ("action", actions),
                                   ("log_prob", torch.log_softmax(logits, 1).gather(1, actions[:, None]).squeeze(1)),
                                   ("value", values), ("terminated", terminated), ("cut", cut), ("valid", valid)):
                    buffer[key].append(value)
                # A new skill when the old one has run its course, and for every new life (the autoreset step's
                # next observation is the respawned body).
                resample = cut | ~valid
                if resample.any():
                    skills = skills.clone()
                    skills[resample] = torch.randint(K, (int(resample.sum()),), generator=generator)
                    age[resample] = 0
                after_done = terminated | torch.as_tensor(np.asarray(truncated_np, dtype=bool))
                obs = next_obs
            done_steps += length
            rollout = {key: torch.stack(values) for key, values in buffer.items()}
            figures = self._learn(rollout, replay, config, generator, policy_optimiser, representation_optimisers)
            figures["step"] = float(done_steps)
            curves.append(figures)
            for key, value in figures.items():
                if key != "step":
                    log(key, value, done_steps)
        self.eval()
        metrics = measure_skills(self, envs, obs, after_done, config.skill_steps, generator)
        for key, value in metrics.items():
            log(key, value, done_steps)
        return FitResult(metrics=metrics, curves=curves, samples=steps * n, seconds=time.perf_counter() - started,
                         settings={**dataclasses.asdict(config), **extras})

    def _learn(self, rollout: dict[str, torch.Tensor], replay: Replay, config: SkillSettings,
               generator: torch.Generator, policy_optimiser: torch.optim.Optimizer,
               representation_optimisers: list[torch.optim.Optimizer]) -> dict[str, float]:
        """One update on a ``(T, n)`` rollout: the representation (on the replay), then the rewards, then PPO."""
        T, n = rollout["valid"].shape
        K = self.num_skills
        flat = {key: value.flatten(0, 1) for key, value in rollout.items()}
        flat["skill"] = one_hot(flat["skill"], K)
        valid = flat["valid"]
        replay.add({key: flat[key][valid] for key in Replay.KEYS})
        sums: dict[str, float] = {}
        count = 0
        batch_size = max(1, T * n // config.num_minibatches)
        for _ in range(config.representation_epochs * config.num_minibatches):
            if replay.size == 0:
                break
            batch = replay.sample(batch_size, generator)
            mask = torch.ones(batch_size, dtype=torch.bool)
            loss, figures = self.representation_loss(batch, mask)
            for optimiser in representation_optimisers:
                optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            for optimiser in representation_optimisers:
                optimiser.step()
            for key, value in figures.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
        metrics = {key: value / max(count, 1) for key, value in sums.items()}

        with torch.no_grad():
            rewards = self.intrinsic_rewards(flat).reshape(T, n)
            # Scaled by 1 - gamma (as PPO's reward_scale): per-step rewards of order 1 give value targets of order
            # 1, so the value loss does not swamp the policy's gradient under the global norm clip (measured:
            # unscaled, PPO barely learnt even a reward for picking the skill's own action).
            scaled = rewards * (1.0 - config.gamma)
            _, next_values = self.skill_policy(flat["next_view"], flat["next_vitals"], flat["skill"])
            advantages = advantages_with_cuts(scaled, rollout["value"], next_values.reshape(T, n),
                                              rollout["terminated"], rollout["cut"], rollout["valid"],
                                              config.gamma, config.gae_lambda).flatten()
            returns = advantages + flat["value"]
        metrics["train/intrinsic_reward"] = float(masked_mean(rewards.flatten(), valid))

        sums, count = {}, 0
        for _ in range(config.num_epochs):
            for indices in _minibatches(T * n, config.num_minibatches, generator):
                mask = valid[indices]
                if not mask.any():
                    continue
                logits, values = self.skill_policy(flat["view"][indices], flat["vitals"][indices],
                                                   flat["skill"][indices])
                log_probs_all = torch.log_softmax(logits, 1)
                log_probs = log_probs_all.gather(1, flat["action"][indices, None]).squeeze(1)
                log_ratio = log_probs - flat["log_prob"][indices]
                ratio = log_ratio.exp()
                adv, _ = normalised_advantages(advantages[indices], mask)
                policy_loss = clipped_surrogate(ratio, adv, mask, config.clip_coef)
                value_loss = 0.5 * masked_mean((values - returns[indices]) ** 2, mask)
                entropy = masked_mean(-(log_probs_all.exp() * log_probs_all).sum(1), mask)
                loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
                policy_optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                nn.utils.clip_grad_norm_(self.skill_policy.parameters(), config.max_grad_norm)
                policy_optimiser.step()
                for key, term in (("losses/policy_loss", policy_loss), ("losses/value_loss", value_loss),
                                  ("losses/entropy", entropy)):
                    sums[key] = sums.get(key, 0.0) + float(term.detach())
                count += 1
        metrics.update({key: value / max(count, 1) for key, value in sums.items()})
        metrics["charts/excluded_transitions"] = float((~valid).sum())
        return metrics


# ---------------------------------------------------------------------------------------------- measurement
@torch.no_grad()
def measure_skills(prior: SkillDiscovery, envs: Any, obs: Observations, after_done: torch.Tensor, skill_steps: int,
                   generator: torch.Generator) -> dict[str, float]:
    """Run each skill of ``prior`` for ``skill_steps`` world steps in every env from the envs' current state, and
    measure how the skills cover the world and how well they are told apart.

    The envs are restored to their current state before each skill and after the last one. Actions are sampled from
    ``pi(a | s, z)`` (the library as an agent would use it). Visits count the alive bodies' cells, the starting
    cell included, as ``(env, cell)`` pairs (each env is its own map).

    Args:
        prior: the skill library.
        envs: an :class:`~openworld.envs.vector.OpenWorldVectorEnv` already stepped (``obs`` is its last observation).
        obs: the envs' current observations.
        after_done: which envs' next step is an autoreset (the previous step terminated).
        skill_steps: world steps each skill is held.
        generator: the actions' generator.

    Returns:
        ``coverage/cells`` (distinct cells, all skills together), ``coverage/cells_per_skill`` (mean over skills),
        ``coverage/skill_distance`` (mean pairwise total-variation distance between the skills' normalised visit
        maps: 0 identical, 1 disjoint), ``val/discriminator_accuracy`` (the skill the method reads off each valid
        next state, :meth:`SkillDiscovery.predict_skills`, against the skill acting), and the method's
        :meth:`SkillDiscovery.step_figures` averaged (``val/...``).
    """
    n, K = int(envs.num_envs), prior.num_skills
    state = envs.engine.state
    cells = int(state.terrain.shape[1] * state.terrain.shape[2])
    offsets = np.arange(n, dtype=np.int64) * cells
    snapshot = envs.get_state()
    visits = np.zeros((K, n * cells), dtype=np.int64)
    correct, total = 0, 0
    sums: dict[str, float] = {}

    def visit(skill: int) -> None:
        state = envs.engine.state
        alive = state.alive[:, 0]
        np.add.at(visits[skill], (offsets + state.body_cell[:, 0])[alive], 1)

    for skill in range(K):
        envs.set_state(snapshot)
        current, done = obs, after_done.clone()
        code = one_hot(torch.full((n,), skill), K)
        visit(skill)
        for _ in range(skill_steps):
            logits = prior.action_logits(current, code)
            actions = torch.multinomial(torch.softmax(logits, 1), 1, generator=generator).squeeze(1)
            next_np, _, terminated, truncated, _ = envs.step(actions.numpy())
            next_obs = _tensors(next_np)
            valid = ~done
            predicted = prior.predict_skills(obs, next_obs)
            correct += int((predicted[valid] == skill).sum())
            total += int(valid.sum())
            for key, value in prior.step_figures(current, next_obs).items():
                sums[key] = sums.get(key, 0.0) + float(value[valid].sum())
            visit(skill)
            done = torch.as_tensor(np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool))
            current = next_obs
    envs.set_state(snapshot)

    distributions = visits / visits.sum(1, keepdims=True).clip(min=1)
    distances = [0.5 * float(np.abs(distributions[i] - distributions[j]).sum())
                 for i in range(K) for j in range(i + 1, K)]
    figures = {"coverage/cells": float((visits.sum(0) > 0).sum()),
               "coverage/cells_per_skill": float((visits > 0).sum(1).mean()),
               "coverage/skill_distance": float(np.mean(distances)),
               "val/discriminator_accuracy": correct / max(total, 1)}
    figures.update({key: value / max(total, 1) for key, value in sums.items()})
    return figures


class Replay:
    """A ring of the last ``capacity`` valid transitions, for the discriminator / representation."""

    KEYS = ("view", "vitals", "next_view", "next_vitals", "skill")

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.data: Batch = {}
        self.size = 0
        self.position = 0

    def add(self, batch: Batch) -> None:
        """Append transitions (overwriting the oldest once full)."""
        count = int(batch["view"].shape[0])
        if not self.data:
            self.data = {key: torch.zeros((self.capacity, *value.shape[1:]), dtype=value.dtype)
                         for key, value in batch.items()}
        rows = (self.position + torch.arange(count)) % self.capacity
        for key, value in batch.items():
            self.data[key][rows] = value
        self.position = (self.position + count) % self.capacity
        self.size = min(self.size + count, self.capacity)

    def sample(self, count: int, generator: torch.Generator) -> Batch:
        """``count`` transitions drawn uniformly, with replacement."""
        rows = torch.randint(self.size, (count,), generator=generator)
        return {key: value[rows] for key, value in self.data.items()}


def _minibatches(size: int, count: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    yield from torch.randperm(size, generator=generator).tensor_split(count)


def _tensors(obs: Mapping[str, np.ndarray]) -> Observations:
    """Numpy observations as tensors (copies: the env may reuse its arrays)."""
    return {"view": torch.as_tensor(np.array(obs["view"], dtype=np.uint8)),
            "vitals": torch.as_tensor(np.array(obs["vitals"], dtype=np.float32))}


def uniform_log_prior(num_skills: int) -> float:
    """``log p(z)`` of a uniform skill distribution."""
    return -math.log(num_skills)
