"""The explorer's HTTP API through Starlette's test client: every endpoint against an independent
computation (a PyTorch twin of the LeNet-5, scipy.ndimage, the definitions), and every kind of bad
request answered with a 4xx {"error"} while the server keeps serving."""
from __future__ import annotations

import base64
import io
import pickle
import threading
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
pytest.importorskip("httpx")
PIL = pytest.importorskip("PIL.Image")
import warnings  # noqa: E402

with warnings.catch_warnings():   # Starlette >= 1.0 would rather drive its test client with httpx2
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient  # noqa: E402

from cnnkit import checkpoint  # noqa: E402
from cnnkit.data import as_mnist_digit, to_mnist_digit  # noqa: E402
from cnnkit.models import lenet5  # noqa: E402
from cnnkit.models.lenet import PRETRAINED_PATH  # noqa: E402
from cnnkit.serve import create_app  # noqa: E402
from cnnkit.serve.inference import DECIMALS  # noqa: E402

from serve_helpers import bomb_png, png, stroke_digit, torch_lenet5, torch_outputs  # noqa: E402

# activations are sent rounded to DECIMALS decimals; float32 arithmetic adds ~1e-6 on values up to ~20
ROUNDED = 0.5 * 10 ** -DECIMALS + 1e-5


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(replicas=2)) as c:
        yield c


@pytest.fixture(scope="module")
def twin():
    pytest.importorskip("torch")
    return torch_lenet5(checkpoint.load(PRETRAINED_PATH))


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    return to_mnist_digit(stroke_digit(), invert=False)


def _ok(client, response):
    assert response.status_code == 200, response.text
    assert client.get("/healthz").json() == {"status": "ok"}   # and the server still serves
    return response.json()


def _bad(client, response, status: int, text: str):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and text in body["error"], body
    assert client.get("/healthz").json() == {"status": "ok"}
    return body["error"]


def _decode_png(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(PIL.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


# ----------------------------------------------------------------- basics
def test_healthz_and_info(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/api/info").json()
    assert info["model"]["id"] == "loaded" and info["model"]["kind"] == "digits"
    assert {"camera", "astronaut"} <= {s["name"] for s in info["samples"]}
    assert {"identity", "sobel_x", "sharpen"} <= {k["name"] for k in info["kernels"]}
    assert info["borders"] == ["zero", "reflect", "replicate", "wrap", "reflect101"]
    assert info["limits"]["max_body_bytes"] == 10 * 2 ** 20
    assert set(info["features"]) == {"animate", "explain"}
    page = client.get("/")
    assert page.status_code == 200 and 'id="draw-canvas"' in page.text
    for path in ("/static/style.css", "/static/js/main.js", "/static/js/draw.js"):
        assert client.get(path).status_code == 200, path
    _bad(client, client.get("/api/nothing"), 404, "Not Found")
    _bad(client, client.get("/api/predict"), 405, "Method Not Allowed")


def test_pages_load_nothing_from_the_network(client):
    """No CDN: every <script>/<link> the page references is served by the explorer itself."""
    import re
    html = client.get("/").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith(("/", "#", "data:")) for r in refs), refs
    for name in ("main", "api", "colors", "fields", "draw", "kernels", "arithmetic", "model"):
        js = client.get(f"/static/js/{name}.js").text
        assert not re.search(r"""(?:import|fetch)\s*\(?\s*["']https?://""", js), name


# ----------------------------------------------------------------- predict
def test_predict_pixels_equals_the_torch_twin(client, twin, digit):
    answer = _ok(client, client.post("/api/predict", json={"pixels": digit.tolist()}))
    ref = torch_outputs(twin, digit)
    logits = ref["fc3"]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(answer["probabilities"], probabilities, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(answer["logits"], logits, rtol=1e-5, atol=1e-5)
    assert answer["predicted"] == int(np.argmax(logits)) == 7
    np.testing.assert_array_equal(answer["digit"], digit)
    layers = {v["name"]: v for v in answer["layers"]}
    assert list(layers) == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    shown = {"conv1": "act1", "pool1": "pool1", "conv2": "act2", "pool2": "pool2", "fc1": "act3", "fc2": "act4",
             "fc3": "fc3"}
    for name, module in shown.items():
        assert layers[name]["shows"] == module
        assert layers[name]["shape"] == list(ref[module].shape)
        np.testing.assert_allclose(answer["activations"][name], ref[module], rtol=0, atol=ROUNDED, err_msg=name)
    assert layers["fc3"]["role"] == "logits" and layers["conv1"]["activation"] == "ReLU"


def test_predict_drawing_is_made_mnist_style_by_the_server(client, twin):
    drawing = stroke_digit(140)
    answer = _ok(client, client.post("/api/predict", json={"drawing": drawing.tolist()}))
    expected = to_mnist_digit(drawing, invert=False)       # the recipe MNIST's digits were made with
    np.testing.assert_array_equal(np.array(answer["digit"]), expected)
    same = _ok(client, client.post("/api/predict", json={"pixels": expected.tolist(), "activations": False}))
    assert same["probabilities"] == answer["probabilities"] and "activations" not in same


def test_predict_upload_of_dark_ink_on_paper(client, twin):
    paper = 255 - stroke_digit(96)                         # black ink on white, as scanned
    answer = _ok(client, client.post("/api/predict", files={"file": ("seven.png", png(paper), "image/png")}))
    np.testing.assert_array_equal(np.array(answer["digit"]), as_mnist_digit(paper))
    ref = torch_outputs(twin, np.array(answer["digit"]))
    assert answer["predicted"] == int(np.argmax(ref["fc3"]))
    quiet = _ok(client, client.post("/api/predict", data={"activations": "false"},
                                    files={"file": ("seven.png", png(paper), "image/png")}))
    assert "activations" not in quiet


GRID = np.zeros((28, 28)).tolist()


@pytest.mark.parametrize("body, status, text", [
    (b"{bad", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'{"pixels": NaN}', 400, "NaN is not a number"),
    (b'{"pixels": [[Infinity]]}', 400, "Infinity is not a number"),
    (b"", 400, "body is empty"),
    (b"\xff\xfe\x00", 400, "not UTF-8"),
    ({"pixels": np.zeros((27, 28)).tolist()}, 400, "shape 28x28, got 27x28"),
    ({"pixels": [[0] * 28] * 27 + [[0] * 27]}, 400, "rectangular"),
    ({"pixels": [["0"] * 28] * 28}, 400, "numbers only"),
    ({"pixels": [[True] * 28] * 28}, 400, "numbers only"),
    ({"pixels": [[0] * 28] * 27 + [[None] * 28]}, 400, "numbers only"),
    ({"pixels": np.full((28, 28), 300).tolist()}, 400, "0..255"),
    ({"pixels": 5}, 400, "list of rows"),
    ({}, 400, "exactly one of"),
    ({"pixels": GRID, "drawing": GRID}, 400, "exactly one of"),
    ({"pixels": GRID, "colour": 1}, 400, "unknown fields ['colour']"),
    ({"drawing": np.zeros((100, 100)).tolist()}, 400, "drawing is empty"),
    ({"drawing": np.zeros((600, 20)).tolist()}, 400, "at most 512"),
    ({"pixels": GRID, "model": "nope"}, 404, "unknown model 'nope'"),
    ({"pixels": GRID, "model": "seed-kernels"}, 400, "needs a LeNet-5"),
    ({"pixels": GRID, "activations": "yes"}, 400, "true or false"),
])
def test_predict_bad_requests(client, body, status, text):
    if isinstance(body, bytes):
        response = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post("/api/predict", json=body)
    _bad(client, response, status, text)


def test_predict_wrong_content_type(client):
    _bad(client, client.post("/api/predict", content=b"1,2,3", headers={"content-type": "text/csv"}), 415,
         "application/json")


def test_bad_uploads_are_refused_before_decoding(client):
    def send(name, data, path="/api/predict"):
        return client.post(path, files={"file": (name, data, "application/octet-stream")})

    _bad(client, send("notes.txt", b"this is not a picture"), 400, "notes.txt is not an image")
    _bad(client, send("empty.png", b""), 400, "empty.png is empty")
    error = _bad(client, send("bomb.png", bomb_png(8000, 8000)), 413, "8000x8000 = 64.0 megapixels, over the limit")
    assert "decompression bomb" in error                   # Pillow itself would only warn below 179 megapixels
    _bad(client, send("huge.png", bomb_png(30000, 30000)), 413, "900.0 megapixels, over the limit")
    whole = png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    error = _bad(client, send("cut.png", whole[: len(whole) * 2 // 3]), 400, "cut.png is truncated or corrupt")
    assert "cnnkit-upload" not in error                    # the temporary file's path is not leaked
    buffer = io.BytesIO()
    PIL.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="PPM")
    _bad(client, send("grey.ppm", buffer.getvalue()), 415, "accepted formats")
    _bad(client, client.post("/api/predict", files={"other": ("a.png", whole, "image/png")}), 400, "no file field 'file'")
    _bad(client, send("blank.png", png(np.full((30, 30), 200, np.uint8))), 400, "holds no digit")
    for path in ("/api/images", "/api/models"):
        _bad(client, client.post(path, json={}), 415, "multipart/form-data")
    _bad(client, send("bomb.png", bomb_png(), "/api/images"), 413, "megapixels")


def test_body_over_the_limit_gets_413_and_the_server_goes_on():
    with TestClient(create_app(max_body_bytes=4096, replicas=1)) as small:
        big = {"pixels": np.full((28, 28), 128.123456789).tolist()}     # ~ 11 KB of JSON
        _bad(small, small.post("/api/predict", json=big), 413, "over the limit of 0.00391 MiB")

        def chunks():                                                    # no Content-Length: counted as it comes
            for _ in range(10):
                yield b" " * 1024
        _bad(small, small.post("/api/predict", content=chunks(), headers={"content-type": "application/json"}),
             413, "over the limit")
        _bad(small, small.post("/api/images", files={"file": ("big.png", b"\x89PNG" + b"0" * 8000, "image/png")}),
             413, "over the limit")
        assert _ok(small, small.post("/api/predict", json={"pixels": GRID}))["predicted"] in range(10)
    with pytest.raises(ValueError, match="max_body_bytes"):
        create_app(max_body_bytes=10)


# -------------------------------------------------------------------- MNIST
def test_mnist_digits(client, data_dir):
    from cnnkit.data import load_mnist
    if not (data_dir / "mnist").is_dir():
        pytest.skip(f"{data_dir}/mnist not found")
    with TestClient(create_app(data_dir=data_dir / "mnist", replicas=1)) as c:
        assert c.get("/api/info").json()["mnist"] is True
        images, labels = load_mnist("test", data_dir / "mnist", download=False)
        answer = _ok(c, c.get("/api/mnist/0"))
        assert answer["label"] == int(labels[0]) == 7
        np.testing.assert_array_equal(answer["pixels"], images[0])
        _bad(c, c.get("/api/mnist/10000"), 404, "0..9999")


def test_mnist_absent_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with TestClient(create_app(data_dir=tmp_path, replicas=1)) as c:
        assert c.get("/api/info").json()["mnist"] is False
        _bad(c, c.get("/api/mnist/0"), 404, "never downloads")


# ------------------------------------------------------------------ kernels
def _display(raw: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The page's display rule by its definition: |r| scaled to its 99.5th percentile for kernels
    whose weights sum to 0, else rounded and clipped to 0..255."""
    if abs(kernel.sum()) < 1e-9:
        a = np.abs(raw)
        return np.clip(np.rint(a * 255 / np.percentile(a, 99.5)), 0, 255)
    return np.clip(np.rint(raw), 0, 255)


@pytest.mark.parametrize("kernel, border, mode, scipy_mode", [
    ("sobel_x", "zero", "correlate", "constant"),
    ("sharpen", "reflect101", "correlate", "mirror"),
    ([[1, 2, 0], [0, 1, -1], [0, 0, 3]], "replicate", "convolve", "nearest"),
    ("gaussian:5", "wrap", "correlate", "wrap"),
])
def test_filter_equals_scipy(client, kernel, border, mode, scipy_mode):
    ndimage = pytest.importorskip("scipy.ndimage")
    from cnnkit.kernels import get_kernel
    from cnnkit.samples import sample_image
    answer = _ok(client, client.post("/api/filter", json={"image": "sample:camera", "kernel": kernel,
                                                          "border": border, "mode": mode}))
    k = get_kernel(kernel) if isinstance(kernel, str) else np.array(kernel, dtype=np.float64)
    camera = sample_image("camera").astype(np.float64)
    fn = ndimage.correlate if mode == "correlate" else ndimage.convolve
    raw = fn(camera, k, mode=scipy_mode, cval=0.0)
    np.testing.assert_allclose(answer["range"], [raw.min(), raw.max()], rtol=1e-5, atol=1e-3)
    shown = _decode_png(answer["result_png"]).astype(np.int64)
    expected = _display(raw, k)
    assert shown.shape == camera.shape
    diff = np.abs(shown - expected)
    # float32 filtering vs float64 may round a value sitting at .5 the other way: at most one grey level
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())
    np.testing.assert_allclose(answer["kernel"], k)
    assert answer["rule"] == ("abs" if abs(k.sum()) < 1e-9 else "clip")


def test_filter_separability(client):
    sobel = _ok(client, client.post("/api/filter", json={"kernel": "sobel_x"}))
    column, row = np.array(sobel["separable"]["column"]), np.array(sobel["separable"]["row"])
    np.testing.assert_allclose(np.outer(column, row), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    assert sobel["multiplies"] == {"direct": 9, "separable": 6}
    gauss = _ok(client, client.post("/api/filter", json={"kernel": "gaussian:5"}))
    np.testing.assert_allclose(np.outer(gauss["separable"]["column"], gauss["separable"]["row"]),
                               gauss["kernel"], atol=1e-12)
    sharpen = _ok(client, client.post("/api/filter", json={"kernel": "sharpen"}))
    assert sharpen["separable"] is None and np.linalg.matrix_rank(np.array(sharpen["kernel"])) > 1


def test_filter_colour_and_grey(client):
    from cnnkit.samples import sample_image
    colour = _ok(client, client.post("/api/filter", json={"image": "sample:astronaut", "kernel": "identity"}))
    np.testing.assert_array_equal(_decode_png(colour["result_png"]), sample_image("astronaut"))
    grey = _ok(client, client.post("/api/filter", json={"image": "sample:astronaut", "kernel": "identity", "grey": True}))
    np.testing.assert_array_equal(_decode_png(grey["result_png"]), np.asarray(PIL.fromarray(sample_image("astronaut")).convert("L")))


@pytest.mark.parametrize("border, numpy_mode", [("zero", "constant"), ("reflect", "symmetric"),
                                                 ("reflect101", "reflect"), ("replicate", "edge"), ("wrap", "wrap")])
@pytest.mark.parametrize("mode", ["correlate", "convolve"])
def test_filter_probe_shows_one_pixels_sum(client, border, numpy_mode, mode):
    from cnnkit.samples import sample_image
    kernel = np.array([[1, 2, 0], [0, -1, 3], [4, 0, 1]], dtype=np.float64)
    camera = sample_image("camera").astype(np.float64)
    for y, x in [(0, 0), (511, 3), (200, 300)]:
        p = _ok(client, client.post("/api/filter/probe", json={"kernel": kernel.tolist(), "border": border, "mode": mode,
                                                               "y": y, "x": x}))
        padded = np.pad(camera, 1, mode=numpy_mode)         # numpy's own border rules
        patch = padded[y:y + 3, x:x + 3]
        weights = kernel if mode == "correlate" else kernel[::-1, ::-1]
        np.testing.assert_array_equal(p["patch"], patch)
        np.testing.assert_array_equal(p["weights"], weights)
        assert p["sum"] == (patch * weights).sum()
        assert abs(p["value"] - p["sum"]) <= 1e-4 * max(1.0, abs(p["sum"]))   # filter2d computes in float32
        assert p["outside"][0][0] == (y == 0 or x == 0) and p["outside"][1][1] is False
    _bad(client, client.post("/api/filter/probe", json={"y": 600, "x": 0}), 400, "outside the 512x512 image")
    _bad(client, client.post("/api/filter/probe", json={"y": "a", "x": 0}), 400, "y must be an integer")
    _bad(client, client.post("/api/filter/probe", json={"image": "sample:astronaut", "y": 1, "x": 1}), 400, "tick 'grey'")


@pytest.mark.parametrize("body, status, text", [
    ({"kernel": "blur_max"}, 400, "unknown kernel 'blur_max'"),
    ({"kernel": np.ones((16, 16)).tolist()}, 400, "at most 15 per side"),
    ({"kernel": [[1, "a"], [0, 1]]}, 400, "numbers only"),
    ({"border": "mirror"}, 400, "zero, reflect, replicate, wrap, reflect101"),
    ({"mode": "fft"}, 400, "correlate, convolve"),
    ({"image": "sample:lena"}, 404, "unknown sample 'lena'"),
    ({"image": "upload:0123456789abcdef"}, 404, "upload it again"),
    ({"image": 7}, 400, "sample:NAME"),
    ({"grey": 1}, 400, "true or false"),
])
def test_filter_bad_requests(client, body, status, text):
    _bad(client, client.post("/api/filter", json=body), status, text)


def test_uploaded_picture_round_trip(client):
    picture = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    up = _ok(client, client.post("/api/images", files={"file": ("tiny.png", png(picture), "image/png")}))
    assert (up["width"], up["height"], up["original"], up["color"]) == (40, 30, [40, 30], True)
    key = up["id"].split(":", 1)[1]
    got = client.get(f"/api/images/{key}")
    assert got.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(np.asarray(PIL.open(io.BytesIO(got.content))), picture)
    same = _ok(client, client.post("/api/filter", json={"image": up["id"], "kernel": "identity"}))
    np.testing.assert_array_equal(_decode_png(same["result_png"]), picture)
    big = np.zeros((1500, 300), np.uint8)
    scaled = _ok(client, client.post("/api/images", files={"file": ("tall.png", png(big), "image/png")}))
    assert (scaled["height"], scaled["width"], scaled["original"]) == (1024, 205, [300, 1500])
    sample = client.get("/api/samples/camera")
    assert sample.status_code == 200 and np.asarray(PIL.open(io.BytesIO(sample.content))).shape == (512, 512)
    _bad(client, client.get("/api/images/ffffffffffffffff"), 404, "upload it again")
    _bad(client, client.get("/api/samples/lena"), 404, "unknown sample")


# -------------------------------------------------------------------- model
def test_summary_rows(client, twin):
    table = _ok(client, client.get("/api/summary"))
    rows = {r["name"]: r for r in table["rows"]}
    torch_params = {name: sum(p.numel() for p in m.parameters()) for name, m in twin.named_children()}
    for name, count in torch_params.items():
        assert rows[name]["params"] == count, name
    assert table["totals"]["params"] == sum(torch_params.values()) == 61706
    # receptive fields by the recursion r' = r + (k - 1) j, j' = j s, on 32x32
    r, j, expected = 1, 1, {}
    for name, k, s in [("conv1", 5, 1), ("pool1", 2, 2), ("conv2", 5, 1), ("pool2", 2, 2)]:
        r, j = r + (k - 1) * j, j * s
        expected[name] = (r, j)
    for name, (size, jump) in expected.items():
        assert rows[name]["rf"]["size"] == f"{size}x{size}" and rows[name]["rf"]["jump"] == f"{jump}x{jump}"
        assert [a["size"] for a in rows[name]["field"]] == [size, size]
    assert rows["fc1"]["rf"]["size"] == "global 32x32" and rows["fc1"]["field"] is None
    assert rows["conv2"]["output_shape"] == [1, 16, 10, 10] and rows["conv2"]["macs"] == 16 * 100 * 6 * 25
    assert table["conv_layers"] == ["conv1", "conv2"] and "Total params: 61,706" in table["text"]
    assert table["cam_layers"] == ["conv1", "act1", "pool1", "conv2", "act2", "pool2"] and table["cam_default"] == "act2"
    zoo = _ok(client, client.get("/api/summary?model=separable"))
    assert zoo["totals"]["params"] == 16 * 9 + 16 * 32       # the seed's 656
    _bad(client, client.get("/api/summary?model=resnet"), 404, "unknown model 'resnet'")


def test_layer_output_equals_the_torch_twin(client, twin, digit):
    ref = torch_outputs(twin, digit)
    for layer in ("conv2", "pool1", "act3"):
        answer = _ok(client, client.post("/api/layer", json={"pixels": digit.tolist(), "layer": layer}))
        got = np.array(answer["maps"] if "maps" in answer else answer["vector"])
        np.testing.assert_allclose(got, ref[layer], rtol=0, atol=ROUNDED, err_msg=layer)
        assert answer["shape"] == list(ref[layer].shape)
    np.testing.assert_allclose(answer["input"], ref["input"][0], atol=ROUNDED)
    assert answer["predicted"] == 7
    kernels = _ok(client, client.post("/api/layer", json={"pixels": digit.tolist(), "layer": "0", "model": "seed-kernels"}))
    assert kernels["shape"] == [6, 28, 28]                   # the seed's six kernels on the digit, scaled to 0..1
    assert kernels["channel_names"] == ["identity", "edge_cross", "edge_laplacian", "sharpen", "box_blur", "gaussian_blur"]
    identity = np.array(kernels["maps"][0])
    np.testing.assert_allclose(identity, digit / 255, atol=ROUNDED)
    _bad(client, client.post("/api/layer", json={"pixels": GRID, "layer": "conv9"}), 400, "no layer 'conv9'")
    _bad(client, client.post("/api/layer", json={"pixels": GRID, "layer": 3}), 400, "layer must be")
    _bad(client, client.post("/api/layer", json={"pixels": GRID, "layer": "embedding", "model": "textcnn"}), 400,
         "not a picture")


def test_uploaded_checkpoint(client, tmp_path, digit):
    pytest.importorskip("torch")
    import cnnkit
    cnnkit.manual_seed(5)
    model = lenet5()
    path = checkpoint.save(model, tmp_path / "mine.safetensors", metadata={"model": "lenet5"})
    entry = _ok(client, client.post("/api/models", files={"file": ("mine.safetensors", path.read_bytes())}))
    assert entry["id"].startswith("upload:") and entry["kind"] == "digits"
    assert entry["id"] in {m["id"] for m in client.get("/api/models").json()["models"]}
    answer = _ok(client, client.post("/api/predict", json={"pixels": digit.tolist(), "model": entry["id"]}))
    ref = torch_outputs(torch_lenet5({k: v for k, v in model.state_dict().items()}), digit)
    np.testing.assert_allclose(answer["logits"], ref["fc3"], rtol=1e-5, atol=1e-5)
    # a file name is enough to tell the architecture, as for `cnnkit summary`
    plain = checkpoint.save(model, tmp_path / "lenet5_epoch3.safetensors")
    named = _ok(client, client.post("/api/models", files={"file": ("lenet5_epoch3.safetensors", plain.read_bytes())}))
    assert named["kind"] == "digits"


def test_bad_checkpoints_are_refused_and_never_run(client, tmp_path):
    from cnnkit.analysis.zoo import build
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    payload = pickle.dumps(Evil())
    _bad(client, client.post("/api/models", files={"file": ("model.pt", payload)}), 415, ".safetensors files only")
    _bad(client, client.post("/api/models", files={"file": ("model.safetensors", payload)}), 400,
         "not a valid safetensors checkpoint")
    assert not marker.exists()
    kernels, _ = build("seed-kernels")
    wrong = checkpoint.save(kernels, tmp_path / "k.safetensors")
    _bad(client, client.post("/api/models", data={"architecture": "lenet5"},
                             files={"file": ("k.safetensors", wrong.read_bytes())}), 400, "does not match LeNet5")
    _bad(client, client.post("/api/models", files={"file": ("k.safetensors", wrong.read_bytes())}), 400,
         "cannot tell which zoo model")
    _bad(client, client.post("/api/models", data={"architecture": "resnet50"},
                             files={"file": ("k.safetensors", wrong.read_bytes())}), 400, "architecture must be one of")
    error = _bad(client, client.post("/api/models", files={"file": ("x.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{}")}),
                 400, "x.safetensors is not a valid safetensors checkpoint")
    assert "cnnkit-checkpoint" not in error


# ------------------------------------------------------- animation frames
def test_frames(client):
    try:
        import cnnkit.animate as animate
    except ModuleNotFoundError:
        _bad(client, client.post("/api/frames", json={"op": "conv2d", "input": [5, 5]}), 501, "cnnkit.animate (issue 11)")
        _bad(client, client.post("/api/frames", json={"op": "conv9d"}), 400, "op must be one of")
        return
    torch = pytest.importorskip("torch")
    body = {"op": "conv2d", "input": [5, 5], "kernel": [3, 3], "stride": [2, 2], "padding": "same", "seed": 4}
    answer = _ok(client, client.post("/api/frames", json=body))
    expected = animate.frame_data("conv2d", input_size=(5, 5), kernel_size=(3, 3), stride=(2, 2), padding="same",
                                  seed=4).to_dict()
    assert {k: v for k, v in answer.items() if k != "receptive_field"} == expected
    x, w = np.array(answer["input"], dtype=np.float64), np.array(answer["kernel"], dtype=np.float64)
    t = torch.nn.functional.conv2d(torch.from_numpy(np.pad(x, ((0, 0), (1, 1), (1, 1))))[None], torch.from_numpy(w),
                                   stride=2)
    np.testing.assert_allclose(answer["output"], t.numpy()[0])
    assert answer["receptive_field"]["text"] == {"size": "3x3", "jump": "2x2", "start": "0, 0"}
    dilated = _ok(client, client.post("/api/frames", json={"op": "conv2d", "input": [7, 7], "dilation": [2, 2]}))
    assert [a["size"] for a in dilated["receptive_field"]["axes"]] == ["5", "5"]       # (3 - 1) * 2 + 1
    assert [a["n_read"] for a in dilated["receptive_field"]["axes"]] == [3, 3]        # the seed's # - # - #
    up = _ok(client, client.post("/api/frames", json={"op": "conv_transpose2d", "input": [2, 2], "stride": [2, 2]}))
    assert np.shape(up["output"]) == (1, 5, 5)
    _bad(client, client.post("/api/frames", json={"op": "conv2d", "input": [2, 2], "kernel": [5, 5]}), 400, "")
    _bad(client, client.post("/api/frames", json={"op": "conv2d", "colour": 1}), 400, "unknown fields")


def test_frames_of_1d_ops(client):
    pytest.importorskip("cnnkit.animate")
    torch = pytest.importorskip("torch")
    body = {"op": "conv1d", "input": [9], "kernel": [3], "dilation": [2], "padding": [[1, 0]], "seed": 2,
            "backward": True}
    answer = _ok(client, client.post("/api/frames", json=body))
    x, w = np.array(answer["input"], dtype=np.float64), np.array(answer["kernel"], dtype=np.float64)
    xt = torch.from_numpy(np.pad(x, ((0, 0), (1, 0))))[None].requires_grad_()
    y = torch.nn.functional.conv1d(xt, torch.from_numpy(w), dilation=2)
    np.testing.assert_allclose(answer["output"], y.detach().numpy()[0])
    y.backward(torch.tensor(answer["grad_output"], dtype=torch.float64)[None])
    np.testing.assert_allclose(answer["grad_input"], xt.grad.numpy()[0][:, 1:])
    # 5 wide with 3 read (dilation 2); the first window starts one cell into the padding: centred on cell 1
    assert answer["receptive_field"]["text"] == {"size": "5 (3 read)", "jump": "1", "start": "1"}
    pool = _ok(client, client.post("/api/frames", json={"op": "avg_pool1d", "input": [7], "kernel": [3],
                                                        "stride": [2], "padding": [1]}))
    assert answer["op"] == "conv1d" and pool["receptive_field"]["axes"][0]["size"] == "3"
    assert pool["receptive_field"]["text"]["jump"] == "2"
    info = _ok(client, client.get("/api/info"))
    assert {"conv1d", "conv_transpose1d", "max_pool1d", "avg_pool1d", "separable"} <= set(info["frame_ops"])
    sep = _ok(client, client.post("/api/frames", json={"op": "separable", "input": [5, 5], "kernel": [3, 3]}))
    column, row = (np.array(s["kernel"], dtype=np.float64)[0, 0] for s in sep["stages"])
    x = torch.from_numpy(np.array(sep["input"], dtype=np.float64))[None]
    full = torch.nn.functional.conv2d(x, torch.from_numpy(column @ row)[None, None])  # outer product = the 3x3 kernel
    np.testing.assert_allclose(sep["output"], full.numpy()[0])
    assert sep["receptive_field"] is None and [s["name"] for s in sep["stages"]] == ["column pass 3x1", "row pass 1x3"]


# ------------------------------------------------------------ explanations
def test_explain(client, twin, digit):
    try:
        import cnnkit.explain  # noqa: F401
    except ModuleNotFoundError:
        _bad(client, client.post("/api/explain", json={"pixels": digit.tolist(), "method": "saliency"}), 501,
             "cnnkit.explain (issue 12)")
        _bad(client, client.post("/api/explain", json={"pixels": digit.tolist(), "method": "lime"}), 400,
             "saliency, input_x_gradient")
        return
    import torch
    answer = _ok(client, client.post("/api/explain", json={"pixels": digit.tolist(), "method": "saliency", "target": 3}))
    x = torch.tensor(torch_outputs(twin, digit)["input"][None], requires_grad=True)
    twin(x)[0, 3].backward()
    np.testing.assert_allclose(answer["map"], x.grad.abs().numpy()[0].max(axis=0), rtol=0, atol=ROUNDED)
    assert answer["target"] == 3
    # Grad-CAM (Selvaraju et al.) of the rectified conv2 maps, computed on the twin with a hook
    cam = _ok(client, client.post("/api/explain", json={"pixels": digit.tolist(), "method": "grad_cam"}))
    assert cam["layer"] == "act2" and cam["target"] == 7
    kept = {}
    x = torch.tensor(torch_outputs(twin, digit)["input"][None])
    hook = twin.act2.register_forward_hook(lambda module, inp, out: kept.setdefault("a", out))
    logit = twin(x)[0, 7]
    hook.remove()
    (grads,) = torch.autograd.grad(logit, kept["a"])
    weights = grads.mean(dim=(2, 3), keepdim=True)
    ref = torch.relu((weights * kept["a"]).sum(dim=1, keepdim=True))
    ref = torch.nn.functional.interpolate(ref, size=(32, 32), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(cam["map"], ref.detach().numpy()[0, 0], rtol=0, atol=ROUNDED)
    conv2 = _ok(client, client.post("/api/explain", json={"pixels": digit.tolist(), "method": "grad_cam", "layer": "conv2"}))
    assert np.shape(conv2["map"]) == (32, 32) and min(map(min, conv2["map"])) >= 0
    _bad(client, client.post("/api/explain", json={"pixels": GRID, "method": "grad_cam", "layer": "fc1"}), 400,
         "a layer with spatial maps")
    _bad(client, client.post("/api/explain", json={"pixels": GRID, "target": 12}), 400, "0..9")


def test_explain_methods_are_cnnkit_explains(client, digit):
    """The Model page's other methods are cnnkit.explain's on the served model, from the blank canvas
    (the model's view of an all-black digit) where a baseline is needed."""
    explain = pytest.importorskip("cnnkit.explain")
    from cnnkit.data import prepare_mnist
    from cnnkit.models import lenet5
    from cnnkit.serve import inference
    model = lenet5(pretrained=True).eval()
    x, black = prepare_mnist(digit), prepare_mnist(np.zeros_like(digit))
    expected = {
        "input_x_gradient": np.abs(explain.input_x_gradient(model, x, 3))[0].max(axis=0),
        "integrated_gradients": np.abs(explain.integrated_gradients(model, x, 3, baseline=black,
                                                                    steps=inference.IG_STEPS))[0].max(axis=0),
        "occlusion": np.maximum(explain.occlusion(model, x, 3, window=inference.OCCLUSION_WINDOW,
                                                  stride=inference.OCCLUSION_STRIDE, baseline=black), 0)[0].max(axis=0),
        "grad_cam++": explain.grad_cam_plus_plus(model, x, 3, "act2")[0],
    }
    for method, ref in expected.items():
        answer = _ok(client, client.post("/api/explain", json={"pixels": digit.tolist(), "method": method, "target": 3}))
        assert answer["method"] == method and answer["target"] == 3 and np.shape(answer["map"]) == (32, 32)
        np.testing.assert_allclose(answer["map"], ref, rtol=0, atol=ROUNDED, err_msg=method)
        assert answer["layer"] == ("act2" if method == "grad_cam++" else None)
        assert min(map(min, answer["map"])) >= 0 and answer["range"][1] > 0, method


# ------------------------------------------------------------- concurrency
def test_work_runs_off_the_event_loop(monkeypatch):
    """While one prediction computes, the server answers others (a real uvicorn, real sockets)."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    from cnnkit.serve import inference
    from cnnkit.serve.server import background
    real = inference.predict

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)
    monkeypatch.setattr(inference, "predict", slow)
    with background(create_app(replicas=2)) as url:
        results = {}

        def predict():
            results["slow"] = httpx.post(url + "api/predict", json={"pixels": GRID}, timeout=30).status_code
        worker = threading.Thread(target=predict)
        worker.start()
        time.sleep(0.2)
        start = time.perf_counter()
        assert httpx.get(url + "healthz", timeout=5).json() == {"status": "ok"}
        assert httpx.post(url + "api/filter", json={"kernel": "box_blur"}, timeout=10).status_code == 200
        took = time.perf_counter() - start
        worker.join()
        assert results["slow"] == 200
        assert took < 0.75, f"the event loop waited for the slow prediction ({took:.2f} s)"
        monkeypatch.setattr(inference, "predict", real)
        answers = []

        def client_loop():
            with httpx.Client(base_url=url, timeout=30) as c:
                for _ in range(4):
                    answers.append(c.post("api/predict", json={"pixels": GRID}).json()["predicted"])
        threads = [threading.Thread(target=client_loop) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(answers) == 24 and len(set(answers)) == 1


def test_cli_serve_help_and_errors():
    from cnnkit.cli import main
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    assert main(["serve", "--model", "model.py", "--no-browser"]) == 2
    assert main(["serve", "--model", "missing.safetensors", "--no-browser"]) == 2
    assert main(["serve", "--port", "70000", "--no-browser"]) == 2
    pytest.importorskip("uvicorn")
    from cnnkit.serve.server import background
    with background(create_app(replicas=1)) as url:               # its port is taken now
        port = url.rsplit(":", 1)[1].strip("/")
        assert main(["serve", "--port", port, "--no-browser"]) == 2
