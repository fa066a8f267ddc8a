"""Reading and writing files: images (:mod:`cnnkit.io.image`)."""
from .image import read_image, write_image

__all__ = ["read_image", "write_image"]
