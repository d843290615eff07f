"""Exploration runs: a searcher, a budget and a run folder that survives being killed.

* :mod:`.config`: :class:`~.config.RunConfig`, the run folder's file names, building the
  problem and the searcher a config names;
* :mod:`.evaluators`: the :class:`~.evaluators.Evaluator` seam that every evaluation of a run
  goes through (:class:`~.evaluators.SerialEvaluator`,
  :class:`~.evaluators.ProcessPoolEvaluator`, :func:`~.evaluators.make_evaluator`);
* :mod:`.log`: ``evaluations.jsonl`` and :class:`~.log.RunLog`, which replays it on resume;
* :mod:`.results`: :class:`~.results.RunResult`, the Pareto front, the best design,
  ``pareto.csv`` and ``summary.json``;
* :mod:`.plots`: the run folder's PNG plots;
* :mod:`.explore`: :func:`~.explore.explore`, the run loop, and :func:`~.explore.load_run`;
* :mod:`.report`: :func:`~.report.report`, the text report of a run folder.

The package itself re-exports nothing (two of its modules share their names with their main
functions); import from the modules, or from :mod:`rl_search.runner`, which re-exports the
public names under the old single-module path.
"""
