"""Feature visualisation: the optimised unit's activation rises monotonically from its start,
the recorded activations are the unit's value on the pattern (checked in PyTorch), the
pattern changes only inside the unit's receptive field, and the depth grid's boxes are the
fields of LeNet-5 (5x5, 14x14, the whole input)."""
from __future__ import annotations

import numpy as np
import pytest

from explain_twins import assert_untouched, pretrained, snapshot, torch_lenet  # noqa: F401 (fixture)
from helpers import torch

from cnnkit.explain import depth_grid, visualize_unit

pytestmark = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")
RANGE = (-0.4242, 2.8215)  # black and white after LeNet-5's normalisation


def torch_unit(twin, pattern, layer, channel, position):
    held = {}
    handle = getattr(twin, layer).register_forward_hook(lambda m, i, o: held.setdefault("a", o))
    try:
        with torch.no_grad():
            twin(torch.tensor(pattern[None]))
    finally:
        handle.remove()
    a = held["a"][0, channel]
    if position == "mean":
        return float(a.mean())
    return float(a[position] if position is not None else a)


@pytest.mark.parametrize("layer, channel, kwargs, gain", [
    ("conv1", 2, dict(jitter=0, l2=0.0, blur_every=0), 1.0),     # plain normalised gradient ascent
    ("conv2", 5, dict(jitter=0, l2=0.0, blur_every=0), 1.0),
    ("conv2", 11, dict(), 1.0),                                  # with jitter, L2 and blur (the defaults)
    ("fc3", 4, dict(), 1.0),                                     # a logit: no spatial position
    ("conv2", 0, dict(position="mean"), 0.2),                    # the channel mean (100 units) rises slower
])
def test_activation_rises_monotonically_and_is_the_units_value(pretrained, layer, channel, kwargs, gain):
    twin = torch_lenet(pretrained)
    start = np.random.default_rng(3).normal(0, 0.1, (1, 32, 32)).astype(np.float32)
    before = snapshot(pretrained)
    u = visualize_unit(pretrained, layer, channel, steps=40, lr=0.05, start=start, value_range=RANGE, **kwargs)
    assert_untouched(pretrained, before)
    assert u.pattern.shape == (1, 32, 32) and u.pattern.dtype == np.float32 and len(u.activations) == 41
    assert np.all(np.diff(u.activations) >= 0), np.diff(u.activations).min()
    assert u.final > u.start + gain, (u.start, u.final)
    position = kwargs.get("position", "centre")
    pos = None if layer == "fc3" else ("mean" if position == "mean" else u.position)
    assert u.position == (None if pos in (None, "mean") else {"conv1": (14, 14), "conv2": (5, 5)}[layer])
    assert np.isclose(u.start, torch_unit(twin, start, layer, channel, pos), rtol=1e-5, atol=1e-5)
    assert np.isclose(u.final, torch_unit(twin, u.pattern, layer, channel, pos), rtol=1e-5, atol=1e-4)
    assert u.pattern.min() >= RANGE[0] - 1e-6 and u.pattern.max() <= RANGE[1] + 1e-6


def test_the_pattern_changes_only_inside_the_receptive_field(pretrained):
    grid = depth_grid(pretrained, ["conv1", "conv2", "fc3"], (1, 32, 32), channels=1, steps=6, lr=0.05,
                      jitter=0, l2=0.0, blur_every=0, value_range=RANGE, seed=1)
    assert [layer.field_size for layer in grid.layers] == [(5, 5), (14, 14), None]
    boxes = [layer.units[0].box for layer in grid.layers]
    # conv1 unit (14, 14) reads pixels 14..18; conv2 unit (5, 5) reads 10..23 (stride-2 grid, 14-pixel field)
    assert boxes == [((14, 18), (14, 18)), ((10, 23), (10, 23)), ((0, 31), (0, 31))]
    start = np.random.default_rng(1).normal(0, 0.1, (1, 32, 32)).astype(np.float32)
    for layer in grid.layers[:2]:
        u = layer.units[0]
        (r0, r1), (c0, c1) = u.box
        outside = np.ones((32, 32), bool)
        outside[r0:r1 + 1, c0:c1 + 1] = False
        np.testing.assert_array_equal(u.pattern[0][outside], start[0][outside])  # no gradient reaches there
        assert not np.array_equal(u.pattern[0][~outside], start[0][~outside])


def test_depth_grid_picture(pretrained, tmp_path):
    from PIL import Image

    from cnnkit.explain.render import save_depth_grid
    grid = depth_grid(pretrained, ["conv1", "fc3"], (1, 32, 32), channels=3, steps=3, value_range=RANGE)
    path = save_depth_grid(tmp_path / "depth.png", grid, "test")
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    assert red.sum() > 20  # conv1's field boxes are drawn; fc3 sees the whole input and gets none
    assert rgb.shape[1] == 910  # ten 0.8-inch tiles with 0.1-inch gaps, at 100 dpi


def test_visualize_arguments(pretrained):
    with pytest.raises(ValueError, match="channel 6 is out of range"):
        visualize_unit(pretrained, "conv1", 6, steps=1, input_shape=(1, 32, 32))
    with pytest.raises(ValueError, match="input_shape"):
        visualize_unit(pretrained, "conv1", 0, steps=1)
    with pytest.raises(ValueError, match="position"):
        visualize_unit(pretrained, "conv1", 0, steps=1, input_shape=(1, 32, 32), position=(40, 0))
