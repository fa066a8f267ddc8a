"""Sanity checks for saliency maps (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

A map that explains *the model* must change when the model's weights are destroyed.

* **Cascading model-parameter randomisation**: on a copy of the model, re-initialise
  the layers from the top (the logits) down, one layer more at each step, and compare
  each step's maps with the trained model's maps (same inputs, same target classes).
* **Data randomisation**: compare with the maps of the same architecture trained on
  shuffled labels (given as a model, or a callable that trains one, e.g. the result
  of :func:`train_on_shuffled_labels`).

Comparisons, per sample, between the original map ``m`` and the randomised ``m'``
(with ``absolute=True`` both are taken in absolute value first, as Adebayo et al.'s
"absolute" rows; CAM maps are non-negative anyway):

* the Spearman rank correlation of all their values (:func:`spearman`; a map with
  all values equal carries no ranking and gives 0);
* SSIM (:func:`ssim`, Wang et al. 2004, with scikit-image's defaults: a 7-pixel
  uniform window, ``K1 = 0.01``, ``K2 = 0.03``, sample covariances, the border of
  half a window left out) of the two maps each scaled to ``[0, 1]``, averaged over channels.

A method passes when its correlations fall towards 0 as more layers are randomised.
Re-initialisation: convolution and linear layers PyTorch's default
(``kaiming_uniform_(a=sqrt(5))`` weights, ``U(+-1/sqrt(fan_in))`` biases),
embeddings ``N(0, 1)`` (padding row 0), any other parameter ``N(mean, std)`` of its
trained values; all from ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..analysis.hooks import run_recorded
from ..autograd import Tensor
from ..nn import init
from ..nn.module import Module
from ..nn.sparse import Embedding
from ._common import as_images, resolve_targets
from ._filters import separable_filter
from .cam import grad_cam, grad_cam_plus_plus
from .gradients import input_x_gradient, integrated_gradients, saliency
from .occlusion import occlusion

__all__ = ["METHODS", "SanityResult", "DataRandomization", "sanity_check", "attribute", "spearman", "ssim",
           "cascade_layers", "reinitialise_", "train_on_shuffled_labels"]

#: The methods :func:`sanity_check` (and :func:`attribute`) take.
METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "occlusion", "grad_cam", "grad_cam++")


def attribute(model: Module, x: np.ndarray, targets, method: str, layer=None, **kwargs) -> np.ndarray:
    """The map of ``method`` (one of :data:`METHODS`): ``(N, C, *S)`` for the pixel
    methods, ``(N, *S)`` (upsampled) for the CAMs. ``kwargs`` go to the method."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in ("grad_cam", "grad_cam++"):
        f = grad_cam if method == "grad_cam" else grad_cam_plus_plus
        return f(model, x, targets, layer, upsample=True, **kwargs)
    if layer is not None:
        raise ValueError(f"{method}: layer= applies to grad_cam and grad_cam++ only")
    f = {"saliency": saliency, "input_x_gradient": input_x_gradient,
         "integrated_gradients": integrated_gradients, "occlusion": occlusion}[method]
    return f(model, x, targets, **kwargs)


# ---------------------------------------------------------------- similarity
def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    ends = np.r_[starts[1:], len(v)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks = np.empty(len(v), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(a, b) -> float:
    """Spearman's rank correlation of two arrays' values (Pearson's on their ranks, ties averaged).

    0 when either array has all values equal (no ranking to compare).
    """
    ra, rb = _ranks(np.ravel(a).astype(np.float64)), _ranks(np.ravel(b).astype(np.float64))
    if ra.size != rb.size:
        raise ValueError(f"spearman: the arrays have {ra.size} and {rb.size} values")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / denom if denom > 0 else 0.0


def ssim(a, b, data_range: float = 1.0, win_size: int = 7) -> float:
    """Mean structural similarity of two arrays of the same shape (any number of axes).

    As ``skimage.metrics.structural_similarity(a, b, data_range=..., win_size=...)``:
    local means, variances and the covariance over a ``win_size``-wide uniform window
    per axis (mirrored border), sample-normalised, ``C1 = (0.01 R)^2``, ``C2 = (0.03 R)^2``,
    averaged over the pixels at least half a window from the border. The window
    shrinks to the largest odd size that fits the smallest axis.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim: the arrays have shapes {x.shape} and {y.shape}")
    win = min(int(win_size), min(x.shape))
    win -= 1 - win % 2
    if win < 1:
        raise ValueError(f"ssim: arrays of shape {x.shape} are too small")
    axes = tuple(range(x.ndim))
    taps = np.full(win, 1.0 / win)
    mean = lambda v: separable_filter(v, taps, axes)  # noqa: E731
    n_pix = win ** x.ndim
    norm = n_pix / (n_pix - 1) if n_pix > 1 else 1.0
    ux, uy = mean(x), mean(y)
    vx = norm * (mean(x * x) - ux * ux)
    vy = norm * (mean(y * y) - uy * uy)
    vxy = norm * (mean(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(s[tuple(slice(pad, n - pad) for n in s.shape)].mean())


def _unit_range(m: np.ndarray) -> np.ndarray:
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m, dtype=np.float64)


def _compare(original: np.ndarray, other: np.ndarray, absolute: bool, channels: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ``(spearman (N,), ssim (N,))``; ``channels``: maps are ``(N, C, *S)``."""
    rho, sim = np.empty(len(original)), np.empty(len(original))
    for i, (m0, m1) in enumerate(zip(original, other)):
        m0, m1 = m0.astype(np.float64), m1.astype(np.float64)
        if absolute:
            m0, m1 = np.abs(m0), np.abs(m1)
        rho[i] = spearman(m0, m1)
        planes = zip(m0, m1) if channels else [(m0, m1)]
        sim[i] = np.mean([ssim(_unit_range(p), _unit_range(q)) for p, q in planes])
    return rho, sim


# ---------------------------------------------------------- randomisation
def cascade_layers(model: Module, x: np.ndarray) -> list[str]:
    """The layers that own parameters, in the order the forward pass calls them (bottom first)."""
    calls = run_recorded(model, Tensor(x[:1]), "sanity_check")
    names: list[str] = []
    for call in sorted(calls, key=lambda c: c.order):
        if call.name and call.name not in names and any(p is not None for p in call.module._parameters.values()):
            names.append(call.name)
    return names


def reinitialise_(module: Module, generator: np.random.Generator) -> None:
    """Draw the parameters of ``module`` afresh, in place (rules in the module docstring)."""
    params = module._parameters
    weight = params.get("weight")
    if isinstance(module, Embedding):
        init.normal_(weight.data, generator=generator)
        if module.padding_idx is not None:
            weight.data[module.padding_idx] = 0
        return
    if weight is not None and weight.data.ndim >= 2:
        bias = params.get("bias")
        fan_in = init.calculate_fan_in_and_fan_out(weight.data.shape)[0]
        init.default_layer_init_(weight.data, None if bias is None else bias.data, fan_in, generator)
        others = [p for n, p in params.items() if p is not None and n not in ("weight", "bias")]
    else:
        others = [p for p in params.values() if p is not None]
    for p in others:
        values = p.data
        p.data[...] = generator.normal(values.mean(), values.std(), values.shape).astype(values.dtype)


@dataclass
class DataRandomization:
    """Maps of the model trained on shuffled labels, compared with the original ones."""

    maps: np.ndarray
    correlation: float
    ssim: float
    correlations_per_sample: np.ndarray
    ssim_per_sample: np.ndarray


@dataclass
class SanityResult:
    """The result of :func:`sanity_check`.

    ``layers``: the layers re-initialised, top first; step ``k`` has ``layers[:k + 1]``
    randomised. ``correlations`` / ``ssim`` ``(steps,)``: the mean over samples of the
    Spearman correlation / SSIM between the original maps and step ``k``'s;
    ``*_per_sample`` ``(steps, N)``. ``original`` ``(N, ...)`` and ``maps``
    ``(steps, N, ...)``: the maps themselves. ``data_randomization``: the
    shuffled-label comparison, when a model for it was given.
    """

    method: str
    layer: str | None
    targets: np.ndarray
    layers: list[str]
    original: np.ndarray
    maps: np.ndarray
    correlations: np.ndarray
    ssim: np.ndarray
    correlations_per_sample: np.ndarray
    ssim_per_sample: np.ndarray
    absolute: bool
    data_randomization: DataRandomization | None = None

    def rows(self) -> list[tuple[str, float, float]]:
        """``(what was randomised, Spearman, SSIM)`` per step, then the data randomisation."""
        out = [(f"+ {name}" if k else f"{name}", float(r), float(s))
               for k, (name, r, s) in enumerate(zip(self.layers, self.correlations, self.ssim))]
        if self.data_randomization is not None:
            d = self.data_randomization
            out.append(("shuffled labels", d.correlation, d.ssim))
        return out


def sanity_check(model: Module, input, target=None, method: str = "saliency", layer=None, *,
                 layers: Sequence[str] | None = None, absolute: bool = True, seed: int = 0,
                 shuffled_labels_model: Module | Callable[[], Module] | None = None,
                 **method_kwargs) -> SanityResult:
    """Adebayo et al.'s randomisation tests for ``method`` on a batch ``(N, C, *S)``.

    ``target``: as the methods (``None``: the class the *trained* model predicts,
    kept for every randomised model). ``layer``: the CAM layer (``grad_cam``,
    ``grad_cam++``; default the last convolution). ``layers``: the layers to
    randomise, bottom first (default: every layer with parameters, in forward
    order; the cascade runs from the last of them down). ``shuffled_labels_model``:
    the same architecture trained on shuffled labels, or a zero-argument callable
    returning it. ``method_kwargs`` go to the method (e.g. ``steps=`` for
    integrated gradients, ``window=`` for occlusion). The caller's model is not
    changed: randomisation happens on a deep copy.
    """
    fn = "sanity_check"
    x = as_images(model, input, fn)
    if method not in METHODS:
        raise ValueError(f"{fn}: method must be one of {METHODS}, got {method!r}")
    targets = resolve_targets(model, x, target, fn)
    order = cascade_layers(model, x) if layers is None else list(layers)
    named = dict(model.named_modules())
    missing = [n for n in order if n not in named]
    if missing:
        raise ValueError(f"{fn}: layers {missing} are not in the model")
    if not order:
        raise ValueError(f"{fn}: the model has no layer with parameters to randomise")
    top_first = order[::-1]
    original = attribute(model, x, targets, method, layer, **method_kwargs)
    channels = method not in ("grad_cam", "grad_cam++")
    rng = np.random.default_rng(seed)
    work = copy.deepcopy(model)
    work_named = dict(work.named_modules())
    layer_name = layer if isinstance(layer, str) or layer is None else next(
        n for n, m in named.items() if m is layer)
    maps, rhos, sims = [], [], []
    for name in top_first:
        reinitialise_(work_named[name], rng)
        m = attribute(work, x, targets, method, layer_name, **method_kwargs)
        r, s = _compare(original, m, absolute, channels)
        maps.append(m)
        rhos.append(r)
        sims.append(s)
    data = None
    if shuffled_labels_model is not None:
        other = shuffled_labels_model() if not isinstance(shuffled_labels_model, Module) else shuffled_labels_model
        m = attribute(other, x, targets, method, layer_name, **method_kwargs)
        r, s = _compare(original, m, absolute, channels)
        data = DataRandomization(m, float(r.mean()), float(s.mean()), r, s)
    rho, sim = np.array(rhos), np.array(sims)
    return SanityResult(method, layer_name, targets, top_first, original, np.stack(maps), rho.mean(axis=1),
                        sim.mean(axis=1), rho, sim, absolute, data)


def train_on_shuffled_labels(build: Callable[[], Module], inputs: np.ndarray, labels: np.ndarray, *,
                             epochs: int = 5, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                             prepare: Callable | None = None, log: Callable[[str], None] | None = None
                             ) -> tuple[Module, list[dict]]:
    """Adebayo et al.'s data randomisation: ``build()`` a fresh model and train it with Adam
    on ``inputs`` with the labels permuted by ``numpy.random.default_rng(seed)``.

    Returns ``(model, history)`` (:func:`cnnkit.training.fit`'s per-epoch rows; the
    training accuracy says how far it memorised the random labels).
    """
    from .. import functional as F
    from .. import optim
    from ..analysis.zoo import _seeded
    from ..training.fit import fit

    shuffled = np.random.default_rng(seed).permutation(np.asarray(labels)).astype(np.int64)
    with _seeded(seed):  # cnnkit's generator (initialisation) reseeded, the caller's put back
        model = build()
        opt = optim.Adam(model.parameters(), lr=lr)
        summary = fit(model, opt, F.cross_entropy, (inputs, shuffled), epochs=epochs, batch_size=batch_size,
                      seed=seed, prepare=prepare, progress=False, log=log or (lambda _: None))
    model.eval()
    return model, summary["history"]
