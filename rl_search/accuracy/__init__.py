"""Accuracy oracles: ``(design) -> AccuracyEstimate`` for the environment and every searcher.

* :class:`RealOracle` (:mod:`.real`): the torch model compressed as the design says
  (:func:`compress_model`, :mod:`.compress`), optionally fine-tuned, measured on data;
* :class:`ProxyOracle` (:mod:`.proxy`): per-layer noise terms from the actual weights weighted by
  sensitivities calibrated on at most 20 real evaluations, vectorised over designs; and its
  weight-free :meth:`ProxyOracle.prior` for zoo workloads, predicting top-1 points lost in a
  ``qat`` or ``ptq`` regime, calibrated on published results (:mod:`.published`,
  :mod:`.calibrate`; oracle specs and units in :mod:`.units`);
* built-in tasks (:mod:`.tasks`): a CNN and an LSTM on scikit-learn's bundled digits.

Importing this package loads numpy only; torch is imported when a torch-side name
(:class:`RealOracle`, :func:`compress_model`, the tasks, ...) is first used.
"""

from typing import TYPE_CHECKING, Any

from rl_search.accuracy.base import KINDS, AccuracyEstimate, AccuracyOracle
from rl_search.accuracy.proxy import Calibration, LayerErrors, ProxyOracle
from rl_search.accuracy.sampling import random_batch, random_designs

if TYPE_CHECKING:
    from rl_search.accuracy.compress import Compressor as Compressor
    from rl_search.accuracy.compress import UnsupportedLayerError as UnsupportedLayerError
    from rl_search.accuracy.compress import compress_model as compress_model
    from rl_search.accuracy.real import RealOracle as RealOracle
    from rl_search.accuracy.tasks import Task as Task
    from rl_search.accuracy.tasks import digits_cnn as digits_cnn
    from rl_search.accuracy.tasks import digits_lstm as digits_lstm

_LAZY = {
    "Compressor": "compress", "UnsupportedLayerError": "compress", "compress_model": "compress",
    "RealOracle": "real", "Task": "tasks", "digits_cnn": "tasks", "digits_lstm": "tasks",
}

__all__ = ["KINDS", "AccuracyEstimate", "AccuracyOracle", "Calibration", "LayerErrors",
           "ProxyOracle", "random_batch", "random_designs", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"rl_search.accuracy.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
