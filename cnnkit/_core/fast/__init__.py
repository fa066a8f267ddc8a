"""The fast engine: the same convolutions as :mod:`cnnkit._core.conv_reference` (which explains
the math), computed in cache-sized pieces on every core; and cnnkit's worker threads.

* :mod:`.threads`: the thread count (``cnnkit.set_num_threads``), single-threaded BLAS, parallel regions;
* :mod:`.tiles`: how a convolution is cut into independent tiles, from its sizes alone;
* :mod:`.conv`: forward and weight gradient on the phase grid (:mod:`.grid`), per tile and band;
* :mod:`.valid`: unpadded stride-1 convolutions, windows straight from the input;
* :mod:`.transpose`: the transposed direction, two algorithms and their cost model;
* :mod:`.scratch`: per-thread scratch buffers kept between calls;
* :mod:`.blocks`, :mod:`.pool`, :mod:`.matmul`: pooling, norms, ReLU and matrix products on blocks.
"""
