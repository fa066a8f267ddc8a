"""The GIF renderer of cnnkit.animate: valid GIFs (frame count, size, durations) and pixel
checks on the decoded GIF: the footprint, holes, the current cell, argmax, padding."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from cnnkit.animate import Animation, FrameData, animate, frame_data
from cnnkit.animate import palette as P
from cnnkit.animate.render import cell_box, fmt

Image = pytest.importorskip("PIL.Image")


def decoded(path_or_bytes) -> tuple[list[np.ndarray], list[int], object]:
    """RGB arrays of every frame as a GIF viewer shows them, their durations, and the image."""
    im = Image.open(io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes)
    frames, durations = [], []
    for i in range(im.n_frames):
        im.seek(i)
        frames.append(np.asarray(im.convert("RGB")))
        durations.append(im.info["duration"])
    return frames, durations, im


def outline(frame: np.ndarray, box) -> tuple:
    """The colour 2 px inside the left edge of a cell, halfway down (where outlines are drawn)."""
    x0, y0, x1, y1 = box
    return tuple(int(v) for v in frame[(y0 + y1) // 2, x0 + 2])


def test_gif_has_one_frame_per_output_cell_with_the_durations(tmp_path):
    anim = animate("conv2d", input_size=5, stride=2, padding=1, fps=4)
    path = tmp_path / "conv.gif"
    anim.save(path)
    frames, durations, im = decoded(path)
    assert len(frames) == len(anim.frames) == len(anim.data.frames) == 9
    assert {f.shape for f in frames} == {(anim.frames[0].size[1], anim.frames[0].size[0], 3)}
    assert durations == [250] * 8 + [1500] and im.info["loop"] == 0
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind
    # the decoded GIF shows what was drawn (the palette keeps every role colour exact)
    for got, drawn in zip(frames, anim.frames):
        assert np.abs(got.astype(int) - np.asarray(drawn).astype(int)).max() <= 60
        assert (np.abs(got.astype(int) - np.asarray(drawn).astype(int)).max(axis=2) > 0).mean() < 0.05


def test_footprint_and_current_cell_at_known_coordinates():
    data = frame_data("conv2d", input_size=5, stride=2, padding=1)
    frames, _, _ = decoded(Animation.draw(data).gif_bytes())
    # frame 1 computes y[0,1]: its window covers padded rows 0-2, columns 2-4 of the 7x7 drawing
    f = frames[1]
    for r in range(7):
        for c in range(7):
            inside = r <= 2 and 2 <= c <= 4
            assert (outline(f, cell_box(data, 0, 0, r, c)) == P.FOOTPRINT) == inside, (r, c)
    assert outline(f, cell_box(data, 2, 0, 0, 1)) == P.CURRENT          # output cell y[0,1]
    x0, y0, x1, y1 = cell_box(data, 2, 0, 0, 0)
    assert tuple(f[y0 + 6, x0 + 6]) == P.OUTPUT                          # y[0,0] is done
    x0, y0, x1, y1 = cell_box(data, 2, 0, 2, 2)
    assert tuple(f[y0 + 6, x0 + 6]) == P.WHITE                           # y[2,2] is still to come
    x0, y0, x1, y1 = cell_box(data, 0, 0, 6, 0)                          # a padding cell: hatched grey
    patch = f[y0 + 3:y1 - 3, x0 + 3:x1 - 3].reshape(-1, 3)
    assert {tuple(p) for p in patch} >= {P.PADDING, P.HATCH}
    x0, y0, x1, y1 = cell_box(data, 0, 0, 3, 3)                          # an input cell off the window
    assert tuple(f[y0 + 6, x0 + 6]) == P.INPUT
    # every kernel weight is outlined: all nine meet y[0,1]'s window (three on padding are not real terms)
    used = {tuple(t["kernel_index"][2:]) for t in data.frames[1]["terms"]}
    for r in range(3):
        for c in range(3):
            assert (outline(f, cell_box(data, 1, 0, r, c)) == P.FOOTPRINT) == ((r, c) in used)


def test_dilation_leaves_holes_inside_the_span():
    data = frame_data("conv1d", input_size=9, dilation=2)
    frames, _, _ = decoded(Animation.draw(data).gif_bytes())
    for i, f in enumerate(frames):
        for c in range(9):
            tap = c >= i and (c - i) % 2 == 0 and c <= i + 4
            assert (outline(f, cell_box(data, 0, 0, 0, c)) == P.FOOTPRINT) == tap, (i, c)
        x0, y0, x1, y1 = cell_box(data, 0, 0, 0, i + 1)  # the dashed span box passes above the hole
        assert P.FOOTPRINT in {tuple(p) for p in f[y0 - 4:y0, x0:x1].reshape(-1, 3)}


def test_max_pool_marks_the_first_maximum_and_backward_the_upstream_cell():
    x = [[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 4]]
    fwd = frame_data("max_pool2d", input=x, kernel_size=2)
    frames, _, _ = decoded(Animation.draw(fwd).gif_bytes())
    for f, frame in zip(frames, fwd.frames):
        _, r, c = frame["argmax"]
        x0, y0, _, _ = cell_box(fwd, 0, 0, r, c)
        assert tuple(f[y0 + 4, x0 + 4]) == P.CURRENT                     # the blue corner flag
    assert [fr["argmax"][1:] for fr in fwd.frames] == [[0, 1], [1, 2], [3, 0], [2, 3]]
    back = frame_data("max_pool2d", input=x, kernel_size=2, backward=True)
    frames, _, _ = decoded(Animation.draw(back).gif_bytes())
    # panels: input values, grad_input, grad_output; frame 2 sends dy[1,0] to x[3,0]
    assert outline(frames[2], cell_box(back, 2, 0, 1, 0)) == P.CURRENT
    x0, y0, _, _ = cell_box(back, 1, 0, 3, 0)
    assert tuple(frames[2][y0 + 4, x0 + 4]) == P.CURRENT
    x0, y0, x1, y1 = cell_box(back, 1, 0, 2, 0)                          # same window, not the max: no gradient
    assert tuple(frames[2][y0 + 6, x0 + 6]) != P.GRADIENT_NEW


def test_transposed_direct_view_draws_inserted_zeros_and_the_rotated_kernel():
    data = frame_data("conv_transpose2d", input_size=3, stride=2, padding=1, output_padding=1)
    assert data.params["direct_padding"] == [[1, 2], [1, 2]]   # conv_arithmetic issue #11: 2 at the bottom right
    frames, _, _ = decoded(Animation.draw(data).gif_bytes())
    f = frames[0]
    # panels: input x, zero-inserted + padded (8x8), rotated kernel, output
    x0, y0, x1, y1 = cell_box(data, 1, 0, 1, 1)          # x[0,0] at 1 + 0*2
    assert tuple(f[y0 + 6, x0 + 6]) == P.FOOTPRINT_FILL   # under the kernel in frame 0
    x0, y0, x1, y1 = cell_box(data, 1, 0, 3, 5)          # x[1,2] at (1 + 2, 1 + 4)
    assert tuple(f[y0 + 6, x0 + 6]) == P.INPUT
    x0, y0, x1, y1 = cell_box(data, 1, 0, 2, 4)          # an inserted zero: white, dotted outline
    assert tuple(f[y0 + 6, x0 + 6]) == P.WHITE
    assert tuple(f[y0, x0]) == P.GRID_LINE and tuple(f[y0, x0 + 2]) == P.WHITE
    x0, y0, x1, y1 = cell_box(data, 1, 0, 7, 7)          # padding: hatched
    assert P.HATCH in {tuple(p) for p in f[y0 + 2:y1 - 2, x0 + 2:x1 - 2].reshape(-1, 3)}
    assert len(frames) == 36


def test_scatter_view_has_one_frame_per_input_cell():
    data = frame_data("conv_transpose2d", input_size=2, stride=2, view="scatter")
    frames, _, _ = decoded(Animation.draw(data).gif_bytes())
    assert len(frames) == 4
    # frame 1: x[0,1] spreads onto output rows 0-2, columns 2-4
    for r in range(5):
        for c in range(5):
            assert (outline(frames[1], cell_box(data, 2, 0, r, c)) == P.FOOTPRINT) == (r <= 2 and c >= 2), (r, c)
    assert outline(frames[1], cell_box(data, 0, 0, 0, 1)) == P.CURRENT


def test_numbers_off_draws_the_same_cells_without_equations():
    on = animate("avg_pool1d", input_size=6, kernel_size=2)
    off = animate("avg_pool1d", input_size=6, kernel_size=2, numbers=False)
    assert len(on) == len(off) == 3
    assert off.frames[0].size[1] < on.frames[0].size[1]
    for anim, plain in ((on, False), (off, True)):  # input cell 5 is never under the window: no text drawn
        x0, y0, x1, y1 = cell_box(anim.data, 0, 0, 0, 5, numbers=not plain)
        interior = np.asarray(anim.frames[0])[y0 + 4:y1 - 4, x0 + 4:x1 - 4].reshape(-1, 3)
        assert (len({tuple(p) for p in interior}) == 1) == plain


def test_repr_html_embeds_the_gif_and_round_trip_draws_the_same():
    anim = animate("conv1d", input_size=5)
    html = anim._repr_html_()
    assert html.startswith('<img src="data:image/gif;base64,')
    b64 = html.split("base64,")[1].split('"')[0]
    assert base64.b64decode(b64) == anim.gif_bytes()
    again = Animation.draw(FrameData.from_dict(anim.data.to_dict()))
    assert again.gif_bytes() == anim.gif_bytes()


def test_save_needs_an_existing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        animate("conv1d", input_size=4).save(tmp_path / "missing" / "a.gif")
    with pytest.raises(ValueError, match="fps"):
        animate("conv1d", input_size=4, fps=0)
    with pytest.raises(TypeError, match="numbers"):
        animate("conv1d", input_size=4, numbers="yes")


@pytest.mark.parametrize("op,kw", [
    ("separable", dict(input_size=4, kernel=([1, 2, 1], [1, 0, -1]))),
    ("depthwise-separable", dict(input_size=4, channels=2, backward=True)),
    ("conv_transpose1d", dict(input_size=3, stride=2, padding=((0, 1),), backward=True)),
    ("avg_pool2d", dict(input_size=5, kernel_size=3, stride=2, padding=1, backward=True, ceil_mode=True)),
    ("conv2d", dict(input_size=(3, 5), kernel_size=(1, 3), channels=3, padding="same", backward=True)),
])
def test_every_kind_of_frame_renders(op, kw):
    anim = animate(op, **kw)
    assert len(anim) == len(anim.data.frames)
    assert len({f.size for f in anim.frames}) == 1
    assert anim.gif_bytes()[:6] == b"GIF89a"


def test_number_format():
    assert [fmt(v) for v in (3.0, -2.0, 0.25, 1 / 3, None, 10.5)] == ["3", "-2", "0.25", "0.33", "-inf", "10.5"]


def test_summary_displays_in_notebooks_too():
    import html as html_lib

    import cnnkit
    from cnnkit import nn
    s = cnnkit.summary(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), (1, 1, 8, 8))
    shown = s._repr_html_()
    assert shown.startswith("<pre>") and shown.endswith("</pre>")
    assert html_lib.unescape(shown[5:-6]) == str(s) and "Conv2d" in shown


def test_docstring_examples():
    import doctest

    import cnnkit.animate.animation
    import cnnkit.animate.frames
    for module in (cnnkit.animate.frames, cnnkit.animate.animation):
        result = doctest.testmod(module)
        assert result.attempted and not result.failed, module.__name__
