"""Matrix products on cnnkit's threads (BLAS itself runs single-threaded, see :mod:`.threads`).

``a @ b`` with ``a`` ``(M, K)`` and ``b`` ``(K, P)``: large products are cut into blocks of rows of
the result (or of columns, when ``P`` is the longer side), one BLAS call per block; every
element is one dot product over the whole ``K`` inside one call, and the blocks come from the
sizes alone, so the result does not depend on the thread count.
"""
from __future__ import annotations

import numpy as np

from . import threads

#: Multiply-adds per block: below this a product is one call in the calling thread.
BLOCK_MACS = 2**22


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D ``a`` ``(M, K)`` and ``b`` ``(K, P)``, in blocks on the thread pool."""
    m, k = a.shape
    p = b.shape[1]
    count = -(-m * k * p // BLOCK_MACS)
    if count <= 1:
        threads.ensure_single_threaded_blas()
        return a @ b
    out = np.empty((m, p), dtype=np.result_type(a, b))
    rows = m >= p
    n = m if rows else p
    count = min(n, -(-count // 4) * 4)
    bounds = [i * n // count for i in range(count + 1)]
    if rows:
        def block(i):
            np.matmul(a[bounds[i]:bounds[i + 1]], b, out=out[bounds[i]:bounds[i + 1]])
    else:
        def block(i):
            np.matmul(a, b[:, bounds[i]:bounds[i + 1]], out=out[:, bounds[i]:bounds[i + 1]])
    threads.run(block, count)
    return out
