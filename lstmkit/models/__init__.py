"""Models: `Sequential`."""

from .sequential import Sequential as Sequential

__all__ = ["Sequential"]
