"""Models: `Sequential`, and `load_model` / `load_extras` for files written by `model.save`."""

from .saving import load_extras as load_extras
from .saving import load_model as load_model
from .sequential import Sequential as Sequential

__all__ = ["Sequential", "load_extras", "load_model"]
