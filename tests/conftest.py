"""Fixtures every test directory may use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def env_episode() -> Callable[..., dict[str, Any]]:
    """``env_episode(env_id, **kwargs)``: make a registered codesign environment, pass
    Gymnasium's ``check_env``, roll out one episode of random actions, return the last info."""

    def run(env_id: str, **kwargs: Any) -> dict[str, Any]:
        import gymnasium
        from gymnasium.utils.env_checker import check_env

        import rl_search  # noqa: F401  (registers the environments)

        env = gymnasium.make(env_id, **kwargs)
        check_env(env.unwrapped, skip_render_check=True)
        env.reset(seed=0)
        done, info = False, {}
        while not done:
            _, _, term, trunc, info = env.step(env.action_space.sample())
            done = term or trunc
        return dict(info)

    return run
