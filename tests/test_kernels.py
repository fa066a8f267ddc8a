"""The classic kernels, the registry and separability (oracles: the seed's table,
OpenCV's getGaussianKernel, scipy.ndimage's sobel/prewitt/laplace)."""
from __future__ import annotations

import numpy as np
import pytest

from cnnkit.filtering import filter2d
from cnnkit.kernels import (KERNELS, SEED_KERNELS, as_kernel, box, describe, format_kernel, gaussian,
                            gaussian_1d, get_kernel, kernel_names, separate)

from helpers import optional

cv2 = optional("cv2")
ndi = optional("scipy.ndimage")
skdata = optional("skimage.data")

# The seed's table (卷积作用 / 卷积核), transcribed from the spec, in its order.
SEED_TABLE = [
    ("identity", "输出原图", [[0, 0, 0], [0, 1, 0], [0, 0, 0]], 1),
    ("edge_cross", "边缘检测（突出边缘差异）", [[1, 0, -1], [0, 0, 0], [-1, 0, 1]], 1),
    ("edge_laplacian", "边缘检测（突出中间值）", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1),
    ("sharpen", "图像锐化", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], 1),
    ("box_blur", "方块模糊", [[1, 1, 1], [1, 1, 1], [1, 1, 1]], 9),
    ("gaussian_blur", "高斯模糊", [[1, 2, 1], [2, 4, 2], [1, 2, 1]], 16),
]


def test_seed_kernels_match_the_seed_table_in_order():
    assert SEED_KERNELS == tuple(name for name, *_ in SEED_TABLE)
    for name, label, matrix, denominator in SEED_TABLE:
        info = KERNELS[name]
        np.testing.assert_array_equal(info.matrix * denominator, np.array(matrix, dtype=float), err_msg=name)
        assert info.seed_label == label
        assert info.description


def test_registry_entries_are_wellformed():
    assert set(kernel_names()) >= {"sobel_x", "sobel_y", "prewitt_x", "prewitt_y", "laplacian", *SEED_KERNELS}
    matrix, description, label = KERNELS["sharpen"]  # a (matrix, description, seed label) tuple
    assert label == "图像锐化" and description == KERNELS["sharpen"].description
    for name, info in KERNELS.items():
        assert info.matrix.ndim == 2 and info.matrix.dtype == np.float64, name
        assert isinstance(info.description, str) and len(info.description) > 5, name
        assert "\n" not in info.description
        if name not in SEED_KERNELS:
            assert info.seed_label is None


def test_get_kernel_returns_a_fresh_copy():
    k = get_kernel("sharpen")
    k[1, 1] = 100
    assert get_kernel("sharpen")[1, 1] == 5
    assert not KERNELS["sharpen"].matrix.flags.writeable


def test_unknown_kernel_error_lists_the_names():
    with pytest.raises(ValueError, match=r"unknown kernel 'sobel'.*identity.*sobel_x.*laplacian.*gaussian:SIZE"):
        get_kernel("sobel")
    with pytest.raises(TypeError, match="kernel name must be a str"):
        get_kernel(3)


@pytest.mark.parametrize("size,sigma", [(1, None), (3, None), (5, None), (7, None), (9, None), (7, 1.5),
                                        (15, 2.5), (1, 1.0), (31, None)])
def test_gaussian_matches_opencv(size, sigma):
    g1 = cv2.getGaussianKernel(size, -1 if sigma is None else sigma, ktype=cv2.CV_64F)[:, 0]
    np.testing.assert_allclose(gaussian_1d(size, sigma), g1, rtol=1e-12, atol=1e-15)
    g2 = gaussian(size, sigma)
    np.testing.assert_allclose(g2, np.outer(g1, g1), rtol=1e-12, atol=1e-15)
    assert abs(g2.sum() - 1) < 1e-12
    np.testing.assert_allclose(get_kernel(f"gaussian:{size}" + ("" if sigma is None else f":{sigma}")), g2)


@pytest.mark.parametrize("size", [4, 0, -3])
def test_gaussian_needs_an_odd_positive_size(size):
    with pytest.raises(ValueError, match=f"gaussian: size must be an odd positive int.*got {size}"):
        gaussian(size, 1.0)


@pytest.mark.parametrize("bad", [2.5, True, "3"])
def test_gaussian_size_type(bad):
    with pytest.raises(TypeError, match="gaussian: size must be an odd positive int"):
        gaussian(bad)


@pytest.mark.parametrize("sigma", [0, -1.0, float("nan"), float("inf")])
def test_gaussian_sigma_positive(sigma):
    with pytest.raises(ValueError, match="gaussian: sigma must be a finite positive number"):
        gaussian(5, sigma)


def test_kernel_factories_refuse_absurd_sizes():
    """Issue 10: gaussian:30001 used to allocate a 7 GB kernel before anything else."""
    from cnnkit.kernels import MAX_KERNEL_SIZE

    assert gaussian(MAX_KERNEL_SIZE).shape == (MAX_KERNEL_SIZE, MAX_KERNEL_SIZE)
    for call, match in [(lambda: get_kernel("gaussian:30001"), r"gaussian: size 30001 is too large: at most 1025"),
                        (lambda: get_kernel("box:40000"), r"box: size 40000 is too large: at most 1025 .*12.8 GB"),
                        (lambda: box(MAX_KERNEL_SIZE + 1), "box: size 1026 is too large"),
                        (lambda: get_kernel("gaussian:" + "9" * 12), "unknown kernel")]:
        with pytest.raises(ValueError, match=match):
            call()


def test_box_and_parametric_names():
    for size in (1, 2, 3, 4, 7):
        np.testing.assert_array_equal(box(size), np.full((size, size), 1 / size ** 2))
        np.testing.assert_array_equal(get_kernel(f"box:{size}"), box(size))
    with pytest.raises(ValueError, match="box: size must be a positive int, got 0"):
        box(0)
    with pytest.raises(ValueError, match=r"box takes one parameter"):
        get_kernel("box:3:1")
    with pytest.raises(ValueError, match="gaussian: size must be an odd"):
        get_kernel("gaussian:4")
    assert "5x5 normalised Gaussian" in describe("gaussian:5")
    assert describe("sharpen") == KERNELS["sharpen"].description


@pytest.mark.parametrize("border,scipy_mode", [("reflect", "reflect"), ("reflect101", "mirror"),
                                               ("replicate", "nearest"), ("wrap", "wrap"), ("zero", "constant")])
def test_derivative_kernels_match_scipy_ndimage_operators(border, scipy_mode):
    """Our correlation-form Sobel / Prewitt / Laplacian equal scipy's operators
    (built independently from 1-D correlations)."""
    img = skdata.camera()[100:228, 150:310].astype(np.float64)
    cases = {
        "sobel_x": ndi.sobel(img, axis=1, mode=scipy_mode),
        "sobel_y": ndi.sobel(img, axis=0, mode=scipy_mode),
        "prewitt_x": ndi.prewitt(img, axis=1, mode=scipy_mode),
        "prewitt_y": ndi.prewitt(img, axis=0, mode=scipy_mode),
        "laplacian": ndi.laplace(img, mode=scipy_mode),
    }
    for name, expected in cases.items():
        np.testing.assert_allclose(filter2d(img, name, border=border), expected, rtol=1e-12, atol=1e-9,
                                   err_msg=f"{name} border={border}")


def test_sobel_and_laplacian_match_opencv_operators():
    img = skdata.coins()
    b = cv2.BORDER_REFLECT_101
    np.testing.assert_allclose(filter2d(img, "sobel_x", border="reflect101"),
                               cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, borderType=b), atol=1e-4)
    np.testing.assert_allclose(filter2d(img, "sobel_y", border="reflect101"),
                               cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, borderType=b), atol=1e-4)
    np.testing.assert_allclose(filter2d(img, "laplacian", border="reflect101"),
                               cv2.Laplacian(img, cv2.CV_32F, ksize=1, borderType=b), atol=1e-4)


# ------------------------------------------------------------------ separability
def _check_factors(kernel, factors, atol=1e-12):
    assert factors is not None
    column, row = factors
    assert column.shape == (kernel.shape[0],) and row.shape == (kernel.shape[1],)
    np.testing.assert_allclose(np.outer(column, row), kernel, rtol=0, atol=atol)
    i = int(np.argmax(np.abs(column)))
    assert column[i] > 0, "convention: the largest |entry| of the column is positive"


def test_separate_sobel_gives_the_seed_vectors():
    """The seed: Sobel = [1, 2, 1]^T times [1, 0, -1] (its convolution form); ours is
    the correlation form, so the row is [-1, 0, 1]: the same vector up to sign."""
    column, row = separate(get_kernel("sobel_x"))
    np.testing.assert_array_equal(column, [1, 2, 1])
    np.testing.assert_array_equal(row, [-1, 0, 1])
    np.testing.assert_array_equal(-row, [1, 0, -1])
    column, row = separate(get_kernel("sobel_y"))
    _check_factors(get_kernel("sobel_y"), (column, row))
    assert set(np.abs(column)) == {0, 1} and set(np.abs(row)) == {1, 2}


@pytest.mark.parametrize("name,column,row", [
    ("gaussian_blur", [1, 2, 1], np.array([1, 2, 1]) / 16),
    ("box_blur", [1, 1, 1], np.ones(3) / 9),
    ("identity", [0, 1, 0], [0, 1, 0]),
    ("prewitt_x", [1, 1, 1], [-1, 0, 1]),
    ("edge_cross", [1, 0, -1], [1, 0, -1]),  # the seed's cross kernel is rank 1 too
    ("box:4", [1, 1, 1, 1], np.ones(4) / 16),
])
def test_separate_integer_convention(name, column, row):
    k = get_kernel(name)
    c, r = separate(k)
    np.testing.assert_allclose(c, column, rtol=0, atol=1e-15)
    np.testing.assert_allclose(r, row, rtol=1e-15, atol=1e-15)
    _check_factors(k, (c, r))


def test_gaussian_3_is_the_seed_gaussian_blur():
    np.testing.assert_array_equal(gaussian(3), get_kernel("gaussian_blur"))


@pytest.mark.parametrize("size,sigma", [(11, None), (15, 2.5), (9, 0.7)])
def test_separate_gaussian_gives_its_1d_gaussian_twice(size, sigma):
    k = gaussian(size, sigma)
    column, row = separate(k)
    g = gaussian_1d(size, sigma)
    np.testing.assert_allclose(column, g, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(row, g, rtol=1e-10, atol=1e-14)
    _check_factors(k, (column, row), atol=1e-15)


@pytest.mark.parametrize("name", ["laplacian", "sharpen", "edge_laplacian"])
def test_separate_returns_none_for_rank_above_one(name):
    assert separate(get_kernel(name)) is None


def test_separate_random_rank_one_and_tolerance(rng):
    for shape in [(3, 3), (2, 5), (6, 1), (1, 4), (7, 7)]:
        k = np.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1]))
        _check_factors(k, separate(k), atol=1e-12 * np.abs(k).max())
        k32 = k.astype(np.float32)
        _check_factors(k32.astype(np.float64), separate(k32), atol=1e-6 * np.abs(k).max())
    noisy = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0]) + 1e-3 * rng.standard_normal((3, 3))
    assert separate(noisy) is None
    loose = separate(noisy, tol=1e-2)
    assert loose is not None
    np.testing.assert_allclose(np.outer(*loose), noisy, atol=1e-2 * 2)
    assert separate(np.zeros((3, 3))) is None
    with pytest.raises(ValueError, match="tol must be a non-negative number"):
        separate(get_kernel("sobel_x"), tol=-1)


@pytest.mark.parametrize("bad,exc,match", [
    (np.ones(3), ValueError, r"kernel must be a non-empty 2-D matrix \(kh, kw\), got shape \(3,\)"),
    (np.ones((2, 2, 2)), ValueError, r"got shape \(2, 2, 2\)"),
    (np.ones((0, 3)), ValueError, r"got shape \(0, 3\)"),
    ([[1, float("nan")]], ValueError, "kernel must contain only finite numbers"),
    ([[True, False]], TypeError, "kernel must be a 2-D array of real numbers, got dtype bool"),
    ([[1j, 0]], TypeError, "got dtype complex128"),
    ([["a", "b"]], TypeError, "kernel must be a 2-D array of real numbers"),
])
def test_as_kernel_rejects_bad_kernels(bad, exc, match):
    with pytest.raises(exc, match=match):
        as_kernel(bad)


def test_format_kernel():
    assert format_kernel(get_kernel("box_blur")).splitlines() == ["1/9 x", "[ 1  1  1 ]", "[ 1  1  1 ]", "[ 1  1  1 ]"]
    assert format_kernel(get_kernel("sharpen")).splitlines()[1] == "[ -1   5  -1 ]"
    assert format_kernel(get_kernel("gaussian_blur")).splitlines()[0] == "1/16 x"
    text = format_kernel(gaussian(3, 1.0))
    assert "0.0751" in text and "x" not in text
