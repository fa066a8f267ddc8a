"""cnnkit.lab: the noise rule, verdict logic (on synthetic results) and learning curves."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from cnnkit.lab import stats
from cnnkit.lab.experiments import get_experiment
from cnnkit.lab.results import summarize_variant
from cnnkit.lab.train import fit
from cnnkit.lab.verdict import (CONTRADICTED, INCONCLUSIVE, MIXED, PARTLY, SUPPORTED, check, combine, higher,
                                not_lower)


# ------------------------------------------------------------------ stats
def test_mean_std_is_the_sample_std():
    xs = [0.91, 0.93, 0.92, 0.95]
    mean, std = stats.mean_std(xs)
    assert mean == pytest.approx(np.mean(xs)) and std == pytest.approx(np.std(xs, ddof=1))
    assert stats.mean_std([0.5]) == (0.5, None) and stats.mean_std([]) == (None, None)


def test_compare_uses_two_welch_standard_errors():
    a, b = [0.90, 0.91, 0.92], [0.80, 0.83, 0.81]
    c = stats.compare("a", a, "b", b)
    se = math.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 3)
    assert c.difference == pytest.approx(np.mean(a) - np.mean(b)) and c.standard_error == pytest.approx(se)
    assert c.outcome == stats.A_HIGHER and c.significant
    assert stats.compare("b", b, "a", a).outcome == stats.B_HIGHER
    noisy = stats.compare("a", [0.90, 0.95, 0.85], "b", [0.89, 0.94, 0.86])
    assert noisy.outcome == stats.WITHIN_NOISE and noisy.significant is False
    single = stats.compare("a", [0.9], "b", [0.8, 0.81])
    assert single.outcome == stats.TOO_FEW and single.standard_error is None and single.significant is None
    with pytest.raises(ValueError, match="at least one value"):
        stats.compare("a", [], "b", [0.5])


def test_two_standard_errors_with_three_seeds_is_p_about_012():
    """The docstring's warning: at exactly 2 SE with 3 seeds each, Welch's test gives p ~ 0.12."""
    scipy_stats = pytest.importorskip("scipy.stats")
    a = np.array([1.0, 2.0, 3.0])
    se = math.sqrt(2 * np.var(a, ddof=1) / 3)
    b = a - 2 * se  # the same spread, shifted by exactly 2 SE
    p = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    assert 0.10 < p < 0.13
    assert stats.compare("a", a, "b", b - 1e-9).outcome == stats.A_HIGHER
    assert stats.compare("a", a, "b", b + 1e-9).outcome == stats.WITHIN_NOISE


def test_contrast_of_four_groups():
    g = {k: list(np.random.default_rng(i).normal(i, 0.1, 4)) for i, k in enumerate("abcd")}
    value, se = stats.contrast([(1, g["a"]), (-1, g["b"]), (-1, g["c"]), (1, g["d"])])
    means = {k: np.mean(v) for k, v in g.items()}
    assert value == pytest.approx(means["a"] - means["b"] - means["c"] + means["d"])
    assert se == pytest.approx(math.sqrt(sum(np.var(v, ddof=1) / 4 for v in g.values())))
    assert stats.contrast([(1, [1.0]), (-1, [0.0, 1.0])])[1] is None


def test_aggregate_nested_metrics():
    runs = [{"x": 1.0, "d": {"1": 0.2, "2": 0.4}, "s": "text"}, {"x": 3.0, "d": {"1": 0.4, "2": 0.8}, "s": "t"}]
    agg = stats.aggregate(runs)
    assert agg["x"] == {"mean": 2.0, "std": pytest.approx(math.sqrt(2))}
    assert agg["d"]["2"]["mean"] == pytest.approx(0.6) and "s" not in agg


# ------------------------------------------------------------------ verdict logic
def test_verdict_statuses_and_combination():
    up = stats.compare("a", [0.9, 0.91, 0.92], "b", [0.8, 0.81, 0.82])
    down = stats.compare("a", [0.8, 0.81, 0.82], "b", [0.9, 0.91, 0.92])
    flat = stats.compare("a", [0.9, 0.95, 0.85], "b", [0.9, 0.94, 0.86])
    assert higher("x", up)["status"] == SUPPORTED
    assert higher("x", down)["status"] == CONTRADICTED
    assert higher("x", flat)["status"] == INCONCLUSIVE
    assert not_lower("x", down, margin=0.2)["status"] == SUPPORTED  # lower, but by less than the margin
    assert not_lower("x", down, margin=0.05)["status"] == CONTRADICTED
    assert not_lower("x", flat, margin=0.0)["status"] == SUPPORTED
    s, c, i = (check("x", st, "") for st in (SUPPORTED, CONTRADICTED, INCONCLUSIVE))
    assert combine([s, s]) == SUPPORTED and combine([s, i]) == PARTLY and combine([c, i]) == CONTRADICTED
    assert combine([s, c]) == MIXED and combine([i]) == INCONCLUSIVE and combine([]) == INCONCLUSIVE
    with pytest.raises(ValueError, match="status"):
        check("x", "maybe", "")


def _result(name: str, config: dict, accuracies: dict[str, list[float]], info: dict[str, dict],
            metrics: dict[str, list[dict]] | None = None, extra: dict | None = None) -> dict:
    """A results object made from chosen numbers (no training)."""
    variants = []
    for v, accs in accuracies.items():
        runs = [{"seed": s, "test_accuracy": a, "train_time_s": 1.0, "wall_time_s": 1.0, "curve": {}}
                for s, a in enumerate(accs)]
        for r, m in zip(runs, (metrics or {}).get(v, [])):
            r["metrics"] = m
        variants.append(summarize_variant(v, info.get(v, {"params": 1, "macs": 1, "receptive_field": [1]}), runs))
    return {"experiment": name, "config": config, "variants": variants, "extra": extra or {}}


HIGH, LOW, NOISE = [0.95, 0.951, 0.949], [0.90, 0.901, 0.899], [0.93, 0.94, 0.92]


@pytest.mark.parametrize("two, status", [(HIGH, SUPPORTED), (NOISE, PARTLY), (LOW, MIXED)])
def test_stacking_verdict(two, status):
    exp = get_experiment("stacking")
    info = {"one-5x5": {"params": 100, "macs": 1000, "receptive_field": [18, 18]},
            "two-3x3": {"params": 80, "macs": 700, "receptive_field": [18, 18]}}
    v = exp.verdict(_result("stacking", {}, {"one-5x5": NOISE, "two-3x3": two}, info))
    assert v["status"] == status
    assert [c["status"] for c in v["checks"][:3]] == [SUPPORTED] * 3
    info["two-3x3"]["receptive_field"] = [16, 16]
    v = exp.verdict(_result("stacking", {}, {"one-5x5": NOISE, "two-3x3": two}, info))
    assert v["checks"][0]["status"] == CONTRADICTED


def test_inductive_bias_and_text_head_verdicts():
    exp = get_experiment("inductive-bias")
    v = exp.verdict(_result("inductive-bias", {}, {"cnn": HIGH, "mlp": NOISE, "cnn-shuffled": LOW}, {}))
    assert v["status"] == SUPPORTED
    v = exp.verdict(_result("inductive-bias", {}, {"cnn": HIGH, "mlp": LOW, "cnn-shuffled": NOISE}, {}))
    assert [c["status"] for c in v["checks"]] == [SUPPORTED, SUPPORTED, CONTRADICTED] and v["status"] == MIXED
    exp = get_experiment("text-head")
    v = exp.verdict(_result("text-head", {}, {"ln-dropout": NOISE, "bn-dropout": NOISE, "dropout": LOW}, {}))
    assert [c["status"] for c in v["checks"]] == [INCONCLUSIVE, SUPPORTED]


def test_activation_verdict():
    exp = get_experiment("activation")
    close = [0.945, 0.94, 0.95]  # lower than HIGH beyond the noise, but by less than 1 point
    v = exp.verdict(_result("activation", {}, {"relu": HIGH, "leaky-relu": HIGH, "maxout": close, "tanh": LOW}, {}))
    assert [c["status"] for c in v["checks"]] == [SUPPORTED, SUPPORTED, SUPPORTED, CONTRADICTED]
    v = exp.verdict(_result("activation", {}, {"relu": LOW, "leaky-relu": HIGH, "maxout": LOW, "tanh": LOW}, {}))
    assert v["checks"][0]["status"] == CONTRADICTED and "leaky-relu" in v["checks"][0]["detail"]


def test_normalization_verdict_counts_unreached_targets_as_all_samples():
    exp = get_experiment("normalization")
    config = {"batch_sizes": [2, 64], "target_accuracy": 0.95, "epochs": 2, "train_size": 1000}
    fast = [{"samples_to_target": s} for s in (300, 320, 310)]
    never = [{"samples_to_target": None}] * 3
    acc = {"none-b64": NOISE, "batch-norm-b64": HIGH, "layer-norm-b64": HIGH,
           "batch-norm-b2": LOW, "layer-norm-b2": [0.951, 0.949, 0.95]}
    metrics = {"none-b64": never, "batch-norm-b64": fast, "layer-norm-b64": fast,
               "batch-norm-b2": fast, "layer-norm-b2": fast}
    v = exp.verdict(_result("normalization", config, acc, {}, metrics))
    assert [c["status"] for c in v["checks"]] == [SUPPORTED, SUPPORTED, SUPPORTED]
    assert "none-b64 2,000 samples vs batch-norm-b64 310 samples" in v["checks"][0]["detail"]  # 2 epochs x 1000
    acc["batch-norm-b2"] = HIGH  # BN no longer loses at the small batch
    assert exp.verdict(_result("normalization", config, acc, {}, metrics))["checks"][2]["status"] == INCONCLUSIVE


def test_pooling_verdict():
    exp = get_experiment("pooling")

    def m(conv, pool, feat, agree):
        return [{"conv1_change_mean": conv + d, "pool1_change_mean": pool + d, "feature_change_mean": feat + d,
                 "prediction_agreement_mean": agree - d} for d in (0.0, 0.01, 0.02)]

    metrics = {"max-pool": m(0.8, 0.6, 0.4, 0.9), "mean-pool": m(0.7, 0.6, 0.3, 0.92),
               "strided-conv": m(0.7, 0.0, 0.6, 0.7)}
    for r in metrics["strided-conv"]:
        del r["pool1_change_mean"]
    v = exp.verdict(_result("pooling", {}, {k: NOISE for k in metrics}, {}, metrics))
    assert v["status"] == SUPPORTED and len(v["checks"]) == 6


# ------------------------------------------------------------------ learning curves
def _tiny_net():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_fit_curve_chunks_do_not_change_training(rng):
    x = rng.standard_normal((50, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    states = []
    for points in (1, 7):
        cnnkit.manual_seed(3)
        model = _tiny_net()
        out = fit(model, (x, y), (x[:20], y[:20]), epochs=2, batch_size=8, lr=1e-2, seed=5, curve_points=points)
        states.append({k: v.copy() for k, v in model.state_dict().items()})
        assert len(out["curve"]["samples"]) == points and out["curve"]["samples"][-1] == 100
    assert all(np.array_equal(states[0][k], states[1][k]) for k in states[0])
    # 7 points over 14 steps: after every 2 steps of 8 samples (an epoch is 7 batches, the 7th of 2)
    assert out["curve"]["samples"] == [16, 32, 48, 58, 74, 90, 100]
    model.eval()
    with cnnkit.no_grad():
        acc = float(np.mean(model(x[:20]).numpy().argmax(1) == y[:20]))
    assert out["test_accuracy"] == pytest.approx(acc) and out["curve"]["test_accuracy"][-1] == pytest.approx(acc)


def test_config_profiles_and_overrides():
    exp = get_experiment("stacking")
    full, quick = exp.config("full"), exp.config("quick")
    assert full["profile"] == "full" and quick["train_size"] < full["train_size"]
    assert exp.config("quick", {"epochs": 1, "lr": 1})["lr"] == 1.0
    with pytest.raises(ValueError, match="unknown config key 'nope'"):
        exp.config("full", {"nope": 1})
    with pytest.raises(ValueError, match="must be of type int"):
        exp.config("full", {"epochs": "two"})
    with pytest.raises(ValueError, match="profile"):
        exp.config("huge")
    assert copy.deepcopy(exp.full) == exp.full  # profiles do not leak into the class defaults
