"""corroseg: corrosion segmentation in ultrasonic wall-thickness images of well casings."""

from corroseg.errors import CorrosegInputError

__version__ = "0.1.0"
__all__ = ["CorrosegInputError", "__version__"]
