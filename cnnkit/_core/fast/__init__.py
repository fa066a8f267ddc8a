"""The fast convolution engine and cnnkit's worker threads (see :mod:`.conv`, :mod:`.threads`)."""
