"""Every lab experiment in its tiny configuration: a valid results.json and figure, and the
numbers that need no training (parameters, multiply-adds, receptive fields, data handling)
checked against formulas written out here."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cnnkit.lab.experiments import EXPERIMENTS, get_experiment
from cnnkit.lab.results import read_json, validate
from cnnkit.lab.runner import run_experiment
from test_xception import SEPARABLE_LAYERS

DATA = {"stacking": "mnist", "separable": "mnist", "pooling": "mnist", "normalization": "mnist",
        "activation": "mnist", "text-head": "mr"}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:  # MNIST-1D's cache in a temporary folder (workers inherit it)
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield tmp_path_factory.mktemp("lab")


def tiny(name: str, out_dir: Path, request) -> dict:
    """Run ``name`` in its tiny configuration (once per test module) and check the files."""
    if name in DATA:
        data_dir = request.getfixturevalue("data_dir")
        if not (Path(data_dir) / DATA[name]).is_dir():
            pytest.skip(f"{name} needs {DATA[name]}: {data_dir}/{DATA[name]} not found")
    folder = out_dir / name
    if not (folder / "results.json").is_file():
        run_experiment(name, profile="tiny", out=out_dir, workers=1, progress=False, log=lambda line: None,
                       command=f"cnnkit lab run {name} --tiny")
    result = validate(read_json(folder / "results.json"))
    assert result["experiment"] == name and result["config"]["profile"] == "tiny"
    exp = get_experiment(name)
    assert [v["name"] for v in result["variants"]] == exp.variants(result["config"])
    assert all(len(v["runs"]) == exp.seeds["tiny"] for v in result["variants"])
    assert result["verdict"]["status"] in ("supported", "contradicted", "inconclusive", "mixed", "partly supported")
    return result


def field(layers: list[tuple[int, int, int]]) -> int:
    """Receptive field of a stack of (kernel, stride, dilation) windows: r += (k - 1) d j, j *= s."""
    r, j = 1, 1
    for k, s, d in layers:
        r += (k - 1) * d * j
        j *= s
    return r


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "separable" else n
                                  for n in EXPERIMENTS])  # separable builds Xception and its 179 M-weight twin
def test_results_and_figure(name, out_dir, request):
    result = tiny(name, out_dir, request)
    PIL = pytest.importorskip("PIL.Image")
    with PIL.open(out_dir / name / "figure.png") as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert pixels.shape[1] > 600 and pixels.std() > 10  # a drawn figure, not a blank canvas
    for v in result["variants"]:
        for run in v["runs"]:
            assert 0 <= run["test_accuracy"] <= 1 and run["train_time_s"] > 0 and run["curve"]["samples"]


def test_stacking_counts(out_dir, request):
    result = tiny("stacking", out_dir, request)
    c = result["config"]["channels"]
    one, two = (get_experiment("stacking").variant(result, v) for v in ("one-5x5", "two-3x3"))
    head = 49 * c * 10 + 10
    assert one["params"] == (9 * c + c) + 2 * (25 * c * c + c) + head
    assert two["params"] == (9 * c + c) + 4 * (9 * c * c + c) + head
    assert one["macs"] == 784 * 9 * c + (784 + 196) * 25 * c * c + 49 * c * 10
    assert two["macs"] == 784 * 9 * c + (784 + 196) * 2 * 9 * c * c + 49 * c * 10
    stem = [(3, 1, 1)]
    assert one["receptive_field"] == [field(stem + [(5, 1, 1), (2, 2, 1), (5, 1, 1), (2, 2, 1)])] * 2 == [18, 18]
    assert two["receptive_field"] == [field(stem + [(3, 1, 1)] * 2 + [(2, 2, 1)] + [(3, 1, 1)] * 2 + [(2, 2, 1)])] * 2


def test_dilation_fields_and_parameters(out_dir, request):
    result = tiny("dilation", out_dir, request)
    c, depth = result["config"]["channels"], result["config"]["depth"]
    exp = get_experiment("dilation")
    for v in result["variants"]:
        ds = [1] * depth if v["name"].startswith("plain") else [2 ** i for i in range(depth)]
        assert v["receptive_field_by_depth"] == [field([(3, 1, 1)] + [(3, 1, d) for d in ds[:k]])
                                                  for k in range(depth + 1)]
        assert v["params"] == (3 * c + c) + depth * (3 * c * c + c) + (10 * c + 10)
    ds = [2 ** i for i in range(exp.config("full")["depth"])]
    assert [field([(3, 1, 1)] + [(3, 1, d) for d in ds[:k]]) for k in range(len(ds) + 1)] == [3, 5, 9, 17, 33]


@pytest.mark.slow
def test_separable_counts_and_xception_savings(out_dir, request):
    result = tiny("separable", out_dir, request)
    exp = get_experiment("separable")
    plain, sep = exp.variant(result, "plain"), exp.variant(result, "separable")
    assert (sep["conv2_params"], plain["conv2_params"]) == (16 * 9 + 16 * 32 + 32, 16 * 32 * 9 + 32)  # 656, 4608
    x = result["extra"]["xception"]
    assert x["separable"]["params"] == 22_855_952 and x["separable"]["layers"] == x["plain"]["layers"] == 34
    assert x["params_saved"] == sum(9 * i * o - (9 * i + i * o) for i, o in SEPARABLE_LAYERS)
    size = x["input"][2]  # 71: entry blocks at 33, 17, 9; middle at 5; exit block at 5 then 3
    at = [33] * 2 + [17] * 2 + [9] * 2 + [5] * 24 + [5] * 2 + [3] * 2
    assert size == 71
    assert x["plain"]["layer_macs"] == sum(h * h * 9 * i * o for (i, o), h in zip(SEPARABLE_LAYERS, at))
    assert x["separable"]["layer_macs"] == sum(h * h * (9 * i + i * o) for (i, o), h in zip(SEPARABLE_LAYERS, at))
    assert all(r["metrics"]["epoch_time_s"] == pytest.approx(r["train_time_s"] / result["config"]["epochs"])
               for v in result["variants"] for r in v["runs"])


def test_pooling_shift_measures(out_dir, request):
    from cnnkit.lab.experiments.pooling import BACKGROUND, relative_change, shift_images

    result = tiny("pooling", out_dir, request)
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 5)).astype(np.float32)
    for dy, dx in ((0, 2), (0, -1), (3, 0), (-2, 0)):
        expected = np.roll(x, (dy, dx), axis=(2, 3))
        if dy > 0:
            expected[:, :, :dy] = BACKGROUND
        elif dy < 0:
            expected[:, :, dy:] = BACKGROUND
        if dx > 0:
            expected[:, :, :, :dx] = BACKGROUND
        elif dx < 0:
            expected[:, :, :, dx:] = BACKGROUND
        np.testing.assert_array_equal(shift_images(x, dy, dx), expected)
    a, b = x, x + 1
    per = [np.linalg.norm(b[i] - a[i]) / np.linalg.norm(a[i]) for i in range(2)]
    assert relative_change(a, b) == pytest.approx(np.mean(per))
    exp = get_experiment("pooling")
    strided, maxed = exp.variant(result, "strided-conv"), exp.variant(result, "max-pool")
    assert "pool1_change" not in strided["metrics"] and "pool1_change" in maxed["metrics"]
    assert strided["params"] == maxed["params"]
    for v in result["variants"]:
        for r in v["runs"]:
            agree = r["metrics"]["prediction_agreement"]
            assert set(agree) == {"1", "2", "3"} and all(0 <= a <= 1 for a in agree.values())
            assert r["metrics"]["prediction_agreement_mean"] == pytest.approx(np.mean(list(agree.values())))


def test_normalization_batches_and_targets(out_dir, request):
    result = tiny("normalization", out_dir, request)
    config = result["config"]
    big = max(config["batch_sizes"])
    for v in result["variants"]:
        assert v["lr"] == pytest.approx(config["lr"] * v["batch_size"] / big)
        for r in v["runs"]:
            reached = [s for s, a in zip(r["curve"]["samples"], r["curve"]["test_accuracy"])
                       if a >= config["target_accuracy"]]
            assert r["metrics"]["samples_to_target"] == (reached[0] if reached else None)
    names = [v["name"] for v in result["variants"]]
    assert names == ["none-b16", "batch-norm-b16", "layer-norm-b16", "batch-norm-b2", "layer-norm-b2"]


def test_activation_maxout_doubles_the_filters(out_dir, request):
    result = tiny("activation", out_dir, request)
    c = result["config"]["channels"]
    exp = get_experiment("activation")
    relu, maxout = exp.variant(result, "relu"), exp.variant(result, "maxout")
    head = 2 * c * 49 * 10 + 10
    assert relu["params"] == (9 * c + c) + (9 * c * 2 * c + 2 * c) + head
    assert maxout["params"] == (9 * 2 * c + 2 * c) + (9 * c * 4 * c + 4 * c) + head


def test_text_head_folds(out_dir, request):
    from cnnkit.data import kfold_splits
    from cnnkit.lab import data

    result = tiny("text-head", out_dir, request)
    config = result["config"]
    ids, labels, vocab = data.mr(max(config["windows"]), config["limit"])
    _, test_idx = kfold_splits(len(labels), config["folds"], seed=0, labels=labels)[0]
    e, m = config["embed_dim"], config["maps"]
    base = vocab * e + sum(e * h * m + m for h in config["windows"]) + 3 * m * 2 + 2
    for v in result["variants"]:
        extra = {"ln-dropout": 2 * 3 * m, "bn-dropout": 2 * 3 * m, "dropout": 0}[v["name"]]
        assert v["params"] == base + extra
        for r in v["runs"]:
            correct = r["test_accuracy"] * len(test_idx)
            assert r["fold"] == r["seed"] + 1 and math.isclose(correct, round(correct), abs_tol=1e-6)


def test_inductive_bias_shuffles_positions(out_dir, request):
    result = tiny("inductive-bias", out_dir, request)
    exp = get_experiment("inductive-bias")
    config = result["config"]
    plain = exp.variant_dataset("cnn", config)
    shuffled = exp.variant_dataset("cnn-shuffled", config)
    order = np.random.default_rng(config["shuffle_seed"]).permutation(40)
    np.testing.assert_array_equal(shuffled[0], plain[0][..., order])
    np.testing.assert_array_equal(shuffled[2], plain[2][..., order])
    assert not np.array_equal(shuffled[0], plain[0]) and np.array_equal(shuffled[1], plain[1])
    h = config["hidden"]
    assert exp.variant(result, "mlp")["params"] == (40 * h + h) + (h * h + h) + (10 * h + 10)
    assert exp.variant(result, "mlp")["receptive_field"] is None
    c = config["channels"]
    assert exp.variant(result, "cnn")["params"] == (5 * c + c) + 2 * (3 * c * c + c) + (5 * c * 10 + 10)


def test_mnist1d_is_the_packages_generator(tmp_path, monkeypatch):
    """The data are mnist1d's own: regenerated with the package's defaults, not stored anywhere in git."""
    mnist1d = pytest.importorskip("mnist1d.data")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from cnnkit.lab import data

    args = mnist1d.get_dataset_args()
    args.num_samples = 200
    state = np.random.get_state()
    expected = mnist1d.make_dataset(args)
    np.random.set_state(state)
    data.mnist1d.cache_clear()
    train_x, train_y, test_x, test_y = data.mnist1d(200, 42)
    np.testing.assert_allclose(train_x[:, 0], expected["x"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(test_y, expected["y_test"])
    assert train_x.shape == (160, 1, 40) and not train_x.flags.writeable
    assert len(list((tmp_path / "cnnkit" / "mnist1d").glob("*.npz"))) == 1  # cached as .npz, no pickle
    data.mnist1d.cache_clear()
    np.testing.assert_array_equal(data.mnist1d(200, 42)[0], train_x)  # read back from the cache
