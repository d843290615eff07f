"""Ray Tune over an SB3 agent's hyper-parameters: ``codesign train ... --backend ray --tune
n_trials=N``.

Each trial trains the agent (:func:`rl_search.train.train_agent`) with one draw of the search
space for ``steps`` env steps, lets it propose its deterministic design
(:func:`rl_search.train.propose`), and reports that design's reward (the objective every
searcher is scored by), latency and feasibility. Trials are Ray Tune's (one CPU each, on the
local Ray or the cluster at ``address``), drawn by its random search seeded by ``seed``, so the
set of configurations tried is reproducible. The best trial's agent is saved at ``out`` (with
its sidecar), and every trial's configuration and figures go to ``<out>.tune.json``.

The default spaces are the ranges RL Baselines3 Zoo searches (Raffin, 2020) narrowed to the
algorithms' usual values: learning rate log-uniform over a decade and a half around SB3's
default, discount, rollout length (on-policy) or soft-update rate (off-policy), entropy bonus
(PPO, A2C). ``space`` overrides them: ``{"learning_rate": ("loguniform", 1e-4, 1e-2),
"n_steps": ("choice", [32, 64])}``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwsim.errors import CodesignError
from rl_search.runs.ray_backend import ensure_ray

DEFAULT_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    "ppo": {"learning_rate": ("loguniform", 1e-4, 3e-3), "gamma": ("uniform", 0.9, 0.999),
            "n_steps": ("choice", [64, 128, 256]), "ent_coef": ("loguniform", 1e-5, 3e-2)},
    "a2c": {"learning_rate": ("loguniform", 1e-4, 3e-3), "gamma": ("uniform", 0.9, 0.999),
            "n_steps": ("choice", [5, 16, 64]), "ent_coef": ("loguniform", 1e-5, 3e-2)},
    "ddpg": {"learning_rate": ("loguniform", 1e-4, 3e-3), "gamma": ("uniform", 0.9, 0.999),
             "tau": ("loguniform", 1e-3, 5e-2)},
    "td3": {"learning_rate": ("loguniform", 1e-4, 3e-3), "gamma": ("uniform", 0.9, 0.999),
            "tau": ("loguniform", 1e-3, 5e-2)},
    "sac": {"learning_rate": ("loguniform", 1e-4, 3e-3), "gamma": ("uniform", 0.9, 0.999),
            "tau": ("loguniform", 1e-3, 5e-2)},
}
"""Per algorithm: option -> (``loguniform``|``uniform``, low, high) or (``choice``, values)."""


def _tune_space(tune: Any, space: Mapping[str, tuple[Any, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec[0] if isinstance(spec, (tuple, list)) and spec else None
        if kind == "loguniform" and len(spec) == 3 and 0 < spec[1] < spec[2]:
            out[name] = tune.loguniform(float(spec[1]), float(spec[2]))
        elif kind == "uniform" and len(spec) == 3 and spec[1] < spec[2]:
            out[name] = tune.uniform(float(spec[1]), float(spec[2]))
        elif kind == "choice" and len(spec) == 2 and list(spec[1]):
            out[name] = tune.choice(list(spec[1]))
        else:
            raise CodesignError(f"tune space {name!r}: {spec!r} is not (loguniform, low, high), "
                                f"(uniform, low, high) with low < high, or (choice, [values])")
    return out


def _trial(config: Mapping[str, Any], *, algo: str, problem_kwargs: Mapping[str, Any],
           steps: int, seed: int, form: str, action: str, options: Mapping[str, Any],
           folder: str) -> dict[str, Any]:
    """Train one configuration and score its deterministic design."""
    from rl_search.train import propose, train_agent

    trial_dir = Path(tempfile.mkdtemp(dir=folder))
    path = train_agent(algo, problem_kwargs, steps, seed, trial_dir / "agent.zip", form=form,
                       action=action, **{**options, **config})
    design = propose(path, problem_kwargs["workload"], problem_kwargs["target"], n=1,
                     seed=seed)[0]
    return {"reward": float(design["reward"]), "latency_ms": float(design["latency_ms"]),
            "accuracy_drop": float(design["accuracy_drop"]),
            "feasible": bool(design["feasible"]), "agent": str(path)}


def tune_agent(algo: str, problem_kwargs: Mapping[str, Any], steps: int, *, n_trials: int,
               seed: int = 0, out_path: str | Path = "agent.zip", form: str = "sequential",
               action: str = "box", space: Mapping[str, tuple[Any, ...]] | None = None,
               address: str | None = None, options: Mapping[str, Any] | None = None,
               cpus: int | None = None) -> dict[str, Any]:
    """Tune ``algo``'s hyper-parameters over ``n_trials`` trials (see the module docstring);
    returns the summary written to ``<out>.tune.json`` (the best configuration first)."""
    if n_trials < 1:
        raise CodesignError(f"--tune n_trials must be >= 1, got {n_trials}")
    if algo not in DEFAULT_SPACES and space is None:
        raise CodesignError(f"no default tune space for {algo!r}; give one")
    ensure_ray(address, num_cpus=cpus)
    try:
        from ray import tune
        from ray.tune.search.basic_variant import BasicVariantGenerator
    except ImportError:
        raise CodesignError("Ray Tune's dependencies are missing; install the extra with "
                            "`pip install -e '.[ray]'`") from None
    param_space = _tune_space(tune, space if space is not None else DEFAULT_SPACES[algo])
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix="codesign-tune-")
    fixed = {"algo": algo, "problem_kwargs": dict(problem_kwargs), "steps": steps,
             "seed": seed, "form": form, "action": action, "options": dict(options or {}),
             "folder": work}

    def trainable(config: dict[str, Any]) -> None:
        tune.report(_trial(config, **fixed))

    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}), param_space=param_space,
        tune_config=tune.TuneConfig(metric="reward", mode="max", num_samples=n_trials,
                                    search_alg=BasicVariantGenerator(random_state=seed)),
        run_config=tune.RunConfig(storage_path=work, name="tune", verbose=0))
    grid = tuner.fit()
    trials = []
    for result in grid:
        if result.error is not None or not result.metrics:
            trials.append({"config": dict(result.config or {}), "error": str(result.error)})
            continue
        m = result.metrics
        trials.append({"config": {k: result.config[k] for k in param_space},
                       **{k: m[k] for k in ("reward", "latency_ms", "accuracy_drop",
                                            "feasible", "agent")}})
    done = [t for t in trials if "reward" in t]
    if not done:
        raise CodesignError(f"every tune trial failed; the first: {trials[0].get('error')}")
    done.sort(key=lambda t: -t["reward"])
    best = done[0]
    shutil.copyfile(best["agent"], out_path)
    shutil.copyfile(Path(best["agent"]).with_suffix(".json"), out_path.with_suffix(".json"))
    summary = {"algo": algo, "steps": steps, "seed": seed, "n_trials": n_trials,
               "space": {k: list(v) if isinstance(v, tuple) else v
                         for k, v in (space or DEFAULT_SPACES[algo]).items()},
               "best": {k: v for k, v in best.items() if k != "agent"},
               "trials": [{k: v for k, v in t.items() if k != "agent"}
                          for t in done + [t for t in trials if "reward" not in t]]}
    Path(f"{out_path}.tune.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return summary


__all__ = ["DEFAULT_SPACES", "tune_agent"]
