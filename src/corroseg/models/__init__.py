"""Architectures (a registry), losses and metrics.

>>> from corroseg.models import create
>>> model = create("corroseg", skip="cat", dropout="low")
"""

from corroseg.models import baseline, corroseg_unet, fcn, small_unets  # noqa: F401  (registration)
from corroseg.models.registry import available, create, describe

__all__ = ["available", "create", "describe"]
