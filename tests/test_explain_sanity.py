"""Adebayo et al.'s randomisation tests: the similarity measures against scipy and
scikit-image, the reported numbers recomputed from the returned maps, correlations that
fall as LeNet-5's layers are randomised from the top (and a method that does not fall),
the caller's model untouched, and the data-randomisation test."""
from __future__ import annotations

import numpy as np
import pytest

from explain_twins import assert_untouched, digits, pretrained, snapshot  # noqa: F401 (fixtures)

import cnnkit
from cnnkit.explain._filters import separable_filter
from cnnkit.explain.sanity import reinitialise_, sanity_check, spearman, ssim, train_on_shuffled_labels
from cnnkit.models import lenet5, textcnn

scipy_stats = pytest.importorskip("scipy.stats")
skimage_metrics = pytest.importorskip("skimage.metrics")


@pytest.mark.parametrize("seed", range(4))
def test_spearman_is_scipys(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, 300).astype(float)  # many ties
    b = a + rng.normal(0, 2, 300) if seed % 2 else rng.normal(size=300)
    assert np.isclose(spearman(a, b), scipy_stats.spearmanr(a, b).statistic, rtol=1e-12, atol=1e-12)
    assert spearman(np.ones(5), b[:5]) == 0.0  # a constant map has no ranking


@pytest.mark.parametrize("shape, win", [((32, 32), 7), ((10, 13), 7), ((6, 9, 8), 5), ((64,), 7)])
def test_ssim_is_scikit_images(shape, win):
    rng = np.random.default_rng(0)
    a = rng.random(shape)
    b = np.clip(a + rng.normal(0, 0.3, shape), 0, 1)
    want = skimage_metrics.structural_similarity(a, b, data_range=1.0, win_size=win)
    assert np.isclose(ssim(a, b, 1.0, win), want, rtol=1e-10, atol=1e-12)
    assert np.isclose(ssim(a, a), 1.0)


def test_separable_filter_is_scipys_reflect():
    from scipy.ndimage import correlate1d
    x = np.random.default_rng(1).standard_normal((5, 9, 4))
    taps = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    want = correlate1d(correlate1d(x, taps, axis=1, mode="reflect"), taps, axis=2, mode="reflect")
    np.testing.assert_allclose(separable_filter(x, taps, (1, 2)), want, rtol=1e-12, atol=1e-12)


def test_reinitialise_follows_the_default_initialisations():
    rng = np.random.default_rng(0)
    cnnkit.manual_seed(0)
    conv = lenet5().conv2
    old = conv.weight.data.copy()
    reinitialise_(conv, rng)
    bound = 1 / np.sqrt(6 * 5 * 5)  # kaiming_uniform_(a=sqrt(5)) is U(+-1/sqrt(fan_in)), as the bias
    assert not np.array_equal(conv.weight.data, old)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.9 * bound
    text = textcnn(50, 8, (2,), 3, head="ln")
    reinitialise_(text.embedding, rng)
    assert np.all(text.embedding.weight.data[0] == 0) and 0.7 < text.embedding.weight.data[1:].std() < 1.3
    text.norm.weight.data[...] = np.linspace(0.5, 1.5, 3)
    reinitialise_(text.norm, rng)  # other parameters: N(mean, std) of their values
    assert not np.allclose(text.norm.weight.data, np.linspace(0.5, 1.5, 3))


def _recomputed(result):
    """The result's correlations and SSIMs, recomputed from its maps with scipy and scikit-image."""
    rho, sim = [], []
    for maps in result.maps:
        r, s = [], []
        for m0, m1 in zip(np.abs(result.original.astype(np.float64)), np.abs(maps.astype(np.float64))):
            r.append(scipy_stats.spearmanr(m0.ravel(), m1.ravel()).statistic)
            planes = zip(m0, m1) if m0.ndim == 3 else [(m0, m1)]
            unit = [(p - p.min()) / (p.max() - p.min()) if p.max() > p.min() else np.zeros_like(p) for p in
                    (q for pair in planes for q in pair)]
            s.append(np.mean([skimage_metrics.structural_similarity(unit[i], unit[i + 1], data_range=1.0)
                              for i in range(0, len(unit), 2)]))
        rho.append(np.mean(r))
        sim.append(np.mean(s))
    return np.array(rho), np.array(sim)


@pytest.mark.parametrize("method, kwargs", [("saliency", {}), ("grad_cam", {}),
                                            ("integrated_gradients", {"steps": 16})])
def test_cascading_randomisation(pretrained, digits, method, kwargs):
    _, x, labels = digits
    x = x[:4]
    if method == "integrated_gradients":
        kwargs = {**kwargs, "baseline": float(x[0, 0, 0, 0])}  # a black image
    before = snapshot(pretrained)
    r = sanity_check(pretrained, x, None, method, **kwargs)
    assert_untouched(pretrained, before)  # randomised on a copy
    assert r.layers == ["fc3", "fc2", "fc1", "conv2", "conv1"]
    assert r.maps.shape == (5,) + r.original.shape and r.correlations.shape == r.ssim.shape == (5,)
    np.testing.assert_array_equal(r.targets, labels[:4])  # the trained model's predictions, kept
    rho, sim = _recomputed(r)
    np.testing.assert_allclose(r.correlations, rho, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.ssim, sim, rtol=1e-9, atol=1e-12)
    if method == "saliency":  # falls as more layers are randomised
        assert r.correlations[-1] < r.correlations[0] - 0.1 and r.correlations[-1] < 0.65
        assert r.ssim[-1] < 0.5 * r.ssim[0]
    elif method == "grad_cam":  # gone once the weights are random
        assert np.all(r.correlations[2:] < 0.2)
    else:  # IG from black mostly draws the digit: zero wherever x = x', whatever the weights
        assert np.all(r.correlations > 0.9)


def test_data_randomisation(pretrained, digits):
    images, x, labels = digits
    calls = []

    def recipe():
        calls.append(1)
        from cnnkit.data import prepare_mnist
        model, history = train_on_shuffled_labels(lambda: lenet5(), images, labels, epochs=2, batch_size=4,
                                                  prepare=prepare_mnist)
        assert len(history) == 2 and not model.training
        return model

    r = sanity_check(pretrained, x[:4], None, "grad_cam", shuffled_labels_model=recipe)
    d = r.data_randomization
    assert calls == [1] and d.maps.shape == r.original.shape
    assert np.isclose(d.correlation, d.correlations_per_sample.mean()) and d.correlation < 0.5
    rows = r.rows()
    assert [name for name, *_ in rows] == ["fc3", "+ fc2", "+ fc1", "+ conv2", "+ conv1", "shuffled labels"]


def test_sanity_arguments(pretrained, digits):
    _, x, _ = digits
    with pytest.raises(ValueError, match="method must be one of"):
        sanity_check(pretrained, x[:1], None, "lime")
    with pytest.raises(ValueError, match="not in the model"):
        sanity_check(pretrained, x[:1], None, "saliency", layers=["conv1", "fc9"])
