"""``cnnkit.data``: batching (and datasets)."""
from .loader import DataLoader, TensorDataset, default_collate

__all__ = ["DataLoader", "TensorDataset", "default_collate"]

# datasets: MNIST and MR (Kim 2014), NumPy only
from .mnist import load_mnist  # noqa: E402
from .mr import Vocabulary, clean_str, kfold_splits, load_mr, pad_sequences, tokenize  # noqa: E402

__all__ += ["load_mnist", "load_mr", "Vocabulary", "clean_str", "tokenize", "pad_sequences", "kfold_splits"]
from .digits import MNIST_MEAN, MNIST_STD, as_mnist_digit, prepare_mnist, to_mnist_digit  # noqa: E402

__all__ += ["prepare_mnist", "to_mnist_digit", "as_mnist_digit", "MNIST_MEAN", "MNIST_STD"]
