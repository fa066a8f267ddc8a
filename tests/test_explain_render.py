"""The explanation renderers: a few pixel and DOM checks (the numbers drawn are tested elsewhere)."""
from __future__ import annotations

import numpy as np
import pytest

from explain_twins import TokenSpans

from cnnkit.explain import render

pytest.importorskip("matplotlib")


def test_overlay_keeps_cold_pixels_and_colours_hot_ones():
    image = np.zeros((8, 8))
    image[2:6, 3] = 1.0  # a stroke
    heat = np.zeros((8, 8))
    heat[4, 3], heat[1, 1] = 2.0, -2.0
    out = render.overlay(image, heat, signed=True)
    assert out.shape == (8, 8, 3) and 0 <= out.min() and out.max() <= 1
    np.testing.assert_allclose(out[0, 0], [0.15] * 3)  # cold background: dimmed grey, no colour
    np.testing.assert_allclose(out[3, 3], [0.6] * 3)  # cold ink
    assert out[4, 3, 0] > 0.7 and out[4, 3, 2] < 0.3  # positive: red
    assert out[1, 1, 2] > 0.5 and out[1, 1, 0] < 0.2  # negative: blue
    cam = render.overlay(image, np.abs(heat), signed=False)
    assert cam[4, 3, 0] > 0.8 and cam[4, 3, 1] > 0.7  # the maximum: inferno's yellow


def test_token_colours_and_terminal_codes():
    colours = render.token_colours([0.0, 1.0, -0.5])
    np.testing.assert_allclose(colours[0], [1, 1, 1])  # no relevance: white
    np.testing.assert_allclose(colours[1], render.RED)  # the largest |r|: full red
    np.testing.assert_allclose(colours[2], 0.5 + 0.5 * render.BLUE)  # half way to blue
    line = render.ansi_sentence(["good", "film"], [1.0, 0.0])
    assert line == ("\x1b[48;2;214;38;41m\x1b[38;2;0;0;0mgood\x1b[0m "
                    "\x1b[48;2;255;255;255m\x1b[38;2;0;0;0mfilm\x1b[0m")


def test_html_sentence_escapes_and_carries_the_values():
    page = render.html_sentence(["<b>", "fine", "&"], [0.25, -1.0, 0.0], title="t <x>")
    parser = TokenSpans(page)
    assert [t for t, _ in parser.spans] == ["<b>", "fine", "&"]  # escaped in the page, text again after parsing
    assert [float(a["data-relevance"]) for _, a in parser.spans] == [0.25, -1.0, 0.0]
    assert parser.spans[1][1]["style"] == "background: rgb(33, 102, 171)"
    assert "<title>t &lt;x&gt;</title>" in page


def test_pictures_have_the_expected_size(tmp_path):
    from PIL import Image
    image = np.random.default_rng(0).random((32, 32))
    attr = np.random.default_rng(1).standard_normal((1, 32, 32))
    with Image.open(render.save_explanation(tmp_path / "a.png", image, attr, "saliency", "title")) as im:
        assert im.size == (840, 300)
    with Image.open(render.save_overview(tmp_path / "b.png", image, {"saliency": attr, "grad_cam": attr[0] ** 2})) as im:
        assert im.size == (570, 250)
    path = render.save_sentence_png(tmp_path / "c.png", ["very", "good"], [1.0, -1.0], "t")
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    red = (np.abs(rgb - 255 * render.RED).max(axis=2) < 8).sum()
    blue = (np.abs(rgb - 255 * render.BLUE).max(axis=2) < 8).sum()
    assert red > 100 and blue > 100  # one full-red and one full-blue word box
