"""Models: `Sequential`, and `load_model` for files written by `model.save`."""

from .saving import load_model as load_model
from .sequential import Sequential as Sequential

__all__ = ["Sequential", "load_model"]
