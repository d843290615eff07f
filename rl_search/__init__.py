"""rl_search: design spaces, objectives, accuracy oracles, environments, searchers and the CLI."""

from rl_search.envs import register_envs

register_envs()
