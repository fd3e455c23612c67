"""Models: `Model` (a graph of layers, Keras's functional API), `Sequential` (a stack, a kind of
`Model`), and `load_model` / `load_extras` for files written by `model.save`."""

from .loading import load_extras as load_extras
from .loading import load_model as load_model
from .loading import model_from_json as model_from_json
from .model import Model as Model
from .sequential import Sequential as Sequential
from .subclassed import SubclassedModel as SubclassedModel

__all__ = ["Model", "Sequential", "SubclassedModel", "load_extras", "load_model", "model_from_json"]
