"""Shared by the explorer's tests: a PyTorch twin of the bundled LeNet-5 (the independent oracle
for every number the pages show), a synthetic drawn digit, and hand-made bad uploads."""
from __future__ import annotations

import io
import struct
import zlib
from collections import OrderedDict

import numpy as np


def torch_lenet5(state: dict):
    """LeNet-5 in PyTorch under the same module names, loaded with ``state`` (name -> array)."""
    import torch
    nn = torch.nn
    twin = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 6, 5), act1=nn.ReLU(), pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(6, 16, 5), act2=nn.ReLU(), pool2=nn.MaxPool2d(2),
        flatten=nn.Flatten(), fc1=nn.Linear(400, 120), act3=nn.ReLU(),
        fc2=nn.Linear(120, 84), act4=nn.ReLU(), fc3=nn.Linear(84, 10)))
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return twin.eval()


def torch_outputs(twin, digit: np.ndarray) -> dict:
    """Every named layer's output for one 28x28 digit, prepared by the definition
    (pad 2 with zeros, /255, minus MNIST's mean 0.1307, over its std 0.3081)."""
    import torch
    x = torch.nn.functional.pad(torch.tensor(np.asarray(digit, dtype=np.float64), dtype=torch.float32)[None, None] / 255,
                                (2, 2, 2, 2))
    x = (x - 0.1307) / 0.3081
    out = {"input": x}
    with torch.no_grad():
        for name, layer in twin.named_children():
            x = layer(x)
            out[name] = x
    return {k: v.numpy()[0] for k, v in out.items()}


def stroke_digit(size: int = 140) -> np.ndarray:
    """A thick '7' drawn white on black, ``(size, size)`` uint8, off-centre (as a hand draws it)."""
    img = np.zeros((size, size), dtype=np.uint8)
    s = size / 140
    w = max(2, int(9 * s))
    y0, x0, x1 = int(30 * s), int(40 * s), int(105 * s)
    img[y0:y0 + w, x0:x1] = 255                                  # the bar
    for t in np.linspace(0, 1, 200):                             # the stem, down to the left
        y, x = int(y0 + t * 85 * s), int(x1 - t * 45 * s)
        img[y:y + w, max(0, x - w):x] = 255
    return img


def png(array: np.ndarray) -> bytes:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A few hundred bytes declaring a width x height 8-bit grey PNG (a decompression bomb: its
    rows would inflate to width x height bytes); only the first rows are present."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
