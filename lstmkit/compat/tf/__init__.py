"""`import tensorflow as tf` under `lstmkit run`: the part of TensorFlow 2 that recurrent-network
tutorials call, on torch and NumPy. No TensorFlow install is needed or used.

Tensors are torch tensors (`.numpy()`, `.shape`, `.dtype`, indexing and arithmetic work as in
TensorFlow; `tf.float32 is torch.float32`); text is `lstmkit.data.StringTensor`, a NumPy array of
UTF-8 `bytes`. The subset:

- `tf.__version__`, `tf.keras` (lstmkit), `tf.function` (runs the function as written),
  `tf.config` (devices), `tf.random` (`set_seed` seeds torch, NumPy, Python and shuffles),
  `tf.device`, `tf.executing_eagerly`, `tf.print`, `tf.test.is_gpu_available`;
- `tf.data`: `Dataset` (lazy, streaming: `lstmkit.data.Dataset`), `TextLineDataset`, `AUTOTUNE`;
- tensors: `constant`, `convert_to_tensor`, `cast`, `reshape`, `expand_dims`, `squeeze`,
  `transpose`, `concat`, `stack`, `unstack`, `split`, `tile`, `gather`, `one_hot`, `where`,
  `shape`, `rank`, `size`, `zeros`/`ones`(`_like`), `fill`, `range`, `linspace`, `reduce_*`,
  `argmax`/`argmin`, `matmul`, `clip_by_value`, `clip_by_global_norm`, ..., and `tf.math`,
  `tf.nn`, `tf.strings`, `tf.signal`, `tf.io`, `tf.errors`;
- `tf.GradientTape`, `tf.Variable`, `tf.TensorArray`, `tf.RaggedTensor`, `tf.TensorSpec`.

Any other name raises an AttributeError that names it and says what to use instead.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import sys
import types
from typing import Any, Callable

import torch

from ... import config as lstmkit_config
from ...data.dataset import TensorSpec
from . import _tensors, config, data, errors, io, math, nn, random, signal, strings  # noqa: F401
from ._tensors import *  # noqa: F401,F403
from ._tensors import print_ as print  # noqa: A001
from .autodiff import GradientTape, TensorArray, Variable  # noqa: F401
from .ragged import RaggedTensor  # noqa: F401

__version__ = "2.16.1"  # the TensorFlow release whose API this subset follows (Keras 3 inside)
VERSION = __version__
__all__ = [n for n in vars(_tensors) if not n.startswith("_") and n not in ("annotations", "builtins", "np", "torch", "Any",
                                                                             "Sequence", "t")]
__all__ += ["config", "data", "errors", "io", "math", "nn", "random", "signal", "strings", "GradientTape", "TensorArray",
            "Variable", "RaggedTensor", "TensorSpec", "function", "device", "executing_eagerly", "print", "keras", "test",
            "nest", "dtypes", "TensorShape", "autograph", "__version__"]

DType = torch.dtype


def function(func: Callable[..., Any] | None = None, input_signature: Any = None, autograph: builtins.bool = True,
             jit_compile: Any = None, reduce_retracing: builtins.bool = False, experimental_relax_shapes: Any = None,
             **kwargs: Any) -> Any:
    """`@tf.function` and `tf.function(f)`: the function itself, run as Python (eagerly)."""
    if func is None:
        return lambda f: f
    return func


@contextlib.contextmanager
def device(device_name: str) -> Any:
    """`with tf.device("/CPU:0"):` or `"/GPU:1"`: the layers created inside go to that device
    (lstmkit's layers then compute where their weights are). A GPU that is not there leaves the
    usual rule in force, as TensorFlow's soft placement does."""
    if not isinstance(device_name, str) or not device_name.strip():
        raise ValueError(f"tf.device takes a device name such as '/CPU:0' or '/GPU:0', got {device_name!r}")
    kind, _, index = device_name.strip().rsplit("/", 1)[-1].lower().replace("device:", "").partition(":")
    if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
        raise ValueError(f"tf.device takes a device name such as '/CPU:0' or '/GPU:0', got {device_name!r}")
    chosen: str | None = "cpu" if kind == "cpu" else f"cuda:{index or 0}"
    if kind == "gpu" and int(index or 0) >= torch.cuda.device_count():
        chosen = None
    saved = lstmkit_config.requested_device()
    lstmkit_config.set_device(chosen)
    try:
        yield
    finally:
        lstmkit_config.set_device(saved)


def executing_eagerly() -> builtins.bool:
    return True


def TensorShape(dims: Any) -> tuple[Any, ...]:
    return tuple(dims) if dims is not None else ()


linalg = types.SimpleNamespace(matmul=matmul, norm=norm, einsum=einsum, l2_normalize=nn.l2_normalize,  # noqa: F405
                               inv=torch.linalg.inv, det=torch.linalg.det, diag=torch.diag, eye=torch.eye)
dtypes = types.SimpleNamespace(float16=float16, bfloat16=bfloat16, float32=float32, float64=float64, int8=int8,  # noqa: F405
                               int16=int16, int32=int32, int64=int64, uint8=uint8, bool=torch.bool,  # noqa: F405
                               string=string, DType=torch.dtype, as_dtype=dtype_of)  # noqa: F405


def _nest_flatten(structure: Any, expand_composites: builtins.bool = False) -> list[Any]:
    from ...data.strings import flatten as _flatten
    return _flatten(tuple(structure) if isinstance(structure, list) else structure)


def _nest_map(fn: Callable[..., Any], *structures: Any, **kwargs: Any) -> Any:
    from ...data.strings import map_structure, zip_structures
    if len(structures) == 1:
        return map_structure(fn, structures[0])
    return zip_structures(lambda leaves: fn(*leaves), list(structures))


nest = types.SimpleNamespace(flatten=_nest_flatten, map_structure=_nest_map)
test = types.SimpleNamespace(
    is_gpu_available=lambda cuda_only=False, min_cuda_compute_capability=None: torch.cuda.is_available(),
    gpu_device_name=lambda: "/device:GPU:0" if torch.cuda.is_available() else "",
    is_built_with_cuda=lambda: torch.version.cuda is not None,
)
autograph = types.SimpleNamespace(experimental=types.SimpleNamespace(do_not_convert=lambda func=None: func or (lambda f: f)))

# what to use instead of the parts of TensorFlow that are not here
_INSTEAD = {
    "compat": "write the TensorFlow 2 form (tf.compat.v1 sessions and placeholders have no counterpart on torch)",
    "Session": "call functions directly: TensorFlow 2 and lstmkit run eagerly",
    "placeholder": "pass arrays to the model or function directly",
    "SparseTensor": "a dense tensor (tf.constant) or torch.sparse",
    "image": "torchvision.transforms, or keras.preprocessing.image for arrays",
    "audio": "torchaudio",
    "lite": "torch.export or lstmkit's ONNX export",
    "saved_model": "model.save('model.keras') and keras.models.load_model",
    "distribute": "lstmkit.distributed (DDP under torchrun)",
    "summary": "keras.callbacks.TensorBoard, or torch.utils.tensorboard",
    "train": "keras.callbacks.ModelCheckpoint and model.save_weights",
    "feature_column": "preprocessing layers (keras.layers.StringLookup, Normalization)",
    "estimator": "a Keras model with fit",
    "py_function": "call the Python function directly inside Dataset.map (it runs in Python here)",
    "numpy_function": "call the Python function directly inside Dataset.map (it runs in Python here)",
}


def __getattr__(name: str) -> Any:
    if name == "keras":
        from .. import keras_alias
        if keras_alias.active():
            return importlib.import_module("tensorflow.keras")
        return importlib.import_module("lstmkit")
    if name in ("metrics", "losses", "optimizers", "initializers", "activations", "regularizers"):  # TF 2's aliases
        return getattr(__getattr__("keras"), name)
    if name.startswith("__"):
        raise AttributeError(name)
    hint = _INSTEAD.get(name, "write that step with numpy or torch (tf tensors here are torch tensors)")
    raise AttributeError(
        f"tensorflow.{name} is outside the part of TensorFlow that lstmkit provides (lstmkit runs this program "
        f"on torch; see `help(lstmkit.compat.tf)` for what is there): {hint}")

