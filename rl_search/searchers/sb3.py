"""stable-baselines3 agents behind the :class:`~rl_search.searchers.base.Searcher` interface.

The searcher builds a :class:`~rl_search.env.CoDesignEnv` over the problem whose ``evaluate`` is
the :class:`~rl_search.searchers.base.EvaluationBudget`, so every finished episode is one
counted (and, in run folders, logged) evaluation, and the best design is the budget's. Learning
stops cleanly at the step that spends the last evaluation (:class:`StopAtBudget`), so an agent
uses its budget exactly.

Defaults differ from SB3's where the co-design episodes call for it: ``gamma = 1`` (the only
reward is at the end of a finite episode, as HAQ), a PPO rollout of 256 steps, Gaussian action
noise of sigma 0.1 for TD3 and DDPG (SB3 has none by default), and a replay buffer sized to
the run. Every option is an SB3 constructor argument, plus ``form`` and ``action`` (of the env),
``noise_sigma`` (TD3/DDPG), ``noise_decay`` and ``warmup_episodes``.

``ddpg-haq`` is DDPG with HAQ's and N3H-Core's settings (REFERENCE.md sections 1 and 3): actor
and critic 300-300, Adam 1e-4 (actor) and 1e-3 (critic), tau 0.01, gamma 1, batch 64, 20
random warm-up episodes, Gaussian noise of sigma 0.5 in HAQ's [0, 1] action units (1.0 in the
env's [-1, 1]) decaying by 0.99 per episode after the warm-up, one gradient step per collected
transition at the end of each episode. Not reproduced: HAQ's truncated normal (SB3 adds a plain
normal and clips) and its moving-average reward baseline.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from stable_baselines3 import A2C, DDPG, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise, VectorizedActionNoise
from stable_baselines3.common.utils import update_learning_rate

from hwsim.errors import CodesignError
from rl_search.env import CoDesignEnv
from rl_search.problem import Problem
from rl_search.searchers.base import EvaluateFn, EvaluationBudget, Searcher

log = logging.getLogger(__name__)

_EXTRA = ("noise_sigma", "noise_decay", "warmup_episodes")  # off-policy options, not SB3's


class HaqDDPG(DDPG):
    """DDPG with separate actor and critic learning rates (HAQ: 1e-4 and 1e-3); SB3's DDPG
    has one rate for both. ``learning_rate`` is the critic's.

    :param actor_learning_rate: the actor's Adam learning rate.
    :param lean: run the updates with :meth:`train`'s lean loop (the same operations on the same
        tensors in the same order as SB3's ``TD3.train`` for DDPG, bitwise, without its
        per-step logging, ``.item()`` synchronisations and per-tensor target updates).
    """

    def __init__(self, *args: Any, actor_learning_rate: float = 1e-4, lean: bool = True,
                 **kwargs: Any) -> None:
        self.actor_learning_rate = actor_learning_rate
        self.lean = lean
        super().__init__(*args, **kwargs)

    def _update_learning_rate(self, optimizers: Any) -> None:
        super()._update_learning_rate(optimizers)
        update_learning_rate(self.actor.optimizer, self.actor_learning_rate)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's DDPG update (``TD3.train`` with ``policy_delay = 1`` and zero target noise),
        step for step, when ``lean``; SB3's own loop otherwise."""
        if not self.lean or self.policy_delay != 1 or self.critic.n_critics != 1 \
                or self.critic_batch_norm_stats or self.actor_batch_norm_stats:
            super().train(gradient_steps, batch_size)
            return
        import torch.nn.functional as F

        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        critic_params: list[torch.Tensor] = list(self.critic.parameters())
        critic_targets: list[torch.Tensor] = list(self.critic_target.parameters())
        actor_params: list[torch.Tensor] = list(self.actor.parameters())
        actor_targets: list[torch.Tensor] = list(self.actor_target.parameters())
        tau = self.tau
        critic_loss = actor_loss = None
        for _ in range(gradient_steps):
            self._n_updates += 1
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = data.discounts if data.discounts is not None else self.gamma
            with torch.no_grad():
                # the draw SB3 makes for its target noise (clamped to 0 for DDPG): kept, so the
                # random stream, and so every later sample, is SB3's
                noise = data.actions.clone().data.normal_(0, self.target_policy_noise)
                noise = noise.clamp(-self.target_noise_clip, self.target_noise_clip)
                next_actions = (self.actor_target(data.next_observations) + noise).clamp(-1, 1)
                next_q = torch.cat(self.critic_target(data.next_observations, next_actions), dim=1)
                next_q, _ = torch.min(next_q, dim=1, keepdim=True)
                target_q = data.rewards + (1 - data.dones) * discounts * next_q
            current_q = self.critic(data.observations, data.actions)
            critic_loss = sum(F.mse_loss(q, target_q) for q in current_q)
            self.critic.optimizer.zero_grad()
            critic_loss.backward()  # type: ignore[union-attr]
            self.critic.optimizer.step()
            actor_loss = -self.critic.q1_forward(data.observations,
                                                 self.actor(data.observations)).mean()
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()
            with torch.no_grad():  # polyak_update's mul_ then add, on every tensor at once
                torch._foreach_mul_(critic_targets, 1 - tau)
                torch._foreach_add_(critic_targets, critic_params, alpha=tau)
                torch._foreach_mul_(actor_targets, 1 - tau)
                torch._foreach_add_(actor_targets, actor_params, alpha=tau)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if actor_loss is not None and critic_loss is not None:
            self.logger.record("train/actor_loss", float(actor_loss.item()))
            self.logger.record("train/critic_loss", float(critic_loss.item()))  # type: ignore[union-attr]


ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3, "ddpg": DDPG, "ddpg-haq": HaqDDPG,
}
"""SB3 class of each searcher name (what :func:`rl_search.train.propose` loads with)."""


class StopAtBudget(BaseCallback):
    """Stops learning at the step that spent the last evaluation, so the agent never asks the
    budget for more than it holds."""

    def __init__(self, budget: EvaluationBudget) -> None:
        super().__init__()
        self.budget = budget

    def _on_step(self) -> bool:
        return self.budget.remaining > 0


class DecayActionNoise(BaseCallback):
    """Multiplies the action noise's sigma by ``decay`` at the end of every episode after the
    first ``start_episode`` (HAQ: ``sigma_0 * 0.99 ** (episode - warmup)``)."""

    def __init__(self, decay: float, start_episode: int = 0) -> None:
        super().__init__()
        self.decay = decay
        self.start_episode = start_episode
        self.episodes = 0

    def _on_step(self) -> bool:
        for done in self.locals["dones"]:
            if done:
                self.episodes += 1
                if self.episodes > self.start_episode:
                    for noise in _noises(self.model.action_noise):  # type: ignore[attr-defined]
                        noise._sigma = noise._sigma * self.decay
        return True


def _noises(noise: ActionNoise | None) -> list[NormalActionNoise]:
    if isinstance(noise, VectorizedActionNoise):
        return [n for n in noise.noises if isinstance(n, NormalActionNoise)]
    return [noise] if isinstance(noise, NormalActionNoise) else []


@contextmanager
def deterministic_torch() -> Iterator[None]:
    """Deterministic torch kernels on one thread while training (both restored afterwards:
    they are global). The agents' networks are far too small to gain from intra-op threads,
    and on a busy machine extra threads cost several times their work."""
    previous = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(threads)


class Sb3Searcher(Searcher):
    """An SB3 algorithm searching through :class:`~rl_search.env.CoDesignEnv`.

    :param seed: seeds SB3 (``set_random_seed``: Python, NumPy, torch) and the env.
    :param form: the env's form, ``"sequential"`` (default) or ``"oneshot"``.
    :param action: ``"box"`` (default) or ``"discrete"`` (PPO and A2C only).
    :param options: SB3 constructor arguments overriding the defaults, and ``noise_sigma``,
        ``noise_decay``, ``warmup_episodes`` (off-policy algorithms).
    """

    name: ClassVar[str] = "sb3"
    algorithm: ClassVar[type[BaseAlgorithm]]
    defaults: ClassVar[dict[str, Any]] = {}
    off_policy: ClassVar[bool] = False

    def __init__(self, seed: int = 0, *, form: str = "sequential", action: str = "box",
                 **options: Any) -> None:
        super().__init__(seed, form=form, action=action, **options)
        if self.off_policy and action != "box":
            raise CodesignError(f"searcher {self.name!r} needs continuous actions "
                                f"(action='box'), got action={action!r}")
        self.form = form
        self.action = action
        self.options = dict(options)
        self.hyper = {**self.defaults, **options}
        unknown = sorted(set(self.hyper) - _init_args(self.algorithm)
                         - (set(_EXTRA) if self.off_policy else set()))
        if unknown:
            raise CodesignError(f"unknown option(s) {unknown} for searcher {self.name!r}; "
                                f"see the arguments of stable_baselines3.{self.algorithm.__name__}"
                                + ("" if not self.off_policy else f" and {list(_EXTRA)}"))
        self.model: BaseAlgorithm | None = None

    def make_env(self, problem: Problem, evaluate: EvaluateFn | None = None) -> CoDesignEnv:
        return CoDesignEnv(problem, form=self.form, action=self.action, evaluate=evaluate)

    def build_model(self, env: CoDesignEnv, total_timesteps: int) -> BaseAlgorithm:
        """The SB3 model for ``env``, sized for ``total_timesteps`` of learning."""
        hyper = copy.deepcopy(self.hyper)  # SB3 writes into policy_kwargs
        episode = len(env.space) if env.form == "sequential" else 1
        extra = {k: hyper.pop(k) for k in _EXTRA if k in hyper}
        noise_sigma, warmup = extra.get("noise_sigma"), extra.get("warmup_episodes")
        if self.off_policy:
            hyper.setdefault("buffer_size", max(total_timesteps, 1))
            if warmup is not None:
                hyper["learning_starts"] = int(warmup) * episode
            if noise_sigma is not None:
                dim = env.action_space.shape[0]  # type: ignore[index]
                hyper["action_noise"] = NormalActionNoise(np.zeros(dim),
                                                          np.full(dim, float(noise_sigma)))
        try:
            return self.algorithm("MlpPolicy", env, seed=self.seed, device="cpu", verbose=0,
                                  **hyper)
        except (AssertionError, ValueError, TypeError) as exc:  # SB3 checks its options so
            raise CodesignError(f"{self.name}: stable-baselines3 rejected the options "
                                f"{self.options or '(the defaults)'}: {exc}") from exc

    def callbacks(self, budget: EvaluationBudget | None = None) -> list[BaseCallback]:
        out: list[BaseCallback] = [StopAtBudget(budget)] if budget is not None else []
        decay = self.hyper.get("noise_decay")
        if decay is not None:
            out.append(DecayActionNoise(float(decay), int(self.hyper.get("warmup_episodes", 0))))
        return out

    def search(self, problem: Problem, budget: EvaluationBudget) -> None:
        env = self.make_env(problem, evaluate=budget)
        episode = len(env.space) if self.form == "sequential" else 1
        steps = budget.total * episode  # an upper bound: StopAtBudget ends it exactly
        try:
            with deterministic_torch():
                self.model = self.build_model(env, steps)
                self.model.learn(steps, callback=CallbackList(self.callbacks(budget)))
        finally:
            self.bad_actions = env.bad_actions_total  # the run summary reports it
        log.info("%s: %d evaluations, best reward %.4f", self.name, budget.used,
                 budget.best_reward)


def _init_args(cls: type) -> set[str]:
    args: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            args |= set(inspect.signature(klass.__init__).parameters)  # type: ignore[misc]
    return args - {"self", "args", "kwargs", "policy", "env", "seed", "device", "verbose",
                   "_init_setup_model"}


class PPOSearcher(Sb3Searcher):
    """PPO (SB3) with a 256-step rollout and ``gamma = 1``."""

    name = "ppo"
    algorithm = PPO
    defaults: ClassVar[dict[str, Any]] = {"gamma": 1.0, "n_steps": 256, "batch_size": 64}


class A2CSearcher(Sb3Searcher):
    """A2C (SB3) with ``gamma = 1``."""

    name = "a2c"
    algorithm = A2C
    defaults: ClassVar[dict[str, Any]] = {"gamma": 1.0}


class SACSearcher(Sb3Searcher):
    """SAC (SB3) with ``gamma = 1``."""

    name = "sac"
    algorithm = SAC
    off_policy = True
    defaults: ClassVar[dict[str, Any]] = {"gamma": 1.0}


class TD3Searcher(Sb3Searcher):
    """TD3 (SB3) with ``gamma = 1`` and Gaussian exploration noise of sigma 0.1."""

    name = "td3"
    algorithm = TD3
    off_policy = True
    defaults: ClassVar[dict[str, Any]] = {"gamma": 1.0, "noise_sigma": 0.1}


class DDPGSearcher(Sb3Searcher):
    """DDPG (SB3) with ``gamma = 1`` and Gaussian exploration noise of sigma 0.1."""

    name = "ddpg"
    algorithm = DDPG
    off_policy = True
    defaults: ClassVar[dict[str, Any]] = {"gamma": 1.0, "noise_sigma": 0.1}


class HaqDDPGSearcher(Sb3Searcher):
    """DDPG with HAQ's / N3H-Core's settings (see the module docstring)."""

    name = "ddpg-haq"
    algorithm = HaqDDPG
    off_policy = True
    defaults: ClassVar[dict[str, Any]] = {
        "policy_kwargs": {"net_arch": {"pi": [300, 300], "qf": [300, 300]}},
        "actor_learning_rate": 1e-4, "learning_rate": 1e-3, "tau": 0.01, "gamma": 1.0,
        "batch_size": 64, "warmup_episodes": 20, "noise_sigma": 1.0, "noise_decay": 0.99,
        "train_freq": (1, "episode"), "gradient_steps": -1,
    }


class PPOMutateSearcher(Sb3Searcher):
    """PPO proposing mutations of the best design so far (:mod:`rl_search.mutate_env`): a
    (1 + lambda) evolution strategy whose mutation operator is the policy.

    ``n_envs`` sub-environments propose children of the shared incumbent in lockstep;
    ``rollout_episodes`` episodes per sub-environment make one PPO rollout. The action head
    starts biased towards "keep" (``keep_logit``: about ``2 / (2 + e^keep_logit)`` of the knobs
    move in an untrained policy, a genetic search's mutation rate for ``keep_logit = 3``), so
    the first children are near their parent. ``gamma = gae_lambda = 1``: the only reward is
    the child's improvement at the end of its episode. Options: PPO's constructor arguments,
    ``n_envs``, ``rollout_episodes``, ``keep_logit``, ``start`` (a point to start from).
    """

    name = "ppo-mutate"
    algorithm = PPO
    defaults: ClassVar[dict[str, Any]] = {
        "gamma": 1.0, "gae_lambda": 1.0, "batch_size": 128, "n_epochs": 4,
        "learning_rate": 3e-4, "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
    }
    extra: ClassVar[tuple[str, ...]] = ("n_envs", "rollout_episodes", "keep_logit", "start",
                                        "reward_floor")
    extra_defaults: ClassVar[dict[str, Any]] = {"n_envs": 8, "rollout_episodes": 2,
                                                "keep_logit": 3.0, "start": None,
                                                "reward_floor": -0.02}

    def __init__(self, seed: int = 0, **options: Any) -> None:
        own = {k: options.pop(k) for k in list(options) if k in self.extra}
        for k in ("form", "action"):
            if k in options and options[k] != {"form": "sequential", "action": "discrete"}[k]:
                raise CodesignError(f"ppo-mutate runs its own mutation env; {k}= does not apply")
            options.pop(k, None)
        super().__init__(seed, form="sequential", action="discrete", **options)
        self.own = {**self.extra_defaults, **own}
        if int(self.own["n_envs"]) < 1 or int(self.own["rollout_episodes"]) < 1:
            raise CodesignError(f"ppo-mutate: n_envs and rollout_episodes must be >= 1, got "
                                f"{self.own['n_envs']} and {self.own['rollout_episodes']}")
        self.incumbent: Any = None

    def build_mutation_model(self, vec_env: Any, episode: int) -> BaseAlgorithm:
        """PPO over ``vec_env`` (sub-environments of ``episode`` steps), action head biased."""
        hyper = copy.deepcopy(self.hyper)
        hyper.setdefault("n_steps", int(self.own["rollout_episodes"]) * episode)
        try:
            model = PPO("MlpPolicy", vec_env, seed=self.seed, device="cpu", verbose=0, **hyper)
        except (AssertionError, ValueError, TypeError) as exc:
            raise CodesignError(f"ppo-mutate: stable-baselines3 rejected the options "
                                f"{self.options or '(the defaults)'}: {exc}") from exc
        bias_keep(model, float(self.own["keep_logit"]))
        return model

    def mutation_envs(self, problem: Problem, evaluate: EvaluateFn, incumbent: Any, *,
                      skip_unchanged: bool = False) -> Any:
        from stable_baselines3.common.vec_env import DummyVecEnv

        from rl_search.mutate_env import MutationEnv

        floor = float(self.own["reward_floor"])
        return DummyVecEnv([lambda: MutationEnv(problem, incumbent, evaluate, floor,
                                                skip_unchanged)
                            for _ in range(int(self.own["n_envs"]))])

    def search(self, problem: Problem, budget: EvaluationBudget) -> None:
        from rl_search.mutate_env import start_incumbent

        self.incumbent = start_incumbent(problem, budget, self.own["start"])
        episode = len(problem.space)
        vec_env = self.mutation_envs(problem, budget, self.incumbent)
        with deterministic_torch():
            self.model = self.build_mutation_model(vec_env, episode)
            self.model.learn(budget.total * episode,
                             callback=CallbackList(self.callbacks(budget)))


def bias_keep(model: BaseAlgorithm, keep_logit: float) -> None:
    """Start a discrete mutation policy near its parent: the action head's bias favours
    "keep" by ``keep_logit`` and its weights are shrunk (so every knob starts at that rate)."""
    from rl_search.mutate_env import ACTIONS, KEEP

    head: Any = model.policy.action_net
    with torch.no_grad():
        head.weight.mul_(0.01)
        bias = torch.zeros(len(ACTIONS))
        bias[KEEP] = keep_logit
        head.bias.copy_(bias)
