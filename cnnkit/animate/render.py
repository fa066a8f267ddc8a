"""Pillow renderer: one RGB image per frame of a :class:`~cnnkit.animate.frames.FrameData`.

Every number drawn is read from the frame data (cnnkit's own results); this module
only decides where cells go. A frame is a row of labelled *panels* (input, kernel,
output, gradients), each a grid of cells per channel, under a header (the
configuration, the output-size formula, notes, a legend) and above the frame's
equation (the products and their sum, or where the gradient goes).

Drawing conventions (after Dumoulin & Visin's figures, made unambiguous): padding is
hatched grey, zeros inserted by a strided transposed convolution have a dotted
outline, the kernel footprint is outlined in orange with the weight in each cell's
corner (the holes of a dilated kernel stay unmarked inside a dashed span box), the
kernel cells that meet real input are outlined too, the cell being computed is
outlined in blue, and every grid says in words what it is. Colours:
:mod:`cnnkit.animate.palette`. 1-D arrays are drawn as one row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._core.pool import window_pads
from .._optional import require
from ..sheet import _font, _wrap
from . import palette as P
from .frames import FrameData

MAX_WIDTH = 1180   # frames wider than this get smaller cells
MIN_CELL, MAX_CELL = 20, 40
GAP = 40           # between panels (room for an arrow)
MARGIN = 20


# ------------------------------------------------------------------ numbers
def fmt(v) -> str:
    """A cell's number: integers plain, others with at most 2 decimals; ``None`` (non-finite) as ``-inf``."""
    if v is None:
        return "-inf"
    v = float(v)
    if v.is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _factor(v) -> str:
    s = fmt(v)
    return f"({s})" if s.startswith("-") else s


def _signed(v) -> str:
    return ("+" if float(v) >= 0 else "") + fmt(v)


def _index(idx, channels: int) -> str:
    """``[i,j]``; the channel comes first when there are several."""
    idx = list(idx)
    return "[" + ",".join(str(i) for i in (idx if channels > 1 else idx[1:])) + "]"


def _two_d(seq, fill=1) -> tuple:
    return (fill,) + tuple(seq) if len(seq) == 1 else tuple(seq)


def _as3(a) -> np.ndarray:
    """``(C, *S)`` nested list -> float array ``(C, R, Cols)`` (1-D as one row); None -> nan."""
    shape = np.shape(a)
    flat = np.array([np.nan if v is None else v for v in np.ravel(np.asarray(a, dtype=object))], dtype=np.float64)
    return flat.reshape((shape[0],) + _two_d(shape[1:]))


def _size(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def _mix(a, b, t=0.5):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


WEIGHT_INK = _mix(P.ORANGE, P.INK)           # weights in the corner of footprint cells
GRADIENT_INK = _mix(P.REDDISH_PURPLE, P.INK, 0.6)


# ------------------------------------------------------------------ geometry
@dataclass
class Canvas:
    """The drawn cells of one array, 2-D: ``lo``/``hi`` extra cells per axis (padding, or a
    cropped border), real cells every ``step`` (zero insertion). Array position ``u``
    is drawn at cell ``lo + u * step``."""

    shape: tuple
    lo: tuple = (0, 0)
    hi: tuple = (0, 0)
    step: tuple = (1, 1)
    outside: str = "pad"  # pad | crop

    @property
    def size(self) -> tuple:
        return tuple(lo + (n - 1) * s + 1 + hi for n, lo, hi, s in zip(self.shape, self.lo, self.hi, self.step))

    def locate(self, cell) -> tuple[str, tuple | None]:
        """``("real", position)``, ``("inserted", None)`` or ``(outside, None)``."""
        pos, kind = [], "real"
        for c, n, lo, s in zip(cell, self.shape, self.lo, self.step):
            u = c - lo
            if u < 0 or u > (n - 1) * s:
                return self.outside, None
            if u % s:
                kind = "inserted"
            pos.append(u // s)
        return (kind, tuple(pos)) if kind == "real" else (kind, None)

    def cell(self, pos) -> tuple:
        return tuple(lo + u * s for u, lo, s in zip(_two_d(pos, 0), self.lo, self.step))

    def inside(self, cell) -> bool:
        return all(0 <= c < n for c, n in zip(cell, self.size))

    @property
    def has_outside(self) -> bool:
        return any(self.lo) or any(self.hi)


@dataclass
class Cell:
    text: str = ""
    fill: tuple = P.WHITE
    style: str = "real"  # real | pad | inserted | crop | blank
    small: str = ""
    small_colour: tuple = P.INK
    marks: tuple = ()  # "footprint", "current", "argmax"


@dataclass
class Panel:
    title: str
    canvas: Canvas
    channels: int
    labels: list = field(default_factory=list)  # per channel
    rulers: bool = True
    arrow: str = ""  # "right" / "left": an arrow to the next panel


@dataclass
class FrameState:
    cells: list  # per panel: per channel: rows of Cell
    boxes: list  # dashed span boxes: (panel, channel, (r0, c0), (r1, c1))
    text: str


def _channel_labels(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)] if n > 1 else []


def _array_panel(title: str, shape: tuple, canvas: Canvas, arrow: str = "") -> Panel:
    """A panel for an array ``(C, *S)``; the title says its size (and the drawn size)."""
    size = _size(shape[1:])
    drawn = _size(canvas.size if len(shape) > 2 else canvas.size[1:])
    extra = f" (drawn {drawn})" if drawn != size and canvas.outside == "pad" else ""
    return Panel(f"{title}  {size}{extra}", canvas, shape[0], _channel_labels(shape[0]), arrow=arrow)


def _fill(cells, panel: Panel, values: np.ndarray | None, fill, visible=None) -> None:
    """Write ``values (C, R, Cols)`` into a panel's cells; ``visible(c, pos)`` may hide some."""
    rows, cols = panel.canvas.size
    for c in range(panel.channels):
        for r in range(rows):
            for q in range(cols):
                kind, pos = panel.canvas.locate((r, q))
                cell = cells[c][r][q]
                cell.style = kind
                if kind == "real":
                    shown = values is not None and (visible is None or visible(c, pos))
                    cell.text = fmt(values[(c,) + pos]) if shown else ""
                    cell.fill = fill if shown else P.WHITE
                elif kind == "inserted":
                    cell.text, cell.fill = "0", P.INSERTED
                else:
                    cell.fill = P.PADDING


def _read_canvas(stage: dict, shape2) -> Canvas:
    """The canvas a stage reads: its input and padding (pools: as far as the windows reach;
    transposed: zero-inserted and padded, its direct form)."""
    p = stage["params"]
    if stage["kind"] == "transposed":
        dp = _two_d([tuple(v) for v in p["direct_padding"]], (0, 0))
        return Canvas(shape2, tuple(lo for lo, _ in dp), tuple(hi for _, hi in dp), _two_d(p["stride"]))
    pads = [tuple(v) for v in p["padding"]]
    if stage["kind"] in ("max_pool", "avg_pool"):
        pads = window_pads(np.shape(stage["input"])[1:], p["kernel_size"], p["stride"], [lo for lo, _ in pads],
                           p["dilation"], np.shape(stage["output"])[1:])
    pads = _two_d(pads, (0, 0))
    return Canvas(shape2, tuple(lo for lo, _ in pads), tuple(hi for _, hi in pads))


def _window_cells(stage: dict, out_pos) -> list[tuple[tuple, tuple]]:
    """``(canvas cell, displayed kernel offset)`` for every tap of output position ``out_pos``
    on the canvas the stage reads (transposed: the zero-inserted one, stride 1)."""
    p = stage["params"]
    K = _two_d(p["kernel_size"])
    stride = (1, 1) if stage["kind"] == "transposed" else _two_d(p["stride"])
    dil = _two_d(p["dilation"])
    pos = _two_d(out_pos, 0)
    return [((pos[0] * stride[0] + a * dil[0], pos[1] * stride[1] + b * dil[1]), (a, b))
            for a in range(K[0]) for b in range(K[1])]


def _read_channels(stage: dict, o: int) -> list[int]:
    """Input channels that output channel ``o`` reads."""
    if stage["kind"] in ("max_pool", "avg_pool"):
        return [o]
    c_in, c_out = np.shape(stage["input"])[0], np.shape(stage["output"])[0]
    g = stage["params"].get("groups", 1)
    group = o // (c_out // g)
    return list(range(group * (c_in // g), (group + 1) * (c_in // g)))


def _kernel_index(stage: dict, o: int, c: int, k2) -> tuple:
    """Index into the weight of output channel ``o``, input channel ``c`` at displayed kernel
    offset ``k2`` (transposed direct form: the kernel is drawn rotated 180 degrees)."""
    p = stage["params"]
    n = len(p["kernel_size"])
    k = tuple(k2[-n:])
    g = p.get("groups", 1)
    c_in, c_out = np.shape(stage["input"])[0], np.shape(stage["output"])[0]
    if stage["kind"] == "transposed":
        k = tuple(kk - 1 - v for kk, v in zip(p["kernel_size"], k))
        return (c, o - (c // (c_in // g)) * (c_out // g)) + k
    return (o, c - (c // (c_in // g)) * (c_in // g)) + k


# ------------------------------------------------------------- kernel panels
@dataclass
class KernelView:
    """A kernel drawn as one grid per ``(dim0, dim1)`` slice, or as an ``out x in`` matrix (1x1 kernels)."""

    panel: Panel
    grids: np.ndarray  # (G, R, Cols) as drawn
    matrix: bool
    rotate: bool
    lead: tuple  # the weight's first two dims

    def slot(self, kidx) -> tuple:
        """``(grid, row, col)`` where weight index ``kidx`` is drawn."""
        a, b, *k = kidx
        if self.matrix:
            return (0, a, b)
        k2 = _two_d(k, 0)
        if self.rotate:
            K = self.grids.shape[1:]
            k2 = (K[0] - 1 - k2[0], K[1] - 1 - k2[1])
        return (a * self.lead[1] + b,) + k2


def _kernel_view(stage: dict, title: str, rotate: bool = False, arrow: str = "") -> KernelView:
    w = np.asarray(stage["kernel"], dtype=np.float64)
    K = stage["params"]["kernel_size"]
    lead = w.shape[:2]
    if math.prod(K) == 1 and max(lead) > 1:
        mat = w.reshape(lead)[None]
        panel = Panel(f"{title}  {_size(lead)} (rows: out, columns: in)", Canvas(lead), 1, arrow=arrow)
        return KernelView(panel, mat, True, False, lead)
    if rotate:
        w = w[(Ellipsis,) + (slice(None, None, -1),) * (w.ndim - 2)]
    grids = w.reshape((-1,) + _two_d(K))
    labels = []
    if grids.shape[0] > 1:
        labels = ([f"c{i}" for i in range(grids.shape[0])] if min(lead) == 1
                  else [f"{i // lead[1]},{i % lead[1]}" for i in range(grids.shape[0])])
    title = f"{title}{' rotated 180 deg' if rotate else ''}  {_size(K)}"
    return KernelView(Panel(title, Canvas(grids.shape[1:]), grids.shape[0], labels, rulers=False, arrow=arrow),
                      grids, False, rotate, lead)


def _fill_kernel(cells, view: KernelView, used=()) -> None:
    """Weights into a kernel panel; the slots in ``used`` get the footprint outline."""
    used = set(used)
    for g in range(view.grids.shape[0]):
        for r in range(view.grids.shape[1]):
            for q in range(view.grids.shape[2]):
                cell = cells[g][r][q]
                cell.style, cell.text, cell.fill = "real", fmt(view.grids[g, r, q]), P.KERNEL
                cell.marks = ("footprint",) if (g, r, q) in used else ()


# ------------------------------------------------------------------- texts
def _forward_text(stage: dict, frame: dict, c_in: int, c_out: int, src: str, dst: str) -> str:
    x = np.asarray(stage["input"], dtype=np.float64)
    head = f"{dst}{_index(frame['output_index'], c_out)}"
    value, terms, kind = fmt(frame["value"]), frame["terms"], stage["kind"]
    taps = math.prod(stage["params"]["kernel_size"]) * len(_read_channels(stage, frame["output_index"][0]))
    if kind == "max_pool":
        vals = ", ".join(fmt(x[tuple(t["input_index"])]) for t in terms)
        pad = ", -inf (padding)" if len(terms) < taps else ""
        if pad and not any(lo for lo, _ in stage["params"]["padding"]) and not any(hi for _, hi in stage["params"]["padding"]):
            pad = ", -inf (past the edge)"
        return f"{head} = max({vals}{pad}) = {value}, its first maximum is {src}{_index(frame['argmax'], c_in)}"
    if kind == "avg_pool":
        vals = " + ".join(fmt(x[tuple(t["input_index"])]) for t in terms) or "0"
        extra = int(frame["divisor"]) - len(terms)
        note = f"  (the divisor counts {extra} padding cell{'s' if extra != 1 else ''})" if extra > 0 else ""
        return f"{head} = ({vals}) / {fmt(frame['divisor'])} = {value}{note}"
    w = np.asarray(stage["kernel"], dtype=np.float64)
    by_channel: dict[int, list[str]] = {}
    for t in terms:
        by_channel.setdefault(t["input_index"][0], []).append(
            f"{_factor(x[tuple(t['input_index'])])}·{_factor(w[tuple(t['kernel_index'])])}")
    sums = [" + ".join(v) for v in by_channel.values()]
    multi_tap = math.prod(stage["params"]["kernel_size"]) > 1
    body = " + ".join(f"({s})" for s in sums) if len(sums) > 1 and multi_tap else (" + ".join(sums) or "0")
    skipped = taps - len(terms)
    note = ""
    if skipped:
        what = "zeros (padding or inserted)" if kind == "transposed" else "padding"
        note = f"  ({skipped} tap{'s' if skipped != 1 else ''} on {what} add 0)"
    return f"{head} = {body} = {value}{note}"


def _backward_text(stage: dict, frame: dict, up: str, down: str, c_up: int, c_down: int) -> str:
    g = fmt(frame["grad"])
    head = f"{up}{_index(frame['output_index'], c_up)} = {g}"
    routes, kind = frame["routes"], stage["kind"]
    if kind == "max_pool":
        if not routes:
            return f"{head}: the window holds only padding, nothing is routed"
        return f"{head} goes whole to the window's first maximum: {down}{_index(routes[0]['input_index'], c_down)} += {g}"
    if kind == "avg_pool":
        lost = int(frame["divisor"]) - len(routes)
        note = f"  ({lost} share{'s' if lost != 1 else ''} fall on padding and are dropped)" if lost > 0 else ""
        share = fmt(float(frame["grad"]) / float(frame["divisor"]))
        return f"{head} is split evenly: each of the {len(routes)} window cells += {g}/{fmt(frame['divisor'])} = " \
               f"{share}{note}"
    w = np.asarray(stage["kernel"], dtype=np.float64)
    parts = [f"{down}{_index(r['input_index'], c_down)} += {_factor(frame['grad'])}·"
             f"{_factor(w[tuple(t['kernel_index'])])} = {fmt(r['amount'])}" for r, t in zip(routes, frame["terms"])]
    return f"{head} goes back through the kernel: " + (", ".join(parts) or "every tap is on padding")


# ---------------------------------------------------------------- builders
def _blank(panel: Panel) -> list:
    rows, cols = panel.canvas.size
    return [[[Cell(style="blank") for _ in range(cols)] for _ in range(rows)] for _ in range(panel.channels)]


def _mark_window(cells, panel: Panel, stage: dict, frame: dict, corner=None, pad_text: str = "") -> list:
    """Outline the taps of ``frame``'s window on the canvas a stage reads (per channel it
    reads), ``corner(c, k2)`` text in each cell's corner; returns the dashed span boxes."""
    canvas = panel.canvas
    o = frame["output_index"][0]
    taps = _window_cells(stage, frame["output_index"][1:])
    boxes = []
    for c in _read_channels(stage, o):
        for rc, k2 in taps:
            if not canvas.inside(rc):
                continue
            cell = cells[c][rc[0]][rc[1]]
            cell.marks = cell.marks + ("footprint",)
            if cell.style == "real":
                cell.fill = P.FOOTPRINT_FILL
            elif cell.style == "pad":
                cell.text = pad_text
            if corner is not None:
                cell.small, cell.small_colour = corner(c, k2), WEIGHT_INK
        if any(d > 1 for d in _two_d(stage["params"]["dilation"])):
            boxes.append((c, taps[0][0], taps[-1][0]))
    return boxes


def _add_chain(panels: list, stages: list, arrays: list, arrow: str, rotate: bool, title) -> tuple[list, list]:
    """Append, for each stage, its kernel panel and the panel of its output (drawn with the
    padding the next stage reads); ``title(s, stage, last)``. Returns ``(kernel views, output panels)``:
    a kernel view is ``(panel index, KernelView)`` or None (pools)."""
    two = len(stages) > 1
    kernel_view, outputs = [], []
    for s, st in enumerate(stages):
        if st["kernel"] is not None:
            name = f"{_stage_short(st)} kernel w" if two else "kernel w"
            view = _kernel_view(st, name, rotate and st["kind"] == "transposed", arrow)
            kernel_view.append((len(panels), view))
            panels.append(view.panel)
        else:
            kernel_view.append(None)
        nxt = stages[s + 1] if s + 1 < len(stages) else None
        canvas = _read_canvas(nxt, arrays[s + 1].shape[1:]) if nxt else Canvas(arrays[s + 1].shape[1:])
        outputs.append(len(panels))
        panels.append(_array_panel(title(s, st, nxt is None), np.shape(st["output"]), canvas, arrow if nxt else ""))
    return kernel_view, outputs


def _fill_kernels(cells, kernel_view: list, stage: int, frame: dict) -> None:
    """Every kernel panel; the weights of ``frame``'s terms outlined on its own stage's kernel."""
    for t, kv in enumerate(kernel_view):
        if kv is not None:
            used = [kv[1].slot(term["kernel_index"]) for term in frame["terms"]] if t == stage else ()
            _fill_kernel(cells[kv[0]], kv[1], used)


def _legend(entries) -> list:
    return [e for e in entries if e is not None]


def _stage_short(stage: dict) -> str:
    return stage["name"].split(" ")[0]


def _build_forward(data: FrameData, numbers: bool):
    stages = data.stage_list()
    arrays = [_as3(stages[0]["input"])] + [_as3(s["output"]) for s in stages]
    letters = ["x"] + [f"h{i + 1}" for i in range(len(stages) - 1)] + ["y"]
    panels: list[Panel] = []
    array_panel, plain = [], None
    first = stages[0]
    if first["kind"] == "transposed":
        plain = len(panels)
        panels.append(_array_panel("input x", np.shape(first["input"]), Canvas(arrays[0].shape[1:]), "right"))
    array_panel.append(len(panels))
    title = "input x"
    if first["kind"] == "transposed":
        title = "zeros inserted, padded" if any(v > 1 for v in first["params"]["stride"]) else "padded"
    panels.append(_array_panel(title, np.shape(first["input"]), _read_canvas(first, arrays[0].shape[1:]), "right"))
    kernel_view, outputs = _add_chain(panels, stages, arrays, "right", rotate=True,
                                      title=lambda s, st, last: "output y" if last else
                                      f"{letters[s + 1]} = {_stage_short(st)} output")
    array_panel += outputs

    states = []
    done = [set() for _ in stages]
    for frame in data.frames:
        s = frame.get("stage", 0)
        st = stages[s]
        done[s].add(tuple(frame["output_index"]))
        cells = [_blank(p) for p in panels]
        if plain is not None:
            _fill(cells[plain], panels[plain], arrays[0], P.INPUT)
            for t in frame["terms"]:
                r, q = panels[plain].canvas.cell(t["input_index"][1:])
                cell = cells[plain][t["input_index"][0]][r][q]
                cell.marks, cell.fill = ("footprint",), P.FOOTPRINT_FILL
        for t, pi in enumerate(array_panel):
            if t == 0 or t <= s:
                _fill(cells[pi], panels[pi], arrays[t], P.INPUT if t == 0 else P.OUTPUT)
            elif t == s + 1:
                n = len(np.shape(st["output"])) - 1
                _fill(cells[pi], panels[pi], arrays[t], P.OUTPUT,
                      visible=lambda c, pos, d=done[s], n=n: (c,) + tuple(pos[-n:]) in d)
                r, q = panels[pi].canvas.cell(frame["output_index"][1:])
                cell = cells[pi][frame["output_index"][0]][r][q]
                cell.marks, cell.fill = ("current",), P.CURRENT_FILL
            else:
                _fill(cells[pi], panels[pi], None, P.WHITE)
        _fill_kernels(cells, kernel_view, s, frame)
        rp = array_panel[s]
        o = frame["output_index"][0]
        corner = None
        if numbers and st["kernel"] is not None:
            w = np.asarray(st["kernel"], dtype=np.float64)
            corner = (lambda c, k2, st=st, w=w, o=o: fmt(w[_kernel_index(st, o, c, k2)]))
        pad_text = "-inf" if st["kind"] == "max_pool" else "0"
        boxes = [(rp,) + b for b in _mark_window(cells[rp], panels[rp], st, frame, corner, pad_text)]
        if st["kind"] == "max_pool":
            r, q = panels[rp].canvas.cell(frame["argmax"][1:])
            cells[rp][frame["argmax"][0]][r][q].marks += ("argmax",)
        text = _forward_text(st, frame, arrays[s].shape[0], arrays[s + 1].shape[0], letters[s], letters[s + 1]) \
            if numbers else ""
        states.append(FrameState(cells, boxes, text))
    pooled = first["kind"] in ("max_pool", "avg_pool")
    padded = any(p.canvas.has_outside for p in panels)
    legend = _legend([
        ("input", Cell("", P.INPUT)),
        ("padding", Cell("", P.PADDING, "pad")) if padded else None,
        ("inserted zero", Cell("0", P.INSERTED, "inserted"))
        if first["kind"] == "transposed" and any(v > 1 for v in first["params"]["stride"]) else None,
        ("window" if pooled else "kernel footprint", Cell("", P.FOOTPRINT_FILL, marks=("footprint",))),
        ("output being computed", Cell("", P.CURRENT_FILL, marks=("current",))),
        ("first maximum", Cell("", P.FOOTPRINT_FILL, marks=("footprint", "argmax")))
        if first["kind"] == "max_pool" else None,
    ])
    return panels, states, legend


def _build_backward(data: FrameData, numbers: bool):
    stages = data.stage_list()
    grads = [_as3(stages[0]["grad_input"])] + [_as3(s["grad_output"]) for s in stages]
    letters = ["dx"] + [f"dh{i + 1}" for i in range(len(stages) - 1)] + ["dy"]
    first = stages[0]
    panels: list[Panel] = []
    value_panel = None
    if first["kind"] == "max_pool":  # the values decide where the gradient goes
        value_panel = len(panels)
        panels.append(_array_panel("input x", np.shape(first["input"]),
                                   _read_canvas(first, grads[0].shape[1:])))
    grad_panel = [len(panels)]
    canvas = Canvas(grads[0].shape[1:]) if first["kind"] == "transposed" else _read_canvas(first, grads[0].shape[1:])
    panels.append(_array_panel("grad_input dx", np.shape(first["input"]), canvas, "left"))
    kernel_view, outputs = _add_chain(panels, stages, grads, "left", rotate=False,
                                      title=lambda s, st, last: "grad_output dy (upstream)" if last else
                                      f"{letters[s + 1]} (gradient of {letters[s + 1][1:]})")
    grad_panel += outputs

    states = []
    acc = [np.zeros_like(g) for g in grads]
    for frame in data.frames:
        s = frame.get("stage", 0)
        st = stages[s]
        new: dict[tuple, float] = {}
        for r in frame["routes"]:
            key = (r["input_index"][0],) + _two_d(r["input_index"][1:], 0)
            acc[s][key] += float(r["amount"])
            new[key] = new.get(key, 0.0) + float(r["amount"])
        cells = [_blank(p) for p in panels]
        if value_panel is not None:
            _fill(cells[value_panel], panels[value_panel], _as3(first["input"]), P.INPUT)
        for t, pi in enumerate(grad_panel):
            if t > s:
                _fill(cells[pi], panels[pi], grads[t], P.GRADIENT)
            elif t == s:  # accumulating, from zero
                _fill(cells[pi], panels[pi], acc[t], P.GRADIENT)
            else:
                _fill(cells[pi], panels[pi], None, P.WHITE)
        up = grad_panel[s + 1]
        r, q = panels[up].canvas.cell(frame["output_index"][1:])
        cell = cells[up][frame["output_index"][0]][r][q]
        cell.marks, cell.fill = ("current",), P.GRADIENT_NEW
        _fill_kernels(cells, kernel_view, s, frame)
        down = grad_panel[s]
        boxes = []
        if st["kind"] != "transposed":
            boxes = [(down,) + b for b in _mark_window(cells[down], panels[down], st, frame)]
        for key, amount in new.items():
            r, q = panels[down].canvas.cell(key[1:])
            cell = cells[down][key[0]][r][q]
            cell.fill = P.GRADIENT_NEW
            if "footprint" not in cell.marks:
                cell.marks += ("footprint",)
            if st["kind"] == "max_pool":
                cell.marks += ("argmax",)
            if numbers:
                cell.small, cell.small_colour = _signed(amount), GRADIENT_INK
        if value_panel is not None:
            _mark_window(cells[value_panel], panels[value_panel], st, frame, pad_text="-inf")
            r, q = panels[value_panel].canvas.cell(frame["argmax"][1:])
            cells[value_panel][frame["argmax"][0]][r][q].marks += ("argmax",)
        text = _backward_text(st, frame, letters[s + 1], letters[s], grads[s + 1].shape[0], grads[s].shape[0]) \
            if numbers else ""
        states.append(FrameState(cells, boxes, text))
    padded = any(p.canvas.has_outside for p in panels)
    legend = _legend([
        ("gradient", Cell("", P.GRADIENT)),
        ("upstream cell", Cell("", P.GRADIENT_NEW, marks=("current",))),
        ("cells it reaches, +amount", Cell("", P.GRADIENT_NEW, marks=("footprint",))),
        ("padding (its share is dropped)", Cell("", P.PADDING, "pad")) if padded else None,
        ("first maximum", Cell("", P.FOOTPRINT_FILL, marks=("footprint", "argmax")))
        if first["kind"] == "max_pool" else None,
    ])
    return panels, states, legend


def _build_scatter(data: FrameData, numbers: bool):
    """Transposed convolution as the study text tells it: each input cell adds its value times
    the kernel onto the output, neighbouring copies ``stride`` apart; ``padding`` crops
    that sum's border."""
    st = data.stage_list()[0]
    p = st["params"]
    x, y = _as3(st["input"]), _as3(st["output"])
    w = np.asarray(st["kernel"], dtype=np.float64)
    pads = _two_d([tuple(v) for v in p["padding"]], (0, 0))
    K, s2, d2 = _two_d(p["kernel_size"]), _two_d(p["stride"]), _two_d(p["dilation"])
    n = len(p["kernel_size"])
    kview = _kernel_view(st, "kernel w", arrow="right")
    canvas = Canvas(y.shape[1:], tuple(lo for lo, _ in pads), tuple(hi for _, hi in pads), outside="crop")
    out_title = "output y"
    if canvas.has_outside:
        out_title += f" (the middle of the {_size(canvas.size if n > 1 else canvas.size[1:])} sum)"
    panels = [_array_panel("input x", np.shape(st["input"]), Canvas(x.shape[1:]), "right"), kview.panel,
              _array_panel(out_title, np.shape(st["output"]), canvas)]
    acc = np.zeros_like(y)
    seen: set = set()
    states = []
    g = p.get("groups", 1)
    cin_g, cout_g = x.shape[0] // g, y.shape[0] // g
    for group in data.scatter_groups():
        c, pos2 = group["input_index"][0], _two_d(group["input_index"][1:], 0)
        xv = x[(c,) + pos2]
        for t in group["targets"]:
            key = (t["output_index"][0],) + _two_d(t["output_index"][1:], 0)
            acc[key] += xv * w[tuple(t["kernel_index"])]
            seen.add(key)
        cells = [_blank(panel) for panel in panels]
        _fill(cells[0], panels[0], x, P.INPUT)
        cells[0][c][pos2[0]][pos2[1]].marks, cells[0][c][pos2[0]][pos2[1]].fill = ("current",), P.CURRENT_FILL
        _fill_kernel(cells[1], kview, [kview.slot(t["kernel_index"]) for t in group["targets"]])
        _fill(cells[2], panels[2], acc, P.OUTPUT, visible=lambda cc, pp: (cc,) + tuple(pp) in seen)
        cropped = 0
        for o in range((c // cin_g) * cout_g, (c // cin_g + 1) * cout_g):
            for a in range(K[0]):
                for b in range(K[1]):
                    rc = (pos2[0] * s2[0] + a * d2[0], pos2[1] * s2[1] + b * d2[1])
                    cell = cells[2][o][rc[0]][rc[1]]
                    cell.marks = ("footprint",)
                    if cell.style == "real":
                        cell.fill = P.FOOTPRINT_FILL
                    else:
                        cropped += 1
                    if numbers:
                        weight = w[(c, o - (c // cin_g) * cout_g) + (a, b)[-n:]]
                        cell.small, cell.small_colour = _signed(xv * weight), WEIGHT_INK
        text = ""
        if numbers:
            idx = _index(group["input_index"], x.shape[0])
            parts = [f"y{_index(t['output_index'], y.shape[0])} += {_factor(xv)}·{_factor(w[tuple(t['kernel_index'])])}"
                     for t in group["targets"]]
            text = f"x{idx} = {fmt(xv)} adds {fmt(xv)}·w onto the output: " + ", ".join(parts)
            if cropped:
                text += f"; {cropped} product{'s' if cropped != 1 else ''} fall on the cropped border"
        states.append(FrameState(cells, [], text))
    legend = _legend([
        ("input", Cell("", P.INPUT)),
        ("input cell spreading", Cell("", P.CURRENT_FILL, marks=("current",))),
        ("its copy of the kernel, +product", Cell("", P.FOOTPRINT_FILL, marks=("footprint",))),
        ("sum so far", Cell("", P.OUTPUT)),
        ("cropped by padding", Cell("", P.PADDING, "crop")) if canvas.has_outside else None,
    ])
    return panels, states, legend


# ------------------------------------------------------------------ drawing
@dataclass
class _Layout:
    cell: int
    width: int
    height: int
    fonts: dict
    header: list       # (text, font, colour, y)
    legend: list       # (x, y) per legend entry
    panel_x: list      # left edge of each panel block
    widths: list       # width of each panel block
    titles: list       # wrapped title lines per panel
    title_y: int
    origins: list      # per panel: per channel (x, y) of the grid's top-left cell
    text_y: int


def _fonts(cell: int) -> dict:
    return {"title": _font(16), "body": _font(13), "note": _font(12), "panel": _font(13),
            "value": _font(max(10, round(cell * 0.40))), "medium": _font(max(9, round(cell * 0.33))),
            "small": _font(max(8, round(cell * 0.27))),
            "ruler": _font(10)}


def _grid_box(panel: Panel, cell: int) -> tuple[int, int, int, int]:
    """``(width, height, left, top)`` of a panel's grids: ``left``/``top`` hold labels and rulers."""
    rows, cols = panel.canvas.size
    left = (26 if panel.labels else 0) + (14 if panel.rulers and rows > 1 else 0)
    top = 13 if panel.rulers else 0
    return left + cols * cell, top + panel.channels * rows * cell + (panel.channels - 1) * 8, left, top


def _layout(panels: list[Panel], header_texts: list, legend: list, states: list, draw) -> _Layout:
    cols = sum(p.canvas.size[1] for p in panels)
    fixed = 2 * MARGIN + GAP * (len(panels) - 1) + sum(_grid_box(p, 0)[0] for p in panels)
    cell = int(max(MIN_CELL, min(MAX_CELL, (MAX_WIDTH - fixed) // max(cols, 1))))
    fonts = _fonts(cell)
    widths = []
    for p in panels:
        gw = _grid_box(p, cell)[0]
        widths.append(max(gw, min(int(draw.textlength(p.title, font=fonts["panel"])) + 2, max(gw, 130))))
    width = max(2 * MARGIN + sum(widths) + GAP * (len(panels) - 1), 640)
    y, header = 12, []
    for text, key, colour in header_texts:
        for line in _wrap(draw, text, fonts[key], width - 2 * MARGIN):
            header.append((line, fonts[key], colour, y))
            y += 21 if key == "title" else 16
    y += 6
    legend_pos, lx = [], MARGIN
    for label, _ in legend:
        w = 24 + int(draw.textlength(label, font=fonts["note"])) + 18
        if lx + w > width - MARGIN and lx > MARGIN:
            lx, y = MARGIN, y + 24
        legend_pos.append((lx, y))
        lx += w
    y += 32
    titles = [_wrap(draw, p.title, fonts["panel"], w) for p, w in zip(panels, widths)]
    title_y = y
    grid_y = y + 16 * max(len(t) for t in titles) + 4
    panel_x, origins, x, bottom = [], [], MARGIN, grid_y
    for p, pw in zip(panels, widths):
        gw, gh, left, top = _grid_box(p, cell)
        rows = p.canvas.size[0]
        gx = x + left
        origins.append([(gx, grid_y + top + ch * (rows * cell + 8)) for ch in range(p.channels)])
        panel_x.append(x)
        bottom = max(bottom, grid_y + gh)
        x += pw + GAP
    text_y = bottom + 18
    lines = max((len(_wrap(draw, s.text, fonts["body"], width - 2 * MARGIN)) for s in states if s.text), default=0)
    return _Layout(cell, width, text_y + lines * 17 + 12, fonts, header, legend_pos, panel_x, widths, titles,
                   title_y, origins, text_y)


def _hatch(draw, box, colour, both: bool = False) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    for d in range(-h, w, 6):
        a = (x0 + max(d, 0), y0 + max(-d, 0))
        e = min(w - max(d, 0), h - max(-d, 0))
        draw.line([a, (a[0] + e, a[1] + e)], fill=colour, width=1)
        if both:
            draw.line([(x1 - (a[0] - x0), a[1]), (x1 - (a[0] - x0) - e, a[1] + e)], fill=colour, width=1)


def _dotted_rect(draw, box, colour, step: int = 4) -> None:
    x0, y0, x1, y1 = box
    for x in range(x0, x1 + 1, step):
        draw.point([(x, y0), (x, y1)], fill=colour)
    for y in range(y0, y1 + 1, step):
        draw.point([(x0, y), (x1, y)], fill=colour)


def _dashed_rect(draw, box, colour, dash: int = 6, width: int = 2) -> None:
    x0, y0, x1, y1 = box
    for x in range(x0, x1, 2 * dash):
        draw.line([(x, y0), (min(x + dash, x1), y0)], fill=colour, width=width)
        draw.line([(x, y1), (min(x + dash, x1), y1)], fill=colour, width=width)
    for y in range(y0, y1, 2 * dash):
        draw.line([(x0, y), (x0, min(y + dash, y1))], fill=colour, width=width)
        draw.line([(x1, y), (x1, min(y + dash, y1))], fill=colour, width=width)


def draw_cell(draw, box, cell: Cell, fonts: dict) -> None:
    """One cell: background by style, outlines by marks, the value, the corner text."""
    x0, y0, x1, y1 = box
    if cell.style == "blank":
        draw.rectangle(box, fill=P.WHITE, outline=P.GRID_LINE)
    elif cell.style in ("pad", "crop"):
        draw.rectangle(box, fill=P.PADDING, outline=P.GRID_LINE)
        _hatch(draw, (x0 + 1, y0 + 1, x1 - 1, y1 - 1), P.HATCH, both=cell.style == "crop")
    elif cell.style == "inserted":
        draw.rectangle(box, fill=P.INSERTED)
        _dotted_rect(draw, box, P.GRID_LINE)
    else:
        draw.rectangle(box, fill=cell.fill, outline=P.GRID_LINE)
    if "footprint" in cell.marks:
        draw.rectangle((x0 + 1, y0 + 1, x1 - 1, y1 - 1), outline=P.FOOTPRINT, width=3)
    if "current" in cell.marks:
        draw.rectangle((x0 + 1, y0 + 1, x1 - 1, y1 - 1), outline=P.CURRENT, width=3)
    if "argmax" in cell.marks:  # a blue corner flag
        t = max(7, (x1 - x0) // 3)
        draw.polygon([(x0 + 2, y0 + 2), (x0 + 2 + t, y0 + 2), (x0 + 2, y0 + 2 + t)], fill=P.CURRENT)
    if cell.text:
        muted = cell.style in ("pad", "inserted", "crop")
        font = fonts["value"] if len(cell.text) <= 3 else fonts["medium"] if len(cell.text) == 4 else fonts["small"]
        cy = (y0 + y1) / 2 - (3 if cell.small else 0)
        draw.text(((x0 + x1) / 2, cy), cell.text, font=font, fill=P.MUTED if muted else P.INK, anchor="mm")
    if cell.small:
        draw.text((x1 - 3, y1 - 2), cell.small, font=fonts["small"], fill=cell.small_colour, anchor="rd")


def _arrow(draw, x: int, y: int, direction: str) -> None:
    x0, x1 = x + 8, x + GAP - 8
    draw.line([(x0, y), (x1, y)], fill=P.MUTED, width=2)
    tip, back = (x1 + 2, x1 - 6) if direction == "right" else (x0 - 2, x0 + 6)
    draw.polygon([(tip, y), (back, y - 5), (back, y + 5)], fill=P.MUTED)


def _draw_frame(panels: list[Panel], state: FrameState, lay: _Layout, legend: list):
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (lay.width, lay.height), P.WHITE)
    draw = ImageDraw.Draw(img)
    fonts, cell = lay.fonts, lay.cell
    for text, font, colour, y in lay.header:
        draw.text((MARGIN, y), text, font=font, fill=colour)
    for (label, sample), (x, y) in zip(legend, lay.legend):
        draw_cell(draw, (x, y, x + 18, y + 18), sample, fonts)
        draw.text((x + 24, y + 9), label, font=fonts["note"], fill=P.INK, anchor="lm")
    for pi, panel in enumerate(panels):
        rows, cols = panel.canvas.size
        for k, line in enumerate(lay.titles[pi]):
            draw.text((lay.panel_x[pi], lay.title_y + 16 * k), line, font=fonts["panel"], fill=P.INK)
        for ch in range(panel.channels):
            ox, oy = lay.origins[pi][ch]
            if panel.labels:
                draw.text((ox - (18 if panel.rulers and rows > 1 else 4), oy + rows * cell / 2), panel.labels[ch],
                          font=fonts["note"], fill=P.MUTED, anchor="rm")
            if panel.rulers:
                for q in range(cols):
                    kind, pos = panel.canvas.locate((panel.canvas.lo[0], q))
                    if kind == "real" and ch == 0:
                        draw.text((ox + q * cell + cell / 2, oy - 2), str(pos[1]), font=fonts["ruler"],
                                  fill=P.MUTED, anchor="md")
                for r in range(rows if rows > 1 else 0):
                    kind, pos = panel.canvas.locate((r, panel.canvas.lo[1]))
                    if kind == "real":
                        draw.text((ox - 4, oy + r * cell + cell / 2), str(pos[0]), font=fonts["ruler"],
                                  fill=P.MUTED, anchor="rm")
            grid = state.cells[pi][ch]
            for r in range(rows):
                for q in range(cols):
                    draw_cell(draw, (ox + q * cell, oy + r * cell, ox + (q + 1) * cell, oy + (r + 1) * cell),
                              grid[r][q], fonts)
        if panel.arrow:
            _arrow(draw, lay.panel_x[pi] + lay.widths[pi], lay.origins[pi][0][1] + min(rows, 2) * cell // 2,
                   panel.arrow)
    for pi, ch, (r0, c0), (r1, c1) in state.boxes:
        ox, oy = lay.origins[pi][ch]
        _dashed_rect(draw, (ox + c0 * cell - 3, oy + r0 * cell - 3, ox + (c1 + 1) * cell + 3,
                            oy + (r1 + 1) * cell + 3), P.FOOTPRINT)
    y = lay.text_y
    for line in _wrap(draw, state.text, fonts["body"], lay.width - 2 * MARGIN) if state.text else []:
        draw.text((MARGIN, y), line, font=fonts["body"], fill=P.INK)
        y += 17
    return img


def build(data: FrameData, numbers: bool = True):
    """``(panels, frame states, legend)`` of ``data``: what each frame shows, before drawing
    (without ``numbers``: no values, weights or equations, only the cells and the moving window)."""
    builder = _build_backward if data.backward else _build_scatter if data.view == "scatter" else _build_forward
    panels, states, legend = builder(data, numbers)
    if not numbers:  # only the moving window, as Dumoulin & Visin's plain figures
        for state in states:
            for panel in state.cells:
                for grid in panel:
                    for row in grid:
                        for cell in row:
                            cell.text = cell.small = ""
    return panels, states, legend


def _prepare(data: FrameData, numbers: bool):
    Image = require("PIL.Image", extra="image", purpose="drawing animations")
    from PIL import ImageDraw
    panels, states, legend = build(data, numbers)
    header = [(data.title, "title", P.INK), (data.output_size_formula, "body", P.INK)]
    header += [(note, "note", P.MUTED) for note in data.notes]
    lay = _layout(panels, header, legend, states, ImageDraw.Draw(Image.new("RGB", (1, 1))))
    return panels, states, legend, lay


def render_frames(data: FrameData, numbers: bool = True) -> list:
    """One RGB ``PIL.Image`` per frame: per output cell, per input cell in the scatter
    view, per upstream cell with ``backward``."""
    panels, states, legend, lay = _prepare(data, numbers)
    return [_draw_frame(panels, s, lay, legend) for s in states]


def cell_box(data: FrameData, panel: int, channel: int, row: int, col: int, numbers: bool = True) -> tuple:
    """Pixel box ``(x0, y0, x1, y1)`` of cell ``(row, col)`` (canvas coordinates, padding
    included) of a panel's channel, as :func:`render_frames` draws it (for tests and image maps)."""
    lay = _prepare(data, numbers)[3]
    ox, oy = lay.origins[panel][channel]
    return (ox + col * lay.cell, oy + row * lay.cell, ox + (col + 1) * lay.cell, oy + (row + 1) * lay.cell)
