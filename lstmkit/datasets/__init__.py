"""Datasets shipped inside the package, so every program runs offline: `mnist`, `shakespeare`."""

from . import mnist as mnist
from . import shakespeare as shakespeare

__all__ = ["mnist", "shakespeare"]
