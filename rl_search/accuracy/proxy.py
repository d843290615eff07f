"""The proxy oracle: predicted accuracy from per-layer noise terms and calibrated sensitivities.

Length: over 600 lines on purpose. The calibrated proxy and the weight-free prior are one model
(the same per-layer terms, weighting and link; the prior's parameters come from published
results instead of real evaluations), so they share their private helpers here.

**Error terms.** For a design, every layer ``l`` gets a relative noise energy, the
noise-to-signal ratio at the layer's GEMM output, each term measured once on the layer's actual
weights and its inputs from the calibration batch (data-aware, like the output-reconstruction
objective of AdaRound, Nagel et al. ICML'20; see :mod:`rl_search.accuracy._tables`)::

    e_l = e_w,l(weight_bits, n_L) + e_a,l(act_bits) + e_r,l(rank, act_bits)

* ``e_w``: weight quantisation noise ``||(W - Q(W)) X||^2 / ||W X||^2`` with the ``n_L =
  round(n * lut_fraction)`` channels that quantise best at ``weight_bits`` on the LUT core and
  the rest at 8 bits (N3H-Core's assignment, as :mod:`~rl_search.accuracy.compress` does);
  tabulated per layer for every bit-width 1..16 and every ``n_L`` (the per-channel errors are
  additive over channels), so a design is a table lookup;
* ``e_a``: input quantisation noise ``||W (Q(X) - X)||^2 / ||W X||^2`` at ``act_bits`` (the
  quantiser of :class:`~rl_search.accuracy.compress.ActQuant`), for bits 1..16;
* ``e_r``: the error of the factorised layer, ``||W X - F_r(X)||^2 / ||W X||^2``, where
  ``F_r`` is the rank-``r`` SVD (Eckart-Young) or Tucker-2 (HOSVD, De Lathauwer et al. 2000)
  the compressor builds, with its intermediate activations quantised at ``act_bits`` as the
  compressed model does; measured on a grid of ranks and interpolated.

The weight error of a factorised layer is approximated by that of the dense weights. The
weight-space forms (``||W - Q(W)||^2 / ||W||^2``, discarded singular-value energy) are the
special case ``X X^T = I``; on the digits CNN they misjudge layers badly (truncating ``fc1`` to
rank 16-23 discards 21-28% of its weight energy yet costs under two points, because the data
barely excites the trailing directions), and making the terms data-aware, with the
intermediate activations of factorised layers quantised too, raised the held-out Spearman of
the same fit from 0.52 to 0.77.

**Link.** Effects add across layers (noise injected in each layer reaches the logits roughly
independently), weighted by per-layer sensitivities ``s_l >= 0``, and accuracy falls from the
baseline to chance along a log-logistic curve of the total::

    z = sum_l s_l * e_l
    accuracy = chance + (baseline - chance) / (1 + z ** k)

Monotone: more noise in any layer never predicts more accuracy. This is the per-layer
sensitivity-weighted noise model behind mixed-precision allocation (HAQ's observation that
layers differ in sensitivity, Wang et al. CVPR'19; Dong et al., HAWQ, ICCV'19, weigh each
layer's quantisation perturbation by its sensitivity).

**Calibration** (:meth:`ProxyOracle.calibrate`; at most ``budget`` real evaluations, 20 by
default). The designs measured are

1. **single-layer excitations**: per layer, that layer at W2A2 on every channel, every other
   layer at W8A8 on the DSP core (layers are grouped when there are more than
   ``budget // 4``): they separate the layers' sensitivities;
2. **joint designs**: the rest of the budget, random designs from
   :func:`~rl_search.accuracy.sampling.random_batch` (a seed stream of their own), which excite
   all layers together at the levels a search visits.

A first guess of ``s`` comes from non-negative least squares (``scipy.optimize.nnls``) on
``-log((acc - chance)/(baseline - chance))`` (clipped at 1e-3); then ``s`` and ``k`` are fitted
by bounded least squares on the accuracies themselves (``scipy.optimize.least_squares``,
``s >= 0``, ``0.2 <= k <= 10``, a few starts), with a weak ridge pulling every ``s_l`` towards the
single sensitivity that best fits all designs so that a layer the budget cannot excite alone
stays sensible. Fitting in accuracy space matters: designs at chance level carry little
information about ``z`` and the log fit overweights them (on the digits CNN, held-out Spearman
0.77 for the log fit alone vs about 0.88 after the accuracy-space fit).

**Prior** (:meth:`ProxyOracle.prior`): the same model for a workload without weights, its
per-layer terms from stated assumptions (see the method) and its sensitivities and link fitted
to published results (:mod:`~rl_search.accuracy.calibrate`), predicting top-1 points lost in a
``qat`` or ``ptq`` regime; labelled ``kind="prior"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numba
import numpy as np

from cost_models.design import Design, DesignError
from hwsim.errors import Problem
from rl_search.accuracy.base import (
    AccuracyEstimate,
    AccuracyOracle,
    batch_arrays,
    check_layers,
    design_from_row,
    design_rows,
    resolve_fractions,
)
from rl_search.accuracy.layer_errors import MAX_BITS, LayerErrors
from rl_search.accuracy.published import DEFAULT_REGIME, PriorParameters
from rl_search.accuracy.sampling import random_batch

if TYPE_CHECKING:
    from hwsim.ir import Workload
    from rl_search.accuracy.compress import Compressor
    from rl_search.accuracy.real import RealOracle

_FLOOR = 1e-3
"""Smallest retained share ``(acc - chance)/(baseline - chance)`` the log fit inverts."""

_K_BOUNDS = (0.2, 10.0)
"""Range of the link's steepness ``k`` in the calibration fit."""


@dataclass(frozen=True)
class Calibration:
    """How a proxy was calibrated: the designs, their real and fitted accuracies, and the fit.

    ``spearman`` is the rank correlation on the calibration designs themselves (in-sample).
    """

    designs: tuple[Design, ...]
    real: np.ndarray
    predicted: np.ndarray
    sensitivities: np.ndarray
    steepness: float
    rms_error: float
    spearman: float


class ProxyOracle(AccuracyOracle):
    """Predicted accuracy from noise terms and per-layer sensitivities (module docstring).

    Build it with :meth:`from_model`, :meth:`from_real` or :meth:`fit` (weights known), or
    :meth:`prior` (a workload without weights).

    :param layers: per-layer error tables, in design order.
    :param sensitivities: ``s_l >= 0``, one per layer.
    :param steepness: the link's ``k > 0``.
    :param baseline: the float model's accuracy.
    :param chance: the accuracy of a destroyed model (majority-class share).
    :param kind: ``"proxy"`` or ``"prior"``.
    """

    kind: ClassVar[str] = "proxy"

    def __init__(self, layers: Sequence[LayerErrors], sensitivities: Sequence[float] | np.ndarray,
                 *, baseline: float, chance: float = 0.0, steepness: float = 1.0,
                 kind: str = "proxy",
                 workload: Workload | None = None, calibration: Calibration | None = None,
                 assumptions: dict[str, Any] | None = None) -> None:
        s = np.asarray(sensitivities, dtype=np.float64)
        problems = []
        if s.shape != (len(layers),) or not np.all(np.isfinite(s)) or np.any(s < 0):
            problems.append(Problem("sensitivities", s.tolist(),
                                    f"need {len(layers)} finite values >= 0"))
        if not (isinstance(steepness, (int, float)) and 0 < steepness < math.inf):
            problems.append(Problem("steepness", steepness, "must be a positive number"))
        if not 0.0 <= chance <= baseline <= 1.0:
            problems.append(Problem("baseline", (chance, baseline),
                                    "need 0 <= chance <= baseline <= 1"))
        if kind not in ("proxy", "prior"):
            problems.append(Problem("kind", kind, "must be 'proxy' or 'prior'"))
        if not layers:
            problems.append(Problem("layers", layers, "need at least one layer"))
        for la in layers:
            w, a, r = (np.shape(la.weight), np.shape(la.act), np.shape(la.rank))
            if len(w) != 2 or w[0] != MAX_BITS + 1 or w[1] < 2 or a != (MAX_BITS + 1,) \
                    or len(r) != 2 or r[1] != MAX_BITS + 1 or r[0] < 1:
                problems.append(Problem(f"{la.name}.tables", (w, a, r),
                                        f"need weight [{MAX_BITS + 1}, channels + 1], act "
                                        f"[{MAX_BITS + 1}], rank [full_rank + 1, {MAX_BITS + 1}]"))
        if problems:
            raise DesignError("ProxyOracle", problems)
        self.kind = kind  # type: ignore[misc]
        self.layers = tuple(layers)
        self.sensitivities = s
        self.steepness = float(steepness)
        self._baseline = float(baseline)
        self.chance = float(chance)
        self._workload = workload
        self.calibration = calibration
        self.assumptions = dict(assumptions or {})
        self._names = tuple(layer.name for layer in self.layers)
        self._tables()

    def _tables(self) -> None:
        n_layers = len(self.layers)
        self._channels = np.array([la.channels for la in self.layers], dtype=np.int64)
        self._full = np.array([la.full_rank for la in self.layers], dtype=np.int64)
        width = int(self._channels.max()) + 1
        rwidth = int(self._full.max()) + 1
        weight = np.zeros((n_layers, MAX_BITS + 1, width))
        rank = np.zeros((n_layers, rwidth, MAX_BITS + 1))
        for i, la in enumerate(self.layers):
            weight[i, :, : la.channels + 1] = la.weight
            weight[i, :, la.channels + 1:] = la.weight[:, -1:]
            rank[i, : la.full_rank + 1] = la.rank
        self._w_flat = weight.ravel()
        self._w_stride = (MAX_BITS + 1) * width
        self._width = width
        self._a_flat = np.stack([la.act for la in self.layers]).ravel()
        self._r_flat = rank.ravel()
        self._rwidth = rwidth
        self._layer = np.arange(n_layers, dtype=np.int64)

    # ---------------------------------------------------------------------------- interface

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def baseline(self) -> float:
        return self._baseline

    @property
    def workload(self) -> Workload | None:
        return self._workload

    @property
    def full_ranks(self) -> np.ndarray:
        """Per-layer largest rank (0 where a layer cannot be factorised)."""
        return self._full.copy()

    def error_terms(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                    rank: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(e_w, e_a, e_r)``, each ``[n_designs, n_layers]``."""
        wb, ab, fr, rk = batch_arrays(self._names, weight_bits, act_bits, lut_fraction, rank)
        return self._terms(wb, ab, fr, rk)

    def _terms(self, wb: np.ndarray, ab: np.ndarray, fr: np.ndarray,
               rk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        over = rk > self._full
        if over.any():
            col = int(np.argwhere(over)[0][1])
            limit = int(self._full[col])
            raise DesignError("design batch", [Problem(
                f"{self._names[col]}.rank", int(rk[over][0]),
                f"must be in [1, {limit}]" if limit else "this layer cannot be factorised")])
        n_lut = np.minimum(np.rint(fr * self._channels).astype(np.int64), self._channels)
        e_w = self._w_flat[self._layer * self._w_stride + wb * self._width + n_lut]
        e_a = self._a_flat[self._layer * (MAX_BITS + 1) + ab]
        e_r = self._r_flat[(self._layer * self._rwidth + rk) * (MAX_BITS + 1) + ab]
        return e_w, e_a, e_r

    def _link(self, z: np.ndarray) -> np.ndarray:
        return _link(z, self.steepness, self.chance, self._baseline - self.chance)

    def estimate_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                       rank: Any = None) -> np.ndarray:
        """Vectorised: a table lookup per layer and a weighted sum per design. The sum is an
        element-wise product reduced per row (not a BLAS matrix product), so a design's estimate
        does not depend on which batch it is evaluated in."""
        e_w, e_a, e_r = self.error_terms(weight_bits, act_bits, lut_fraction, rank)
        return self._link(((e_w + e_a + e_r) * self.sensitivities).sum(axis=1))

    def estimate_arrays(self, weight_bits: np.ndarray, act_bits: np.ndarray,
                        lut_fraction: np.ndarray, rank: np.ndarray | None) -> np.ndarray:
        """:meth:`estimate_batch` without the input checks, for arrays a target produced
        (int64 bits in range, float64 fractions in [0, 1], rank None or int64 within the full
        ranks): the search inner loop. Bitwise the same result."""
        if rank is not None and (rank > self._full).any():
            self._terms(weight_bits, act_bits, lut_fraction, rank)  # raises, naming the layer
        rk = self._no_rank(weight_bits.shape) if rank is None else rank
        weighted = _weighted_terms(weight_bits, act_bits, lut_fraction, rk, self._channels,
                                   self._w_flat, self._w_stride, self._width, self._a_flat,
                                   self._r_flat, self._rwidth,
                                   np.ascontiguousarray(self.sensitivities, dtype=np.float64))
        return self._link(weighted.sum(axis=1))

    def _no_rank(self, shape: tuple[int, ...]) -> np.ndarray:
        cached = getattr(self, "_zeros", None)
        if cached is None or cached.shape != shape:
            cached = np.zeros(shape, dtype=np.int64)
            self._zeros = cached
        return cached

    def score_batch(self, weight_bits: Any, act_bits: Any, lut_fraction: Any,
                    rank: Any = None) -> np.ndarray:
        """The additive score ``z`` (sensitivity-weighted sum of per-layer error terms) that
        the monotone link turns into accuracy: a sum over layers, so searches that need
        separability (:func:`rl_search.searchers.exhaustive.dp_optimum`) can use it."""
        e_w, e_a, e_r = self.error_terms(weight_bits, act_bits, lut_fraction, rank)
        return ((e_w + e_a + e_r) * self.sensitivities).sum(axis=1)

    def score_limit(self, max_drop: float) -> float:
        """The largest score whose predicted accuracy drop is at most ``max_drop``: the link
        gives ``drop = span * z^k / (1 + z^k)``, so ``z <= (q / (1 - q))^(1/k)`` with
        ``q = max_drop / span`` (``inf`` when ``q >= 1``)."""
        span = self._baseline - self.chance
        q = max_drop / span if span > 0 else math.inf
        if q >= 1.0:
            return math.inf
        return float((q / (1.0 - q)) ** (1.0 / self.steepness)) if q > 0 else 0.0

    def estimate(self, design: Design, *,
                 fractions: Sequence[float] | None = None) -> AccuracyEstimate:
        check_layers(design, self._names, f"the {self.kind} oracle")
        fracs = resolve_fractions(design, fractions)
        ranks = [0 if design.rank is None or r is None else r
                 for r in (design.rank or (None,) * len(design))]
        e_w, e_a, e_r = self.error_terms([design.weight_bits], [design.act_bits], [fracs],
                                         [ranks])
        e = (e_w + e_a + e_r)[0]
        acc = float(np.clip(self._link(np.array([(e * self.sensitivities).sum()]))[0], 0.0, 1.0))
        details: dict[str, Any] = {
            "layers": {name: {"weight": float(e_w[0, i]), "act": float(e_a[0, i]),
                              "rank": float(e_r[0, i]),
                              "contribution": float(self.sensitivities[i] * e[i])}
                       for i, name in enumerate(self._names)},
            "calibrated": self.calibration is not None,
        }
        if self.kind == "prior":
            details["assumptions"] = dict(self.assumptions)
            details["regime"] = self.assumptions.get("regime")
        return AccuracyEstimate(acc, min(self._baseline, 1.0), self.kind, details)

    # ------------------------------------------------------------------------- construction

    @classmethod
    def from_model(cls, model: Any, calib_batch: Any, *, baseline: float, chance: float = 0.0,
                   example_input: Any = None, skip_unsupported: bool = False) -> ProxyOracle:
        """An uncalibrated proxy for a torch model (sensitivities: the prior's defaults)."""
        from rl_search.accuracy.compress import Compressor

        compressor = Compressor(model, calib_batch, example_input=example_input,
                                skip_unsupported=skip_unsupported)
        return cls._from_compressor(compressor, baseline, chance)

    @classmethod
    def from_real(cls, real: RealOracle) -> ProxyOracle:
        """An uncalibrated proxy sharing ``real``'s model, calibration batch, baseline and
        chance level."""
        from rl_search.accuracy._threads import torch_threads

        with torch_threads(real.threads):
            return cls._from_compressor(real.compressor, real.baseline, real.chance)

    @classmethod
    def fit(cls, real: RealOracle, *, budget: int = 20, seed: int = 0,
            **sampling: Any) -> ProxyOracle:
        """:meth:`from_real`, then :meth:`calibrate` on at most ``budget`` real evaluations."""
        return cls.from_real(real).calibrate(real, budget=budget, seed=seed, **sampling)

    @classmethod
    def _from_compressor(cls, compressor: Compressor, baseline: float,
                         chance: float) -> ProxyOracle:
        from rl_search.accuracy._tables import model_tables

        layers = model_tables(compressor)
        s = np.full(len(layers), UNCALIBRATED_SCALE)
        s[[0, -1]] *= 2.0
        return cls(layers, s, baseline=baseline, chance=min(chance, baseline),
                   workload=compressor.workload)

    # -------------------------------------------------------------------------- calibration

    def calibration_designs(self, budget: int = 20, seed: int = 0,
                            **sampling: Any) -> list[Design]:
        """The designs :meth:`calibrate` measures (module docstring): single-layer
        excitations (at most ``budget // 4`` groups of layers), then random joint designs to
        fill ``budget``."""
        if budget < 4:
            raise ValueError(f"calibration needs a budget of at least 4 designs, got {budget}")
        n = len(self._names)
        groups = np.array_split(np.arange(n), min(n, budget // 4))
        designs = []
        for group in groups:
            wb, ab = np.full(n, 8), np.full(n, 8)
            fr, rk = np.zeros(n), np.zeros(n, dtype=np.int64)
            wb[group], ab[group], fr[group] = 2, 2, 1.0
            designs.append(design_from_row(self._names, wb, ab, fr, rk))
        joint = random_batch(n, budget - len(groups), seed=np.random.default_rng([seed, 1]),
                             full_ranks=self._full, **sampling)
        designs += [design_from_row(self._names, joint["weight_bits"][i], joint["act_bits"][i],
                                    joint["lut_fraction"][i], joint["rank"][i])
                    for i in range(budget - len(groups))]
        return designs

    def calibrate(self, real: AccuracyOracle, *, budget: int = 20, seed: int = 0,
                  designs: Sequence[Design] | None = None, ridge: float = 0.01,
                  **sampling: Any) -> ProxyOracle:
        """A copy with sensitivities and steepness fitted to ``real`` on at most ``budget``
        designs (the procedure is in the module docstring).

        :param real: the oracle to match (usually a :class:`~.real.RealOracle` on the same
            model); its layer names must be this proxy's.
        :param designs: measure these instead of :meth:`calibration_designs` (at most
            ``budget``).
        :param ridge: weight of the pull of each ``s_l`` towards the pooled sensitivity.
        :param sampling: ranges for the joint designs (see
            :func:`~rl_search.accuracy.sampling.random_batch`).
        """
        from scipy.stats import spearmanr

        if tuple(real.layer_names) != self._names:
            raise DesignError("calibration", [Problem("layer_names", list(real.layer_names),
                                                      f"the proxy has {list(self._names)}")])
        chosen = list(designs) if designs is not None else self.calibration_designs(
            budget, seed, **sampling)
        if len(chosen) > budget:
            raise ValueError(f"{len(chosen)} calibration designs exceed the budget of {budget}")
        acc = np.array([real.estimate(d).accuracy for d in chosen])
        rows = design_rows(chosen)
        e_w, e_a, e_r = self._terms(rows["weight_bits"], rows["act_bits"],
                                    rows["lut_fraction"], rows["rank"])
        e = e_w + e_a + e_r
        s, k = _fit(e, acc, self.chance, self._baseline - self.chance, ridge)
        predicted = _link(e @ s, k, self.chance, self._baseline - self.chance)
        rho = float(spearmanr(acc, predicted).statistic) if len(acc) > 2 else float("nan")
        calibration = Calibration(tuple(chosen), acc, predicted, s, k,
                                  float(np.sqrt(np.mean((predicted - acc) ** 2))), rho)
        return ProxyOracle(self.layers, s, baseline=self._baseline, chance=self.chance,
                           steepness=k, kind=self.kind, workload=self._workload,
                           calibration=calibration, assumptions=self.assumptions)

    # ------------------------------------------------------------------------------- prior

    @classmethod
    def prior(cls, workload: Workload, *, regime: str = DEFAULT_REGIME,
              float_top1: float | None = None, parameters: PriorParameters | None = None,
              **assumptions: float) -> ProxyOracle:
        """A weight-free proxy for ``workload`` (a zoo model without weights) that predicts
        **top-1 points lost** in a stated ``regime``, calibrated on published results
        (:mod:`rl_search.accuracy.published`; docs/formulas.md, accuracy prior). Every estimate
        is labelled ``kind="prior"`` and carries the regime in its details.

        ``accuracy`` is top-1 as a fraction (``baseline`` minus the points lost, over 100), so
        ``baseline - accuracy = 0.01`` is one point of top-1.

        :param regime: ``"qat"`` (after quantisation-aware training / fine-tuning: LSQ, HAQ,
            N3H-Core, HALOC) or ``"ptq"`` (post-training quantisation, no training).
        :param float_top1: the float model's top-1 in percent; by default the table's figure
            for a zoo network it knows (torchvision's for ResNet-18/50 and MobileNetV2), else
            100 (losses are then points of a perfect score, stated in the details).
        :param parameters: fitted parameters (default: the shipped ones, which
            ``python -m rl_search.accuracy.calibrate`` writes).
        :param assumptions: overrides of the per-layer noise model (:data:`DEFAULT_PRIOR`);
            the shipped parameters were fitted under the defaults.

        The per-layer terms (assumptions; keyword overrides in brackets):

        * weights of a row are i.i.d. Gaussian, so the largest magnitude of ``k`` (the GEMM's
          inner dimension) is ``sqrt(2 ln k)`` standard deviations; a ``b >= 2``-bit
          per-channel grid then leaves the uniform noise ``Delta^2 / 12`` with ``Delta =
          max/(2^(b-1)-1)`` (Widrow's model; Jacob et al. 2018), capped at 1; 1 bit:
          ``1 - sqrt(2/pi) M + M^2/4`` for the levels ``+-M/2``; channels not at the design's
          bits (the DSP core's share on the FPGA) are at 8 bits;
        * activations have a peak-to-RMS ratio of 4 (``act_peak_to_rms``) on an unsigned grid:
          ``e_a = ratio^2 / (12 (2^a - 1)^2)``, capped at 1;
        * singular values decay as a power law ``sigma_i ~ i^-alpha`` with ``alpha = 0.5``
          (``spectrum_exponent``); a rank-``r`` SVD discards the tail's share of the energy; a
          Tucker-2 conv the tails of both channel modes (the HOSVD bound, De Lathauwer 2000);
          the factorised layer's intermediate activations (1 for SVD, 2 for Tucker-2) are
          signed, quantised on a symmetric grid with the same peak-to-RMS ratio.

        Fitted (per regime where marked): the sensitivity ``scale`` (regime), ``edge_weight``
        for the first and last layers (which HAQ and N3H-Core keep at 8 bits because they are
        the most sensitive), ``depthwise_weight`` for depthwise convolutions, ``rank_weight``
        on the low-rank term (regime) and the link's steepness (regime).
        """
        from rl_search.accuracy.published import REGIMES, load_parameters, load_table

        if regime not in REGIMES:
            raise DesignError("prior", [Problem("regime", regime, f"must be one of {REGIMES}")])
        params = parameters if parameters is not None else load_parameters()
        layers = noise_tables(workload, act_weight=params.act_weight,
                              rank_weight=params.rank_weight[regime], **assumptions)
        top1 = float_top1
        if top1 is None:
            top1 = load_table().float_top1.get(workload.name)
        known = top1 is not None
        top1 = 100.0 if top1 is None else float(top1)
        if not 0.0 < top1 <= 100.0:
            raise DesignError("prior", [Problem("float_top1", top1, "must be in (0, 100]")])
        s = prior_sensitivities(workload, params, regime)
        stated = {
            "regime": regime,
            "units": "top-1 points lost (accuracy = float top-1 - points lost, as a fraction)",
            "float_top1": top1,
            "float_top1_known": known,
            "parameters": parameters_summary(params, regime),
            **DEFAULT_PRIOR, **assumptions,
        }
        return cls(layers, s, baseline=top1 / 100.0, chance=0.0,
                   steepness=params.steepness[regime], kind="prior", workload=workload,
                   assumptions=stated)


def noise_tables(workload: Workload, *, act_weight: float = 1.0, rank_weight: float = 1.0,
                 **assumptions: float) -> list[LayerErrors]:
    """Per-layer error tables of the weight-free noise model (the assumptions listed in
    :meth:`ProxyOracle.prior`), the activation term weighted by ``act_weight`` and the
    low-rank term by ``rank_weight``."""
    from hwsim.ir.lowrank import full_rank

    unknown = set(assumptions) - set(DEFAULT_PRIOR)
    if unknown:
        raise DesignError("prior assumptions", [
            Problem(k, assumptions[k], f"unknown; known: {sorted(DEFAULT_PRIOR)}")
            for k in sorted(unknown)])
    a = {**DEFAULT_PRIOR, **assumptions}
    bits = np.arange(MAX_BITS + 1)
    # an unsigned a-bit grid on ReLU outputs has 2^a - 1 steps over [0, c]: a signed
    # (a + 1)-bit grid folded, clipped at its optimum below the peak
    act = np.zeros(MAX_BITS + 1)
    act[1:] = _gaussian_weight_nsr(math.exp(a["act_peak_to_rms"] ** 2 / 2.0),
                                   np.arange(MAX_BITS + 2))[2:]
    # the factorised layer's 1 (SVD) or 2 (Tucker-2) intermediate activations are signed:
    # symmetric grid, same peak-to-RMS ratio
    signed = np.minimum(a["act_peak_to_rms"] ** 2
                        / (12 * np.maximum(2.0 ** (bits - 1) - 1, 1.0) ** 2), 1.0)
    signed[0] = 0.0
    layers = []
    for layer in workload.layers:
        main = max(layer.gemms(), key=lambda g: g.macs)
        n = int(layer.out_channels_total)
        w_err = _gaussian_weight_nsr(main.k, bits) if layer.weight_params else np.zeros(
            MAX_BITS + 1)
        n_lut = np.arange(n + 1)
        weight = (n_lut[None, :] * w_err[:, None] + (n - n_lut)[None, :] * w_err[8]) / n
        full = full_rank(layer) or 0
        rank = _power_law_rank_errors(layer, full, a["spectrum_exponent"])
        inner = 1 if hasattr(layer, "in_features") else 2
        rank = np.minimum(rank[:, None] + inner * signed[None, :], 1.0)
        rank[0] = 0.0
        layers.append(LayerErrors(layer.name, weight, act_weight * act, rank_weight * rank))
    return layers


def layer_roles(workload: Workload) -> tuple[np.ndarray, np.ndarray]:
    """``(edge, depthwise)``: boolean masks of the first and last layers and of depthwise
    convolutions (one input channel per group)."""
    n = len(workload.layers)
    edge = np.zeros(n, dtype=bool)
    edge[[0, -1]] = True
    depthwise = np.array([getattr(la, "groups", 1) > 1
                          and getattr(la, "groups", 1) == getattr(la, "in_channels", 0)
                          for la in workload.layers], dtype=bool)
    return edge, depthwise


def prior_sensitivities(workload: Workload, params: PriorParameters,
                        regime: str) -> np.ndarray:
    """``s_l = scale[regime] / n_layers * edge_weight^[first or last] *
    depthwise_weight^[depthwise]``: the score is a weighted mean over layers, so a deeper
    network at the same bits is not predicted to lose more (published losses of ResNet-18 and
    ResNet-50 at equal bits agree to a few tenths of a point)."""
    edge, depthwise = layer_roles(workload)
    return (params.scale[regime] / len(workload.layers) * np.where(edge, params.edge_weight, 1.0)
            * np.where(depthwise, params.depthwise_weight, 1.0))


def parameters_summary(params: PriorParameters, regime: str) -> dict[str, float]:
    """The parameters a prior in ``regime`` uses, flat (for estimate details and run files)."""
    return {"scale": params.scale[regime], "steepness": params.steepness[regime],
            "rank_weight": params.rank_weight[regime], "edge_weight": params.edge_weight,
            "depthwise_weight": params.depthwise_weight, "act_weight": params.act_weight}


DEFAULT_PRIOR: dict[str, float] = {
    "act_peak_to_rms": 4.0,
    "spectrum_exponent": 0.5,
}
"""The weight-free prior's per-layer noise assumptions (see :meth:`ProxyOracle.prior`)."""

UNCALIBRATED_SCALE = 0.1
"""Sensitivity of every layer of a proxy before calibration (:meth:`ProxyOracle.from_model`),
twice that for the first and last layers."""


@numba.njit(cache=True)
def _weighted_terms(wb: Any, ab: Any, fr: Any, rk: Any, channels: Any, w_flat: Any,
                    w_stride: int, width: int, a_flat: Any, r_flat: Any, rwidth: int,
                    sens: Any) -> Any:
    """``(e_w + e_a + e_r) * sensitivity`` per design and layer: the table lookups of
    :meth:`ProxyOracle._terms` in one pass (element for element the same arithmetic, so the
    row sums numpy takes afterwards are bitwise those of :meth:`ProxyOracle.estimate_batch`)."""
    n, n_layers = wb.shape
    out = np.empty((n, n_layers))
    stride_a = MAX_BITS + 1
    for d in range(n):
        for i in range(n_layers):
            n_lut = min(int(np.rint(fr[d, i] * channels[i])), channels[i])
            e_w = w_flat[i * w_stride + wb[d, i] * width + n_lut]
            e_a = a_flat[i * stride_a + ab[d, i]]
            e_r = r_flat[(i * rwidth + rk[d, i]) * stride_a + ab[d, i]]
            out[d, i] = (e_w + e_a + e_r) * sens[i]
    return out


def _link(z: np.ndarray, k: float, chance: float, span: float) -> np.ndarray:
    """``chance + span / (1 + z^k)``, the log-logistic link."""
    return chance + span / (1.0 + np.maximum(z, 0.0) ** k)


def _fit(e: np.ndarray, acc: np.ndarray, chance: float, span: float,
         ridge: float) -> tuple[np.ndarray, float]:
    """Sensitivities ``s >= 0`` and steepness ``k`` of the link fitted to ``acc`` (the
    module docstring's procedure)."""
    from scipy.optimize import least_squares, nnls

    span = max(span, 1e-9)
    n = e.shape[1]
    target = -np.log(np.clip((acc - chance) / span, _FLOOR, 1.0))
    guess = nnls(e, target)[0]
    total = e.sum(axis=1, keepdims=True)
    pooled_guess = float(nnls(total, target)[0][0]) or 1.0
    if not guess.any():
        guess = np.full(n, pooled_guess)

    def solve(e_fit: np.ndarray, start: np.ndarray, centre: float | None) -> np.ndarray:
        m = e_fit.shape[1]
        lower = np.r_[np.zeros(m), _K_BOUNDS[0]]
        upper = np.r_[np.full(m, np.inf), _K_BOUNDS[1]]

        def residual(p: np.ndarray) -> np.ndarray:
            fit = (_link(e_fit @ p[:m], float(p[m]), chance, span) - acc) / span
            if centre is None:
                return fit
            return np.concatenate([fit, math.sqrt(ridge) * (p[:m] - centre) / centre])

        solutions = [least_squares(residual, np.clip(np.r_[start * scale + 1e-6, k], lower, upper),
                                   bounds=(lower, upper))
                     for scale in (0.3, 1.0, 3.0) for k in (0.7, 1.5, 3.0)]
        return min(solutions, key=lambda sol: sol.cost).x

    pooled = float(solve(total, np.array([pooled_guess]), None)[0]) or pooled_guess
    p = solve(e, guess, pooled if ridge > 0 else None)
    return p[:n], float(p[n])


def _gaussian_weight_nsr(k: float, bits: np.ndarray) -> np.ndarray:
    """``[MAX_BITS + 1]``: noise-to-signal ratio of a row of ``k`` i.i.d. unit Gaussian weights
    on a symmetric ``b``-bit grid clipped at the MSE-optimal ``c`` in ``(0, peak]``, ``peak =
    sqrt(2 ln k)`` the row's expected largest magnitude (``c = peak`` is the unclipped grid).
    Steps ``Delta = c / (2^(b-1) - 1)``; granular noise ``Delta^2 / 12`` inside ``[-c, c]``
    (Widrow), clipping noise ``2 [(1 + c^2) Q(c) - c phi(c)]`` outside (less its value at the
    peak, beyond which a row of ``k`` has nothing to clip); 1 bit: the levels
    ``+-c/2``, ``1 - sqrt(2/pi) c + c^2/4``. Learned or calibrated clipping (LSQ's step
    size, PACT, the KL / MSE thresholds of HAQ, N3H-Core and PTQ methods) reaches this
    optimum (Banner et al., ACIQ, NeurIPS 2019)."""
    peak = math.sqrt(2.0 * math.log(max(k, 2)))
    c = np.linspace(peak / _CLIP_POINTS, peak, _CLIP_POINTS)
    tail = 0.5 * np.array([math.erfc(v / math.sqrt(2.0)) for v in c])  # Q(c)
    pdf = np.exp(-0.5 * c ** 2) / math.sqrt(2.0 * math.pi)
    # beyond the row's own largest magnitude there is nothing to clip
    clipped = 2.0 * ((1.0 + c ** 2) * tail - c * pdf)
    clipped -= clipped[-1]
    out = np.zeros(len(bits))
    for b in bits[1:]:
        if b == 1:
            mse = 1.0 - math.sqrt(2.0 / math.pi) * c + c ** 2 / 4.0
        else:
            step = c / (2.0 ** (b - 1) - 1.0)
            mse = step ** 2 / 12.0 * (1.0 - 2.0 * tail) + clipped
        out[b] = min(float(mse.min()), 1.0)
    return out


_CLIP_POINTS = 4000
"""Clipping levels tried between 0 and the row's peak (the optimum is found to 0.03 %)."""


def _tail_share(n: int, alpha: float) -> np.ndarray:
    """``[n + 1]``: share of energy beyond the first ``r`` of ``n`` power-law singular values."""
    energy = np.arange(1, n + 1, dtype=np.float64) ** (-2.0 * alpha)
    kept = np.concatenate([[0.0], np.cumsum(energy)]) / energy.sum()
    return 1.0 - kept


def _power_law_rank_errors(layer: Any, full: int, alpha: float) -> np.ndarray:
    if not full:
        return np.zeros(1)
    r = np.arange(full + 1)
    if hasattr(layer, "in_features"):
        err = _tail_share(full, alpha)[r]
    else:
        c_in, c_out = layer.in_channels, layer.out_channels
        err = (_tail_share(c_in, alpha)[np.minimum(r, c_in)]
               + _tail_share(c_out, alpha)[np.minimum(r, c_out)])
    err = np.minimum(err, 1.0)
    err[0] = 0.0
    return err


__all__ = ["DEFAULT_PRIOR", "MAX_BITS", "Calibration", "LayerErrors", "ProxyOracle",
           "layer_roles", "noise_tables", "prior_sensitivities"]
