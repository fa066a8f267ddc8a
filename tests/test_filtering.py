"""filter2d against two independent oracles, scipy.ndimage.correlate/convolve and
OpenCV's filter2D, on real sample images, for every kernel, every border, both
modes, odd and even kernel sizes, integer and float inputs."""
from __future__ import annotations

import functools
import tracemalloc

import numpy as np
import pytest

import cnnkit.filtering as filtering
from cnnkit.filtering import (BORDERS, NUMPY_PAD_MODES, SCIPY_MODES, border_indices, clip, display_rule,
                              filter2d, normalize, pad_image, to_display)
from cnnkit.kernels import KERNELS, get_kernel

from helpers import optional

cv2 = optional("cv2")
ndi = optional("scipy.ndimage")
skdata = optional("skimage.data")

CV_BORDERS = {"zero": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT, "reflect101": cv2.BORDER_REFLECT_101,
              "replicate": cv2.BORDER_REPLICATE, "wrap": cv2.BORDER_WRAP}


IMAGE_NAMES = ["camera-uint8", "astronaut-uint8-rgb", "coins-float32", "camera-float64", "astronaut-float32-rgb"]


@functools.lru_cache(maxsize=None)
def _images():
    """Crops of real sample images (odd sizes), as uint8 / float32 / float64 (loaded when a test needs them)."""
    camera, astronaut, coins = skdata.camera(), skdata.astronaut(), skdata.coins()
    return {
        "camera-uint8": camera[180:241, 200:283],
        "astronaut-uint8-rgb": astronaut[100:150, 180:243],
        "coins-float32": coins[40:93, 60:131].astype(np.float32) / 255,
        "camera-float64": camera[300:347, 100:159].astype(np.float64),
        "astronaut-float32-rgb": astronaut[200:237, 250:291].astype(np.float32),
    }



def _kernels():
    rng = np.random.default_rng(7)
    ks = {name: get_kernel(name) for name in KERNELS}
    ks["gaussian:5"] = get_kernel("gaussian:5")
    ks["box:4"] = get_kernel("box:4")  # even
    for shape in [(2, 2), (4, 3), (2, 5), (1, 4), (6, 1), (5, 5), (4, 6)]:
        ks[f"random{shape}"] = rng.standard_normal(shape)
    return ks


KERNEL_SET = _kernels()


def _out_dtype(image):
    return np.float64 if image.dtype == np.float64 else np.float32


def _tol(image, kernel):
    scale = float(np.abs(kernel).sum() * max(1.0, np.abs(image.astype(np.float64)).max()))
    if _out_dtype(image) == np.float64:
        return dict(rtol=1e-12, atol=1e-12 * scale)
    return dict(rtol=2e-6, atol=2e-6 * scale)


def scipy_filter(image, kernel, border, mode):
    x = image.astype(np.float64)
    k = kernel if x.ndim == 2 else kernel[:, :, None]
    fn = ndi.correlate if mode == "correlate" else ndi.convolve
    return fn(x, k, mode=SCIPY_MODES[border], cval=0.0)


def opencv_filter(image, kernel, border, mode):
    """cv2.filter2D is a correlation anchored at the kernel centre; convolution is
    the flipped kernel with the anchor mirrored (OpenCV docs). BORDER_WRAP is not
    accepted by filter2D, so for it the image is padded by copyMakeBorder and the
    kernel is run with anchor (0, 0) over the padded image."""
    kh, kw = kernel.shape
    ay, ax = kh // 2, kw // 2
    k = kernel
    if mode == "convolve":
        k = kernel[::-1, ::-1]
        ay, ax = kh - 1 - ay, kw - 1 - ax
    depth = cv2.CV_64F if image.dtype == np.float64 else cv2.CV_32F
    k = np.ascontiguousarray(k, dtype=np.float64 if depth == cv2.CV_64F else np.float32)
    if border != "wrap":
        return cv2.filter2D(image, depth, k, anchor=(ax, ay), borderType=CV_BORDERS[border])
    padded = cv2.copyMakeBorder(image, ay, kh - 1 - ay, ax, kw - 1 - ax, cv2.BORDER_WRAP)
    out = cv2.filter2D(padded, depth, k, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    return out[:image.shape[0], :image.shape[1]]


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("image_name", IMAGE_NAMES)
def test_filter2d_matches_scipy_and_opencv(image_name, border):
    image = _images()[image_name]
    for kname, kernel in KERNEL_SET.items():
        for mode in ("correlate", "convolve"):
            config = f"image={image_name} kernel={kname} {kernel.shape} border={border} mode={mode}"
            out = filter2d(image, kernel, border=border, mode=mode)
            assert out.shape == image.shape and out.dtype == _out_dtype(image), config
            tol = _tol(image, kernel)
            np.testing.assert_allclose(out, scipy_filter(image, kernel, border, mode), **tol,
                                       err_msg=config + " (oracle: scipy.ndimage)")
            np.testing.assert_allclose(out, opencv_filter(image, kernel, border, mode), **tol,
                                       err_msg=config + " (oracle: cv2.filter2D)")


@pytest.mark.parametrize("image_name", ["camera", "astronaut", "coins"])
def test_seed_kernels_on_whole_sample_images(image_name):
    image = getattr(skdata, image_name)()
    for name in ("identity", "edge_cross", "edge_laplacian", "sharpen", "box_blur", "gaussian_blur"):
        k = get_kernel(name)
        for border in ("reflect101", "zero"):
            out = filter2d(image, name, border=border)
            np.testing.assert_allclose(out, opencv_filter(image, k, border, "correlate"), rtol=1e-6, atol=1e-3,
                                       err_msg=f"{image_name} {name} {border}")
    np.testing.assert_array_equal(filter2d(image, "identity"), image.astype(np.float32))


def padded_oracle(image, kernel, border, mode):
    """np.pad with the matching mode, then a "valid" scipy correlation (no border rule involved)."""
    kh, kw = kernel.shape
    k = kernel if mode == "correlate" else kernel[::-1, ::-1]
    ay, ax = (kh // 2, kw // 2) if mode == "correlate" else (kh - 1 - kh // 2, kw - 1 - kw // 2)
    pads = ((ay, kh - 1 - ay), (ax, kw - 1 - ax)) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(image.astype(np.float64), pads, mode=NUMPY_PAD_MODES[border])
    k3 = k if image.ndim == 2 else k[:, :, None]
    full = ndi.correlate(padded, k3, mode="constant", origin=[-(s // 2) for s in k3.shape])
    return full[:image.shape[0], :image.shape[1]]


@pytest.mark.parametrize("border", BORDERS)
def test_borders_wider_than_the_image(border, rng):
    """A 15-wide kernel on a 3-pixel image: the extension repeats periodically, as in
    scipy, np.pad and OpenCV (three oracles)."""
    for shape in [(3, 3), (1, 5), (2, 7), (3, 3, 3), (1, 1), (5, 4)]:
        image = rng.random(shape)
        for kshape in [(15, 15), (16, 4), (7, 1), (2, 9), (33, 3)]:
            kernel = rng.standard_normal(kshape)
            for mode in ("correlate", "convolve"):
                config = f"image {shape} kernel {kshape} border={border} mode={mode}"
                out = filter2d(image, kernel, border=border, mode=mode)
                np.testing.assert_allclose(out, padded_oracle(image, kernel, border, mode), rtol=1e-12,
                                           atol=1e-12, err_msg=config + " (np.pad)")
                np.testing.assert_allclose(out, opencv_filter(image, kernel, border, mode), rtol=1e-9, atol=1e-9,
                                           err_msg=config + " (cv2)")
                # scipy's n-d correlate (not correlate1d) stops being periodic in "reflect" mode
                # once a border is >= 4x the image side (its own correlate1d, np.pad and OpenCV
                # agree with us there); everywhere else it is the oracle.
                if border == "reflect" and any(k - 1 - k // 2 >= 4 * n or k // 2 >= 4 * n
                                               for k, n in zip(kshape, shape) if n > 1):
                    continue
                np.testing.assert_allclose(out, scipy_filter(image, kernel, border, mode), rtol=1e-12, atol=1e-12,
                                           err_msg=config + " (scipy)")


def test_scipy_reflect_divergence_is_scipys_own():
    """Where the test above skips scipy.ndimage.correlate, scipy's correlate1d (same
    mode, same library) agrees with us: the divergence is in scipy's n-d path."""
    x = np.random.default_rng(1).random((2, 7))
    column = np.random.default_rng(2).standard_normal(16)
    ours = filter2d(x, column[:, None], border="reflect")
    np.testing.assert_allclose(ours, ndi.correlate1d(x, column, axis=0, mode="reflect"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("border", BORDERS)
def test_pad_image_equals_np_pad(border, rng):
    for shape in [(4, 5), (1, 3), (3, 2, 3)]:
        image = rng.integers(0, 255, size=shape, dtype=np.uint8)
        for pads in [((1, 2), (0, 3)), ((9, 7), (11, 4)), ((0, 0), (0, 0))]:
            expected = np.pad(image, pads + ((0, 0),) * (image.ndim - 2), mode=NUMPY_PAD_MODES[border])
            np.testing.assert_array_equal(pad_image(image, pads, border), expected, err_msg=f"{shape} {pads}")


def test_border_indices_and_errors():
    np.testing.assert_array_equal(border_indices(np.arange(-3, 6), 3, "reflect"), [2, 1, 0, 0, 1, 2, 2, 1, 0])
    np.testing.assert_array_equal(border_indices(np.arange(-3, 6), 3, "reflect101"), [1, 2, 1, 0, 1, 2, 1, 0, 1])
    np.testing.assert_array_equal(border_indices(np.arange(-2, 3), 1, "reflect101"), [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(border_indices(np.arange(-2, 4), 2, "zero"), [-1, -1, 0, 1, -1, -1])
    with pytest.raises(ValueError, match="border must be one of 'zero'.*got 'mirror'"):
        border_indices(np.arange(3), 3, "mirror")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("border", BORDERS)
def test_separable_path_equals_2d_path(border, dtype, rng):
    image = (skdata.astronaut()[::7, ::5] / 255).astype(dtype)
    kernels = {"sobel_x": get_kernel("sobel_x"), "gaussian:15": get_kernel("gaussian:15"),
               "box:4": get_kernel("box:4"), "edge_cross": get_kernel("edge_cross"),
               "outer(5,2)": np.outer(rng.standard_normal(5), rng.standard_normal(2)),
               "gaussian:9:3": get_kernel("gaussian:9:3")}
    for name, k in kernels.items():
        for mode in ("correlate", "convolve"):
            sep = filter2d(image, k, border=border, mode=mode, separable=True)
            full = filter2d(image, k, border=border, mode=mode, separable=False)
            auto = filter2d(image, k, border=border, mode=mode)
            assert sep.dtype == full.dtype == dtype
            tol = dict(rtol=1e-5, atol=1e-5 * np.abs(k).sum()) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
            cfg = f"{name} border={border} mode={mode} {np.dtype(dtype).name}"
            np.testing.assert_allclose(sep, full, **tol, err_msg=cfg)
            np.testing.assert_allclose(auto, full, **tol, err_msg=cfg)
            np.testing.assert_allclose(sep, scipy_filter(image, k, border, mode), **tol, err_msg=cfg + " vs scipy")


def test_auto_takes_the_separable_path_only_when_it_saves_taps():
    use = filtering._use_separable
    assert use(get_kernel("gaussian:15"), "auto", 1e-6) is not None
    assert use(get_kernel("box_blur"), "auto", 1e-6) is not None  # 3 + 3 taps < 9
    assert use(get_kernel("identity"), "auto", 1e-6) is None  # 1 + 1 taps > 1
    assert use(get_kernel("edge_cross"), "auto", 1e-6) is None  # rank 1 but 2 + 2 taps == 4
    assert use(get_kernel("sharpen"), "auto", 1e-6) is None
    assert use(get_kernel("sobel_x"), False, 1e-6) is None
    with pytest.raises(ValueError, match="separable=True but the kernel is not rank 1"):
        filter2d(np.zeros((4, 4)), "sharpen", separable=True)
    with pytest.raises(ValueError, match="separable must be 'auto', True or False, got 'yes'"):
        filter2d(np.zeros((4, 4)), "sobel_x", separable="yes")


@pytest.mark.parametrize("dtype,expected", [(np.uint8, np.float32), (np.uint16, np.float32), (np.int16, np.float32),
                                            (np.float16, np.float32), (np.float32, np.float32),
                                            (np.float64, np.float64), (np.int64, np.float64)])
def test_output_dtypes(dtype, expected):
    image = skdata.coins()[:20, :30].astype(dtype)
    out = filter2d(image, np.array([[0.25, 0.5, 0.25]], dtype=np.float64))  # float64 kernel: no upcast
    assert out.dtype == expected
    np.testing.assert_allclose(out, scipy_filter(image, np.array([[0.25, 0.5, 0.25]]), "zero", "correlate"),
                               rtol=1e-6 if expected == np.float32 else 1e-12)


def test_uint16_image_keeps_its_range():
    image = (skdata.camera()[:40, :50].astype(np.uint16) * 257)
    out = filter2d(image, "gaussian_blur", border="replicate")
    np.testing.assert_allclose(out, scipy_filter(image, get_kernel("gaussian_blur"), "replicate", "correlate"),
                               rtol=1e-6, atol=1e-2)
    assert out.max() > 255


def test_colour_is_filtered_per_channel():
    image = skdata.astronaut()[:64, :80]
    out = filter2d(image, "edge_laplacian", border="reflect")
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], filter2d(image[:, :, c], "edge_laplacian", border="reflect"))


def test_bands_and_workers_give_the_same_result(monkeypatch):
    image = skdata.astronaut()[:101, :77]
    k = np.random.default_rng(3).standard_normal((5, 4))
    expected = scipy_filter(image, k, "reflect", "correlate")
    monkeypatch.setattr(filtering, "BAND_ELEMENTS", 7 * 77 * 3)  # 7-row bands, a ragged last band
    results = [filter2d(image, k, border="reflect", workers=w) for w in (1, 2, 3, 16)]
    for r in results:
        np.testing.assert_array_equal(r, results[0])
    np.testing.assert_allclose(results[0], expected, rtol=1e-6, atol=1e-3)
    with pytest.raises(ValueError, match="workers must be a positive int, got 0"):
        filter2d(image, k, workers=0)


def test_scratch_memory_stays_small():
    """Band processing: beyond the float32 output, scratch is a few MB even though
    the image as float32 would be 24 MB."""
    image = np.random.default_rng(0).integers(0, 255, size=(2048, 1024, 3), dtype=np.uint8)
    out_bytes = image.size * 4
    for kernel in ("sharpen", "gaussian:15"):
        tracemalloc.start()
        try:
            filter2d(image, kernel, border="reflect101", workers=2)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak - out_bytes < 8 * 2 ** 20, f"{kernel}: scratch peak {(peak - out_bytes) / 2 ** 20:.1f} MB"


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros(5), ValueError, r"image must have shape \(H, W\) or \(H, W, C\), got shape \(5,\)"),
    (np.zeros((2, 2, 2, 2)), ValueError, r"got shape \(2, 2, 2, 2\)"),
    (np.zeros((0, 4)), ValueError, r"image must not be empty, got shape \(0, 4\)"),
    (np.zeros((3, 3), dtype=bool), TypeError, "image must be uint8, uint16 .* got dtype bool"),
    (np.zeros((3, 3), dtype=complex), TypeError, "got dtype complex128"),
    (np.array([[object()]]), TypeError, "image must be a numeric array"),
])
def test_bad_images(bad, exc, match):
    with pytest.raises(exc, match=match):
        filter2d(bad, "sharpen")


def test_bad_arguments():
    img = np.zeros((5, 5), dtype=np.uint8)
    with pytest.raises(ValueError, match="border must be one of 'zero', 'reflect'.*got 'constant'"):
        filter2d(img, "sharpen", border="constant")
    with pytest.raises(ValueError, match="mode must be 'correlate' or 'convolve', got 'conv'"):
        filter2d(img, "sharpen", mode="conv")
    with pytest.raises(ValueError, match="kernel must contain only finite numbers"):
        filter2d(img, [[1.0, np.inf]])
    with pytest.raises(ValueError, match="unknown kernel 'blur'"):
        filter2d(img, "blur")


# ------------------------------------------------------------------ display
def test_clip_and_normalize():
    r = np.array([[-3.2, 0.5, 1.5, 254.5, 255.5, 300.0]])
    np.testing.assert_array_equal(clip(r), [[0, 0, 2, 254, 255, 255]])  # half to even, like cv2 saturate_cast
    np.testing.assert_array_equal(clip(r), cv2.convertScaleAbs(np.maximum(r, 0)))
    assert clip(r).dtype == np.uint8 and clip(r, 0, 65535).dtype == np.uint16
    with pytest.raises(ValueError, match="clip: image contains NaN"):
        clip(np.array([np.nan]))
    n = normalize(np.array([[2.0, 4.0], [6.0, 10.0]]))
    np.testing.assert_allclose(n, [[0, 0.25], [0.5, 1.0]])
    assert n.dtype == np.float64 and normalize(np.array([1, 3], dtype=np.uint8)).dtype == np.float32
    np.testing.assert_array_equal(normalize(np.array([2.0, 4.0, 6.0]), np.uint8), [0, 128, 255])
    np.testing.assert_array_equal(normalize(np.full((2, 2), 7.0)), np.zeros((2, 2)))


def test_display_rule_and_to_display():
    assert display_rule(get_kernel("edge_laplacian")) == "abs"
    assert display_rule(get_kernel("edge_cross")) == "abs"
    assert display_rule(get_kernel("sobel_x")) == "abs"
    for name in ("identity", "sharpen", "box_blur", "gaussian_blur"):
        assert display_rule(get_kernel(name)) == "clip"
    r = filter2d(skdata.camera(), "edge_laplacian", border="reflect101")
    a = np.abs(r.astype(np.float64))
    p = np.percentile(a, 99.5)
    np.testing.assert_array_equal(to_display(r, "abs"), np.clip(np.rint(a * 255 / p), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(to_display(r, "abs", percentile=100),
                                  np.rint(a * 255 / a.max()).astype(np.uint8))
    np.testing.assert_array_equal(to_display(np.zeros((3, 3)), "abs"), np.zeros((3, 3), np.uint8))
    np.testing.assert_array_equal(to_display(r, "clip"), np.clip(np.rint(r), 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="display rule must be 'clip', 'abs' or 'normalize', got 'log'"):
        to_display(r, "log")
    with pytest.raises(ValueError, match="percentile must be in"):
        to_display(r, "abs", percentile=0)
