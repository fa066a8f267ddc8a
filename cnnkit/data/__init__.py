"""``cnnkit.data``: batching (and datasets)."""
from .loader import DataLoader, TensorDataset, default_collate

__all__ = ["DataLoader", "TensorDataset", "default_collate"]
