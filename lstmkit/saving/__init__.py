"""Files: the archive format and its safety limits (`archive`), and a module's weights in them
(`weights`). Nothing here knows a model class; `lstmkit.models.load_model` rebuilds models."""

from . import archive as archive
from . import weights as weights
from .archive import DoesNotFit as DoesNotFit

__all__ = ["archive", "weights", "DoesNotFit"]
