"""``cnnkit.models``: complete networks built from :mod:`cnnkit.nn` layers."""
from .lenet import LeNet5, lenet5
from .textcnn import TextCNN, renorm_, textcnn
from .xception import Xception, xception

__all__ = ["LeNet5", "lenet5", "TextCNN", "textcnn", "renorm_", "Xception", "xception"]
