"""Architectures (a registry), losses and metrics.

>>> from corroseg.models import create
>>> model = create("corroseg", skip="cat", dropout="low")
"""

from corroseg.models import baseline, corroseg_unet, fcn, small_unets, wellnet  # noqa: F401  (registration)
from corroseg.models.registry import accepted_options, available, create, describe

__all__ = ["accepted_options", "available", "create", "describe"]
