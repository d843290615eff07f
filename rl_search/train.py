"""Train an SB3 agent on a design space, save it, and let it propose designs for new workloads.

A saved agent is SB3's model zip plus a JSON sidecar beside it (``agent.zip`` ->
``agent.json``): the algorithm, the env's form and action kind, the space preset and its
options, the objective, the knob kinds the agent saw and the observation layout. The sequential
observation describes one knob at a time (:class:`~rl_search.env.CoDesignEnv`), so a
sequential agent can be rolled out on any workload whose space has only knob kinds it was
trained on; one-shot agents apply only to a space with exactly the same knobs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import CodesignError
from hwsim.ir import Workload
from rl_search import defaults
from rl_search.env import CoDesignEnv
from rl_search.problem import Objective
from rl_search.searchers.registry import SB3_NAMES, make_searcher
from rl_search.searchers.sb3 import ALGORITHMS, Sb3Searcher, deterministic_torch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_OBJECTIVE_FIELDS = tuple(f.name for f in dataclasses.fields(Objective))


def sidecar_path(agent_path: str | Path) -> Path:
    """The JSON sidecar of a saved agent: ``agent.zip`` -> ``agent.json``."""
    return Path(agent_path).with_suffix(".json")


def train_agent(algo: str, problem_kwargs: Mapping[str, Any], steps: int, seed: int = 0,
                out_path: str | Path = "agent.zip", *, form: str = "sequential",
                action: str = "box", progress: bool = False, **options: Any) -> Path:
    """Train ``algo`` (an SB3 searcher name) for ``steps`` env steps and save it.

    :param problem_kwargs: the env's problem arguments (``workload``, ``target``, ``space``,
        ``oracle``, objective fields such as ``latency_budget_ms``, space options).
    :param progress: show a progress bar of the env steps (tqdm, on standard error).
    :param options: the searcher's options (SB3 arguments, ``noise_sigma``, ...).
    :returns: the path of the saved zip (its sidecar is :func:`sidecar_path`).
    """
    if algo not in SB3_NAMES:
        hint = (" (ppo-mutate trains with rl_search.mutate_train.train_mutation_agent)"
                if algo == "ppo-mutate" else "")
        raise CodesignError(f"train needs an SB3 algorithm ({', '.join(SB3_NAMES)}), got "
                            f"{algo!r}{hint}")
    if steps < 1:
        raise CodesignError(f"steps must be >= 1, got {steps}")
    searcher = make_searcher(algo, seed, form=form, action=action, **options)
    assert isinstance(searcher, Sb3Searcher)
    env = CoDesignEnv(form=form, action=action, **dict(problem_kwargs))
    with deterministic_torch():
        model = searcher.build_model(env, steps)
        callbacks = searcher.callbacks() + ([_progress_bar(steps)] if progress else [])
        model.learn(steps, callback=callbacks)
    out = Path(out_path)
    if out.suffix != ".zip":
        out = out.with_name(out.name + ".zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    meta = {
        "format_version": FORMAT_VERSION,
        "algo": algo,
        "form": form,
        "action": action,
        "space": env.space.name,
        "space_options": _jsonable({k: v for k, v in problem_kwargs.items()
                                    if k not in ("workload", "target", "space", "oracle",
                                                 "objective", *_OBJECTIVE_FIELDS)}),
        "objective": dataclasses.asdict(env.problem.objective),
        "knob_kinds": sorted({k.kind for k in env.space.knobs}),
        "observation_layout": list(env.layout),
        "observation_shape": list(env.observation_space.shape or ()),
        "action_space": _describe(env),
        "trained_on": {"workload": env.space.workload.name, "target": env.problem.target.name},
        "steps": steps,
        "seed": seed,
        "options": _jsonable(options),
    }
    sidecar_path(out).write_text(json.dumps(meta, indent=2) + "\n")
    log.info("saved %s agent to %s", algo, out)
    return out


SIDECAR_KEYS = ("algo", "form", "action", "space", "space_options", "objective", "knob_kinds",
                "observation_layout", "observation_shape", "action_space", "trained_on")
"""Keys of an agent's JSON sidecar that proposing designs needs."""


def load_sidecar(agent_path: str | Path) -> dict[str, Any]:
    path = sidecar_path(agent_path)
    if not Path(agent_path).exists():
        raise CodesignError(f"no saved agent at {agent_path}")
    if not path.exists():
        raise CodesignError(f"saved agent {agent_path} has no sidecar {path} (save it with "
                            f"`codesign train` or rl_search.train.train_agent)")
    try:
        meta: Any = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodesignError(f"{path}: not a codesign agent sidecar (invalid JSON: {exc})") from None
    if not isinstance(meta, dict):
        raise CodesignError(f"{path}: not a codesign agent sidecar (a JSON object expected)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CodesignError(f"{path}: format_version {meta.get('format_version')!r}, this "
                            f"version reads {FORMAT_VERSION}")
    missing = [k for k in SIDECAR_KEYS if k not in meta]
    if missing:
        raise CodesignError(f"{path}: agent sidecar lacks {', '.join(missing)} (retrain or "
                            f"restore the file `codesign train` wrote)")
    if meta["algo"] not in ALGORITHMS:
        raise CodesignError(f"{path}: algo {meta['algo']!r} is not one of {sorted(ALGORITHMS)}")
    return meta


def propose(agent_path: str | Path, workload: str | Path | Workload,
            target: str | Path | Any = defaults.TARGET, n: int = 1, *,
            oracle: Any = None,
            seed: int = 0, **overrides: Any) -> list[dict[str, Any]]:
    """Roll a saved agent out on ``workload`` (new or not) and return its designs.

    The first rollout is the policy's deterministic one; the others sample the policy (with a
    Gaussian of sigma 0.1 on the actions of deterministic actors, TD3 and DDPG), seeded by
    ``seed``. Each result is the env's final ``info`` (latency, accuracy, feasibility,
    violations, ``x``) plus ``design`` (a :class:`~cost_models.design.Design`).

    :param overrides: env arguments replacing the saved ones (``space``, ``latency_budget_ms``,
        ...); not ``form`` or ``action``, which the agent's networks fix.
    :raises CodesignError: when the new workload's space has knob kinds the agent never saw, or
        when its action or observation space differs from the agent's.
    """
    if n < 1:
        raise CodesignError(f"n must be >= 1, got {n}")
    fixed = sorted({"form", "action"} & set(overrides))
    if fixed:
        raise CodesignError(f"a saved agent's {fixed} cannot be changed")
    meta = load_sidecar(agent_path)
    kwargs = {"space": meta["space"], **meta["space_options"], **meta["objective"], **overrides}
    env = CoDesignEnv(workload=workload, target=target, oracle=oracle, form=meta["form"],
                      action=meta["action"], **kwargs)
    _check_compatible(meta, env, agent_path)
    try:
        model = ALGORITHMS[meta["algo"]].load(str(agent_path), device="cpu")
    except Exception as exc:  # SB3 raises ValueError, zipfile / torch errors for a bad file
        raise CodesignError(f"{agent_path}: not a loadable {meta['algo']} agent "
                            f"({type(exc).__name__}: {exc})") from None
    rng = np.random.default_rng(seed)
    deterministic_actor = meta["algo"] in ("td3", "ddpg", "ddpg-haq")
    out = []
    with deterministic_torch():
        model.set_random_seed(seed)
        for i in range(n):
            obs, _ = env.reset(seed=seed + i)
            done = False
            while not done:
                act, _ = model.predict(obs, deterministic=i == 0)
                if i and deterministic_actor:
                    act = np.clip(act + rng.normal(0.0, 0.1, np.shape(act)), -1.0, 1.0)
                obs, _, done, _, info = env.step(act)
            info["design"] = env.space.decode(np.asarray(info["x"], dtype=np.int64))
            out.append(info)
    return out


def _check_compatible(meta: Mapping[str, Any], env: CoDesignEnv, agent_path: str | Path) -> None:
    name = f"agent {agent_path} (trained on {meta['trained_on']['workload']})"
    if meta["form"] == "sequential":
        unseen = sorted({k.kind for k in env.space.knobs} - set(meta["knob_kinds"]))
        if unseen:
            raise CodesignError(f"{name} never saw knob kind(s) {unseen} of space "
                                f"{env.space.name!r} on {env.space.workload.name!r}; it knows "
                                f"{meta['knob_kinds']}")
        if list(env.layout) != list(meta["observation_layout"]):
            raise CodesignError(f"{name}: observation layout differs: agent "
                                f"{meta['observation_layout']}, env {list(env.layout)}")
    elif list(env.observation_space.shape or ()) != meta["observation_shape"]:
        raise CodesignError(f"{name} is a one-shot agent over {meta['observation_shape'][0]} "
                            f"knobs; {env.space.workload.name!r} has {len(env.space)}. One-shot "
                            f"agents only apply to the same space; train a sequential agent "
                            f"to transfer across workloads")
    if _describe(env) != meta["action_space"]:
        raise CodesignError(f"{name}: action space differs: agent {meta['action_space']}, env "
                            f"{_describe(env)} (on {env.space.workload.name!r})")


def _describe(env: CoDesignEnv) -> str:
    return repr(env.action_space)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    raise CodesignError(f"cannot save option value {value!r} in an agent's sidecar")


def _progress_callback_class() -> type:
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    class ProgressBar(BaseCallback):  # type: ignore[misc]
        """A tqdm bar of the env steps taken (SB3's own bar needs ``rich``)."""

        def __init__(self, total: int) -> None:
            super().__init__()
            self.total = total
            self.bar: Any = None

        def _on_training_start(self) -> None:
            self.bar = tqdm(total=self.total, unit="step", desc="training", leave=False)

        def _on_step(self) -> bool:
            self.bar.update(self.training_env.num_envs)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return ProgressBar


def _progress_bar(total: int) -> Any:
    """A :class:`ProgressBar` callback (the class is built on first use: SB3 loads late)."""
    return _progress_callback_class()(total)
