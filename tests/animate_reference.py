"""Naive loop definitions of the term sets cnnkit.animate's frames list, written from
the definitions (not from cnnkit's window core), for the tests to compare against.

Each function returns ``{output_index: {(input_index, kernel_index), ...}}`` with
indices as tuples (channel first, kernel indices in the weight's own layout).
"""
from __future__ import annotations

import itertools


def _cells(shape):
    return itertools.product(*(range(n) for n in shape))


def conv_terms(in_shape, out_shape, kernel, stride, pads, dilation, groups=1):
    """Convolution: output ``(o, *p)`` reads input ``p*s + k*d - lo`` for every tap ``k``
    that lands inside the input, over the input channels of ``o``'s group."""
    c_in, c_out = in_shape[0], out_shape[0]
    cin_g, cout_g = c_in // groups, c_out // groups
    out = {}
    for o, *p in _cells(out_shape):
        g = o // cout_g
        terms = set()
        for c in range(g * cin_g, (g + 1) * cin_g):
            for k in _cells(kernel):
                pos = [pi * s + ki * d - lo for pi, s, ki, d, (lo, _) in zip(p, stride, k, dilation, pads)]
                if all(0 <= u < n for u, n in zip(pos, in_shape[1:])):
                    terms.add(((c, *pos), (o, c - g * cin_g, *k)))
        out[(o, *p)] = terms
    return out


def transposed_terms(in_shape, out_shape, kernel, stride, pads, dilation, groups=1):
    """Transposed convolution as a scatter: input ``i`` adds ``x[i] * w[k]`` to output
    ``i*s + k*d - lo``; the terms of an output cell are the ``(i, k)`` that land on it."""
    c_in, c_out = in_shape[0], out_shape[0]
    cin_g, cout_g = c_in // groups, c_out // groups
    out = {idx: set() for idx in _cells(out_shape)}
    for c, *i in _cells(in_shape):
        g = c // cin_g
        for o in range(g * cout_g, (g + 1) * cout_g):
            for k in _cells(kernel):
                q = tuple(ii * s + ki * d - lo for ii, s, ki, d, (lo, _) in zip(i, stride, k, dilation, pads))
                if all(0 <= u < n for u, n in zip(q, out_shape[1:])):
                    out[(o, *q)].add(((c, *i), (c, o - g * cout_g, *k)))
    return out


def pool_terms(in_shape, out_shape, kernel, stride, padding, dilation):
    """Pooling: window ``p`` of channel ``c`` covers ``p*s + k*d - pad``; only cells inside the input."""
    out = {}
    for c, *p in _cells(out_shape):
        terms = set()
        for k in _cells(kernel):
            pos = [pi * s + ki * d - pd for pi, s, ki, d, pd in zip(p, stride, k, dilation, padding)]
            if all(0 <= u < n for u, n in zip(pos, in_shape[1:])):
                terms.add(((c, *pos), tuple(k)))
        out[(c, *p)] = terms
    return out


def first_max(x, terms_in_kernel_order):
    """The input index of the first maximum among ``[(input_index, kernel_index)]`` in row-major kernel order."""
    best = None
    for idx, _ in sorted(terms_in_kernel_order, key=lambda t: t[1]):
        if best is None or x[idx] > x[best]:
            best = idx
    return best


def avg_divisor(in_shape, out_index, kernel, stride, padding, count_include_pad=True):
    """PyTorch's divisor: window cells inside ``[-pad, n + pad)`` (``count_include_pad``) or
    inside the input ``[0, n)`` (otherwise), per axis, multiplied."""
    count = 1
    for p, n, k, s, pd in zip(out_index[1:], in_shape[1:], kernel, stride, padding):
        start = p * s - pd
        lo, hi = (-pd, n + pd) if count_include_pad else (0, n)
        count *= sum(1 for u in range(start, start + k) if lo <= u < hi)
    return count
