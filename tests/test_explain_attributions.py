"""cnnkit.explain's pixel attributions, each against its definition computed independently:
saliency and input x gradient = PyTorch's input gradient on a twin with the same weights,
integrated gradients = the same Riemann sum in PyTorch and completeness within 1%,
occlusion = a direct loop here, Grad-CAM / Grad-CAM++ = PyTorch forward hooks and the
`grad-cam` package (pytorch-grad-cam). None of them may change the model."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from explain_twins import assert_untouched, digits, pretrained, snapshot, torch_lenet  # noqa: F401 (fixtures)
from helpers import torch

import cnnkit
from cnnkit import explain
from cnnkit.explain.cam import resize_linear
from cnnkit.explain.gradients import riemann_points
from cnnkit.models import lenet5

pytestmark = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")
TARGETS = np.array([7, 2, 1, 0, 4, 1, 4, 9])  # MNIST test labels 0..7 (the model predicts them all)


def _close(got, want, rtol=1e-4):
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale + 1e-7)


def torch_input_grad(twin, x, targets):
    xt = torch.tensor(x, requires_grad=True)
    twin(xt)[torch.arange(len(x)), torch.as_tensor(targets)].sum().backward()
    return xt.grad.numpy()


def test_saliency_is_torchs_input_gradient(pretrained, digits):
    _, x, labels = digits
    twin = torch_lenet(pretrained)
    got = explain.saliency(pretrained, x, labels)
    assert got.shape == x.shape and got.dtype == np.float32
    _close(got, torch_input_grad(twin, x, labels))
    # target=None explains the predicted class; an int explains that class for every sample
    np.testing.assert_array_equal(explain.saliency(pretrained, x), got)
    _close(explain.saliency(pretrained, cnnkit.tensor(x), 3), torch_input_grad(twin, x, [3] * 8))


def test_input_x_gradient(pretrained, digits):
    _, x, labels = digits
    _close(explain.input_x_gradient(pretrained, x, labels), x * torch_input_grad(torch_lenet(pretrained), x, labels))


@pytest.mark.parametrize("rule", ["left", "right", "middle", "trapezoid"])
def test_riemann_points(rule):
    a, w = riemann_points(8, rule)
    assert len(a) == 8 and np.isclose(w.sum(), 1.0)
    # each rule integrates a straight line exactly where it should (middle and trapezoid: any line)
    exact = {"left": 0.5 - 1 / 16, "right": 0.5 + 1 / 16, "middle": 0.5, "trapezoid": 0.5}[rule]
    assert np.isclose(a @ w, exact)


def test_integrated_gradients_against_torch_and_completeness(pretrained, digits):
    _, x, labels = digits
    x, labels = x[:4], labels[:4]
    twin = torch_lenet(pretrained)
    black = float(x[0, 0, 0, 0])  # the padding: a black pixel after normalisation
    steps = 64
    attr, delta = explain.integrated_gradients(pretrained, x, labels, baseline=black, steps=steps,
                                               batch_size=100, return_delta=True)
    # the same midpoint Riemann sum, in PyTorch (all path points in one batch)
    base = np.full_like(x, black)
    a = ((np.arange(steps) + 0.5) / steps).astype(np.float32)[:, None, None, None, None]
    points = (base + a * (x - base)).reshape(-1, *x.shape[1:])  # (steps * 4, 1, 32, 32), step-major
    grads = torch_input_grad(twin, points, np.tile(labels, steps)).reshape(steps, *x.shape)
    want = grads.astype(np.float64).mean(axis=0) * (x - base)
    _close(attr, want, 1e-3)
    with torch.no_grad():
        gap = (twin(torch.tensor(x)) - twin(torch.tensor(base))).numpy()[np.arange(4), labels]
    total = attr.reshape(4, -1).sum(axis=1)
    assert np.all(np.abs(total - gap) <= 0.01 * np.abs(gap)), (total, gap)  # completeness within 1%
    np.testing.assert_allclose(delta, total - gap, rtol=1e-3, atol=1e-4)
    # the default baseline is zeros
    zero, d0 = explain.integrated_gradients(pretrained, x[:1], labels[:1], steps=8, return_delta=True)
    with torch.no_grad():
        g0 = (twin(torch.tensor(x[:1])) - twin(torch.zeros_like(torch.tensor(x[:1])))).numpy()[0, labels[0]]
    assert np.isclose(zero.sum() - d0[0], g0, rtol=1e-4)


def naive_occlusion(twin, x, target, window, stride, baseline):
    """Captum's definition, by a plain loop: each window's drop of the target logit, averaged
    over the windows covering a pixel (the occluded inputs are evaluated in one batch)."""
    n, c, h, w = x.shape
    corners = [(top, left) for top in range(0, h - window + 1, stride) for left in range(0, w - window + 1, stride)]
    occluded = np.repeat(x, len(corners), axis=0)
    for k, (top, left) in enumerate(corners):
        occluded[k, :, top:top + window, left:left + window] = baseline
    with torch.no_grad():
        full = twin(torch.tensor(x))[0, target].item()
        drops = full - twin(torch.tensor(occluded))[:, target].numpy().astype(np.float64)
    total, count = np.zeros((h, w)), np.zeros((h, w))
    for (top, left), drop in zip(corners, drops):
        total[top:top + window, left:left + window] += drop
        count[top:top + window, left:left + window] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


@pytest.mark.parametrize("window, stride", [(4, 2), (5, 3), (3, 1)])
def test_occlusion_is_the_direct_loop(pretrained, digits, window, stride):
    _, x, labels = digits
    got = explain.occlusion(pretrained, x[1:2], int(labels[1]), window=window, stride=stride, baseline=-0.5)
    assert got.shape == (1, 1, 32, 32)
    _close(got[0, 0], naive_occlusion(torch_lenet(pretrained), x[1:2], int(labels[1]), window, stride, -0.5), 1e-4)


def torch_cam(twin, x, targets, layer, plus_plus=False):
    """Grad-CAM (++) from a forward hook on the twin's layer: A and dS/dA, then the paper's formula."""
    held = {}

    def hook(module, inputs, output):
        output.retain_grad()
        held["a"] = output

    handle = getattr(twin, layer).register_forward_hook(hook)
    try:
        out = twin(torch.tensor(x))
        out[torch.arange(len(x)), torch.as_tensor(targets)].sum().backward()
    finally:
        handle.remove()
    a, g = held["a"].detach().double(), held["a"].grad.double()
    if plus_plus:
        total = a.sum(dim=(2, 3), keepdim=True)
        alpha = g ** 2 / (2 * g ** 2 + total * g ** 3)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        w = (alpha * torch.relu(g)).sum(dim=(2, 3))
    else:
        w = g.mean(dim=(2, 3))
    return torch.relu((w[:, :, None, None] * a).sum(dim=1)).numpy()


@pytest.mark.parametrize("layer", ["conv2", "act2", "pool1"])
@pytest.mark.parametrize("plus_plus", [False, True])
def test_grad_cam_against_torch_hooks(pretrained, digits, layer, plus_plus):
    _, x, labels = digits
    f = explain.grad_cam_plus_plus if plus_plus else explain.grad_cam
    want = torch_cam(torch_lenet(pretrained), x, labels, layer, plus_plus)
    small = f(pretrained, x, labels, layer, upsample=False)
    assert small.shape == want.shape and small.dtype == np.float32
    _close(small, want, 2e-4)
    big = f(pretrained, x, labels, pretrained.get_submodule(layer), upsample=True)  # the module works as well
    assert big.shape == (8, 32, 32)
    ref = torch.nn.functional.interpolate(torch.tensor(want)[:, None], size=(32, 32), mode="bilinear",
                                          align_corners=False)[:, 0].numpy()
    _close(big, ref, 2e-4)


def test_grad_cam_default_layer_is_the_rectified_last_convolution(pretrained, digits):
    _, x, labels = digits
    np.testing.assert_array_equal(explain.grad_cam(pretrained, x[:2], labels[:2]),
                                  explain.grad_cam(pretrained, x[:2], labels[:2], "act2"))


@pytest.mark.parametrize("size_in, size_out", [((5,), (13,)), ((10, 10), (32, 32)), ((7, 4), (3, 9)),
                                               ((3, 4, 5), (6, 5, 10))])
def test_resize_linear_is_torch_interpolate(size_in, size_out):
    m = np.random.default_rng(0).standard_normal((2,) + size_in)
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size_in)]
    want = torch.nn.functional.interpolate(torch.tensor(m)[:, None], size=size_out, mode=mode,
                                           align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(resize_linear(m, size_out), want, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def pytorch_grad_cam():
    """The `grad-cam` package. Its ``__init__`` imports torchvision (for image utilities and
    detection targets that GradCAM's math does not use); torchvision on this machine is a
    broken CUDA build, so when ``import torchvision`` fails we put a minimal stand-in for the
    names it imports into ``sys.modules`` for the time of these tests."""
    try:
        import torchvision  # noqa: F401
        fake = False
    except Exception:  # the broken build raises RuntimeError, not ImportError
        fake = True
    with pytest.MonkeyPatch.context() as mp:
        if fake:
            for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
                mp.delitem(sys.modules, name)
            tv, transforms, functional, ops = (types.ModuleType(n) for n in (
                "torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops"))
            for name in ("Compose", "Normalize", "ToTensor"):
                setattr(transforms, name, object)
            functional.resize = None
            ops.box_iou = None
            tv.transforms, tv.ops, transforms.functional = transforms, ops, functional
            for mod in (tv, transforms, functional, ops):
                mp.setitem(sys.modules, mod.__name__, mod)
        try:
            import pytorch_grad_cam
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
        except ImportError as exc:
            pytest.skip(f"the grad-cam package is not installed ({exc}): pip install grad-cam")
        yield pytorch_grad_cam, ClassifierOutputTarget


def _scaled(cam):
    """pytorch-grad-cam's per-image scaling: ``(c - min) / (max + 1e-7)`` after subtracting the min."""
    c = cam - cam.min(axis=tuple(range(1, cam.ndim)), keepdims=True)
    return c / (1e-7 + c.max(axis=tuple(range(1, cam.ndim)), keepdims=True))


@pytest.mark.parametrize("layer", ["conv2", "act2"])
def test_grad_cam_equals_the_grad_cam_package(pretrained, digits, pytorch_grad_cam, layer):
    package, ClassifierOutputTarget = pytorch_grad_cam
    _, x, labels = digits
    twin = torch_lenet(pretrained)
    with package.GradCAM(model=twin, target_layers=[getattr(twin, layer)]) as cam:
        theirs = cam(input_tensor=torch.tensor(x), targets=[ClassifierOutputTarget(int(t)) for t in labels])
    # the package scales each map to [0, 1], resizes it with cv2 (bilinear, half-pixel) and scales again
    ours = _scaled(resize_linear(_scaled(explain.grad_cam(pretrained, x, labels, layer, upsample=False)), (32, 32)))
    assert theirs.shape == ours.shape == (8, 32, 32)
    np.testing.assert_allclose(ours, theirs, atol=2e-4)


def test_grad_cam_plus_plus_matches_the_package_up_to_its_epsilon(pretrained, digits, pytorch_grad_cam):
    package, ClassifierOutputTarget = pytorch_grad_cam
    _, x, labels = digits
    twin = torch_lenet(pretrained)
    with package.GradCAMPlusPlus(model=twin, target_layers=[twin.act2]) as cam:
        theirs = cam(input_tensor=torch.tensor(x), targets=[ClassifierOutputTarget(int(t)) for t in labels])
    ours = _scaled(resize_linear(_scaled(explain.grad_cam_plus_plus(pretrained, x, labels, "act2", upsample=False)),
                                 (32, 32)))
    # the package adds 1e-6 to the denominator of a_k (ours is the paper's eq. 19): on the rectified
    # maps of act2 that moves the scaled maps by at most 1e-3 (on conv2, whose maps have negative
    # values, denominators near 0 make both versions ill-conditioned, so they are not compared there)
    np.testing.assert_allclose(ours, theirs, atol=5e-3)


ALL = [("saliency", explain.saliency, {}), ("input_x_gradient", explain.input_x_gradient, {}),
       ("integrated_gradients", explain.integrated_gradients, {"steps": 4}),
       ("occlusion", explain.occlusion, {"window": 8, "stride": 8}),
       ("grad_cam", explain.grad_cam, {"layer": "conv2"}), ("grad_cam++", explain.grad_cam_plus_plus, {})]


@pytest.mark.parametrize("name, fn, kwargs", ALL, ids=[a[0] for a in ALL])
def test_the_model_is_left_untouched(name, fn, kwargs):
    cnnkit.manual_seed(1)
    model = lenet5().train()  # in training mode, one parameter frozen, one with a gradient already
    model.fc2.bias.requires_grad = False
    model.conv1.weight.grad = np.full(model.conv1.weight.shape, 0.5, np.float32)
    before = snapshot(model)
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    fn(model, x, [1, 2], **kwargs)
    assert_untouched(model, before)


def test_float64_in_float64_out(pretrained, digits):
    _, x, labels = digits
    model = lenet5(pretrained=True).double()
    got = explain.saliency(model, x[:2].astype(np.float64), labels[:2])
    assert got.dtype == np.float64
    _close(got, explain.saliency(pretrained, x[:2], labels[:2]).astype(np.float64), 1e-4)


def test_bad_arguments_say_what_is_wrong(pretrained, digits):
    _, x, _ = digits
    with pytest.raises(TypeError, match="input is float64 but the model's parameters are float32"):
        explain.saliency(pretrained, x.astype(np.float64))
    with pytest.raises(ValueError, match=r"shape \(N, C, \*S\)"):
        explain.saliency(pretrained, x[0, 0])
    with pytest.raises(TypeError, match="token_relevance"):
        explain.saliency(pretrained, np.zeros((1, 12), np.int64))
    with pytest.raises(ValueError, match="target 10 is not a class of the model"):
        explain.saliency(pretrained, x[:2], 10)
    with pytest.raises(ValueError, match=r"one class per sample \(shape \(2,\)\)"):
        explain.saliency(pretrained, x[:2], [1, 2, 3])
    with pytest.raises(ValueError, match="layer 'conv9' is not a submodule.*'conv2'"):
        explain.grad_cam(pretrained, x[:1], None, "conv9")
    with pytest.raises(ValueError, match="without spatial axes"):
        explain.grad_cam(pretrained, x[:1], None, "fc1")
    with pytest.raises(ValueError, match="window must be positive"):
        explain.occlusion(pretrained, x[:1], None, window=0)
    with pytest.raises(ValueError, match="rule must be one of"):
        explain.integrated_gradients(pretrained, x[:1], rule="simpson")
    with pytest.raises(ValueError, match="does not broadcast"):
        explain.integrated_gradients(pretrained, x[:1], baseline=np.zeros((3, 3)))
