"""``cnnkit.data``: datasets (MNIST, MR) with NumPy only."""
from .mnist import load_mnist
from .mr import Vocabulary, clean_str, kfold_splits, load_mr, pad_sequences, tokenize
