"""rl_search: design spaces, objectives, accuracy oracles, environments, searchers and the CLI."""
