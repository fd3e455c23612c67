"""Files: the archive format and its safety limits (`archive`), a module's weights in them
(`weights`), and ONNX export (`onnx`, with its explicit loop `onnx_loop`; imported where an export
runs, as it needs the `export` extra). Nothing here knows a model class;
`lstmkit.models.load_model` rebuilds models."""

from . import archive as archive
from . import weights as weights
from .archive import DoesNotFit as DoesNotFit

__all__ = ["archive", "weights", "DoesNotFit"]
