"""`keras.backend` (`from keras import backend as K`) as the classic Keras programs use it.

Settings: `backend()` ("torch"), `image_data_format()` / `set_image_data_format()` (the default
`data_format` of the convolution and pooling layers), `epsilon()` / `set_epsilon()`, `floatx()` /
`set_floatx()` (float32 only), `clear_session()`.

Tensors: `int_shape(x)` (a shape with None where unknown, for tensors, arrays and the symbolic
tensors of the functional API), and the math that custom losses, metrics and `Lambda` layers of
those programs call, on torch tensors: `sum`, `mean`, `max`, `min`, `square`, `sqrt`, `abs`,
`exp`, `log`, `pow`, `clip`, `round`, `sign`, `argmax`, `argmin`, `equal`, `cast`, `dot`,
`batch_dot`, `concatenate`, `stack`, `reshape`, `expand_dims`, `squeeze`, `permute_dimensions`,
`repeat_elements`, `flatten`, `batch_flatten`, `transpose`, `softmax`, `sigmoid`, `tanh`, `relu`,
`zeros_like`, `ones_like`, `shape`, `constant`, `variable`, `get_value`, `eval`, `set_value`, `l2_normalize`,
`categorical_crossentropy`, `binary_crossentropy`, `sparse_categorical_crossentropy`.

Graph helpers: `function(inputs, outputs)` (Keras 2's `K.function`: symbolic inputs and outputs
of a functional model, called on a list of arrays), and CTC for OCR programs: `ctc_batch_cost`
(torch's CTC loss) and `ctc_decode` (greedy).

Any other name raises an AttributeError that names it and points to torch.
"""

from __future__ import annotations

import gc
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..config import image_data_format, set_image_data_format  # noqa: F401  (Keras keeps them here)

_settings: dict[str, Any] = {"epsilon": 1e-7}


# ---- settings ---------------------------------------------------------------------------------

def backend() -> str:
    """The engine under the layers: "torch"."""
    return "torch"


def epsilon() -> float:
    """The small number Keras adds to avoid dividing by zero (1e-7)."""
    return float(_settings["epsilon"])


def set_epsilon(value: float) -> None:
    value = float(value)
    if not 0 < value < 1:
        raise ValueError(f"epsilon must be a small positive number, got value={value!r}")
    _settings["epsilon"] = value


def floatx() -> str:
    """The float type of weights and inputs: "float32"."""
    return "float32"


def set_floatx(value: str) -> None:
    """Only "float32": lstmkit's layers are created in float32 (call `model.double()` for float64)."""
    if value != "float32":
        raise ValueError(f"lstmkit's layers are created in float32; set_floatx({value!r}) is not supported: build the "
                         "model, then call model.double() for float64")


def clear_session() -> None:
    """Frees memory left by earlier models. lstmkit keeps no global graph or name counters, so this
    only collects garbage (and empties torch's CUDA cache)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def learning_phase() -> int:
    """0: lstmkit passes `training=` to each call instead of a global phase."""
    return 0


# ---- tensors ------------------------------------------------------------------------------------

def _t(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    array = np.asarray(x)
    return torch.as_tensor(array, dtype=torch.float32 if array.dtype.kind == "f" else None)


def int_shape(x: Any) -> tuple[int | None, ...]:
    """The shape as a tuple of ints (None where a symbolic tensor's size is unknown)."""
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def shape(x: Any) -> tuple[int, ...]:
    return tuple(_t(x).shape)


def ndim(x: Any) -> int:
    return len(int_shape(x))


def dtype(x: Any) -> str:
    return str(_t(x).dtype).replace("torch.", "")


def constant(value: Any, dtype: str | None = None, shape: Sequence[int] | None = None) -> torch.Tensor:
    t = _t(value) if dtype is None else torch.as_tensor(np.asarray(value, dtype=dtype))
    return t.expand(*shape).clone() if shape is not None else t


def variable(value: Any, dtype: str | None = None, name: str | None = None) -> torch.Tensor:
    return constant(value, dtype).clone()


def get_value(x: Any) -> np.ndarray:
    return _t(x).detach().cpu().numpy()


eval = get_value  # noqa: A001 - Keras's name


def set_value(x: Any, value: Any) -> None:
    """Keras 2's `K.set_value`: a weight tensor takes `value`; `model.optimizer.lr` (or
    `learning_rate`) sets the optimizer's learning rate, as Keras 2's learning-rate programs do."""
    owner = getattr(x, "owner", None)
    if isinstance(x, float) and owner is not None:
        owner.learning_rate = float(value)
    elif isinstance(x, torch.Tensor):
        with torch.no_grad():
            x.copy_(torch.as_tensor(np.asarray(value), dtype=x.dtype))
    else:
        raise TypeError(f"K.set_value needs a weight tensor or model.optimizer.learning_rate, got {type(x).__name__}; "
                        "a plain number cannot be changed in place")


def cast(x: Any, dtype: str) -> torch.Tensor:
    return _t(x).to(getattr(torch, dtype))


def _reduce(fn: Callable[..., Any]) -> Callable[..., torch.Tensor]:
    def reduce(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> torch.Tensor:
        t = _t(x)
        if axis is None:
            return fn(t)
        axes = [axis] if isinstance(axis, int) else list(axis)
        for a in sorted((a % t.dim() for a in axes), reverse=True):
            t = fn(t, a, keepdims)
        return t
    return reduce


sum = _reduce(lambda t, *a: torch.sum(t, *a))  # noqa: A001 - Keras's names shadow builtins here
mean = _reduce(lambda t, *a: torch.mean(t, *a))
max = _reduce(lambda t, *a: torch.amax(t, *a) if a else torch.amax(t))  # noqa: A001
min = _reduce(lambda t, *a: torch.amin(t, *a) if a else torch.amin(t))  # noqa: A001
std = _reduce(lambda t, *a: torch.std(t, a[0], unbiased=False, keepdim=a[1]) if a else torch.std(t, unbiased=False))
var = _reduce(lambda t, *a: torch.var(t, a[0], unbiased=False, keepdim=a[1]) if a else torch.var(t, unbiased=False))
prod = _reduce(lambda t, *a: torch.prod(t, *a) if a else torch.prod(t))


def square(x: Any) -> torch.Tensor:
    return _t(x) ** 2


def sqrt(x: Any) -> torch.Tensor:
    return torch.sqrt(torch.clamp(_t(x), min=0.0))


def abs(x: Any) -> torch.Tensor:  # noqa: A001
    return torch.abs(_t(x))


def exp(x: Any) -> torch.Tensor:
    return torch.exp(_t(x))


def log(x: Any) -> torch.Tensor:
    return torch.log(_t(x))


def pow(x: Any, a: float) -> torch.Tensor:  # noqa: A001
    return _t(x) ** a


def clip(x: Any, min_value: float | None, max_value: float | None) -> torch.Tensor:
    return torch.clamp(_t(x), min_value, max_value)


def round(x: Any) -> torch.Tensor:  # noqa: A001
    return torch.round(_t(x))


def sign(x: Any) -> torch.Tensor:
    return torch.sign(_t(x))


def argmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.argmax(_t(x), dim=axis)


def argmin(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.argmin(_t(x), dim=axis)


def equal(x: Any, y: Any) -> torch.Tensor:
    return torch.eq(_t(x), _t(y))


def maximum(x: Any, y: Any) -> torch.Tensor:
    return torch.maximum(_t(x), _t(y))


def minimum(x: Any, y: Any) -> torch.Tensor:
    return torch.minimum(_t(x), _t(y))


def dot(x: Any, y: Any) -> torch.Tensor:
    """Keras's `dot`: the last axis of x with the second-to-last of y (the last for a vector)."""
    return torch.matmul(_t(x), _t(y))


def batch_dot(x: Any, y: Any, axes: int | Sequence[int] | None = None) -> torch.Tensor:
    """Per sample, x's axis axes[0] summed against y's axis axes[1] (default: x's last, y's
    second-to-last, or its last for a (batch, n) y); two (batch, n) inputs give (batch, 1)."""
    a, b = _t(x), _t(y)
    if axes is None:
        axes = (a.dim() - 1, b.dim() - 2 if b.dim() > 2 else 1)
    ax, ay = (axes, axes) if isinstance(axes, int) else tuple(axes)
    a2, b2 = torch.movedim(a, ax % a.dim(), -1), torch.movedim(b, ay % b.dim(), 1)  # (B, ..., n), (B, n, ...)
    batch, n = a2.shape[0], a2.shape[-1]
    out = torch.bmm(a2.reshape(batch, -1, n), b2.reshape(batch, n, -1)).reshape(batch, *a2.shape[1:-1], *b2.shape[2:])
    return out.reshape(batch, 1) if out.dim() == 1 else out


def concatenate(tensors: Sequence[Any], axis: int = -1) -> torch.Tensor:
    return torch.cat([_t(t) for t in tensors], dim=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> torch.Tensor:
    return torch.stack([_t(t) for t in tensors], dim=axis)


def reshape(x: Any, shape: Sequence[int]) -> torch.Tensor:
    return _t(x).reshape(*shape)


def expand_dims(x: Any, axis: int = -1) -> torch.Tensor:
    return _t(x).unsqueeze(axis)


def squeeze(x: Any, axis: int) -> torch.Tensor:
    return _t(x).squeeze(axis)


def permute_dimensions(x: Any, pattern: Sequence[int]) -> torch.Tensor:
    return _t(x).permute(*pattern)


def transpose(x: Any) -> torch.Tensor:
    t = _t(x)
    return t.permute(*reversed(range(t.dim())))


def repeat_elements(x: Any, rep: int, axis: int) -> torch.Tensor:
    return torch.repeat_interleave(_t(x), rep, dim=axis)


def flatten(x: Any) -> torch.Tensor:
    return _t(x).reshape(-1)


def batch_flatten(x: Any) -> torch.Tensor:
    t = _t(x)
    return t.reshape(t.shape[0], -1)


def zeros_like(x: Any) -> torch.Tensor:
    return torch.zeros_like(_t(x))


def ones_like(x: Any) -> torch.Tensor:
    return torch.ones_like(_t(x))


def softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.softmax(_t(x), dim=axis)


def sigmoid(x: Any) -> torch.Tensor:
    return torch.sigmoid(_t(x))


def tanh(x: Any) -> torch.Tensor:
    return torch.tanh(_t(x))


def relu(x: Any, alpha: float = 0.0, max_value: float | None = None) -> torch.Tensor:
    t = _t(x)
    y = torch.where(t > 0, t, alpha * t)
    return y if max_value is None else torch.clamp(y, max=max_value)


def l2_normalize(x: Any, axis: int = -1) -> torch.Tensor:
    t = _t(x)
    return t / torch.sqrt(torch.clamp((t * t).sum(axis, keepdim=True), min=1e-12))


def categorical_crossentropy(target: Any, output: Any, from_logits: bool = False, axis: int = -1) -> torch.Tensor:
    t, o = _t(target), _t(output)
    logp = torch.log_softmax(o, axis) if from_logits else torch.log(torch.clamp(o / o.sum(axis, keepdim=True),
                                                                               epsilon(), 1 - epsilon()))
    return -(t * logp).sum(axis)


def sparse_categorical_crossentropy(target: Any, output: Any, from_logits: bool = False, axis: int = -1) -> torch.Tensor:
    o = _t(output)
    classes = o.shape[axis]
    return categorical_crossentropy(F.one_hot(_t(target).long().reshape(o.shape[:-1]), classes).to(o.dtype), o,
                                    from_logits, axis)


def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> torch.Tensor:
    t, o = _t(target), _t(output)
    if from_logits:
        return F.binary_cross_entropy_with_logits(o, t.to(o.dtype), reduction="none")
    o = torch.clamp(o, epsilon(), 1 - epsilon())
    return -(t * torch.log(o) + (1 - t) * torch.log(1 - o))


# ---- graph helpers --------------------------------------------------------------------------------

def function(inputs: Any, outputs: Any, updates: Any = None, name: str | None = None) -> Callable[[Any], list[np.ndarray]]:
    """Keras 2's `K.function`: `f = K.function([model.input], [layer.output])`, then
    `f([x])` returns the outputs for that data as a list of arrays (in inference mode)."""
    from ..models import Model  # the one use of models from the backend, kept to this function

    if updates:
        raise ValueError("K.function(updates=...) is not supported: train with model.fit or a torch optimizer")
    in_list = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    out_list = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    model = Model(in_list, out_list)

    def call(values: Any) -> list[np.ndarray]:
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if len(values) > len(in_list):  # Keras 2 programs append the learning phase (0 or 1)
            values = values[: len(in_list)]
        result = model.predict(values if len(values) > 1 else values[0])
        return list(result) if isinstance(result, list) else [result]

    return call


def ctc_batch_cost(y_true: Any, y_pred: Any, input_length: Any, label_length: Any) -> torch.Tensor:
    """The CTC loss per sample, shape (batch, 1), as Keras computes it: `y_pred` (B, T, C) holds
    softmax probabilities whose last class is the blank; `y_true` (B, L) the labels (padded past
    `label_length`); `input_length` and `label_length` (B, 1) the lengths used."""
    probs = _t(y_pred)
    log_probs = torch.log(torch.clamp(probs, min=1e-7)).transpose(0, 1)  # (T, B, C)
    labels = _t(y_true).long()
    in_len = _t(input_length).reshape(-1).long()
    lab_len = _t(label_length).reshape(-1).long()
    loss = F.ctc_loss(log_probs, labels, in_len, lab_len, blank=probs.shape[-1] - 1, reduction="none",
                      zero_infinity=True)
    return loss.unsqueeze(1)


def ctc_decode(y_pred: Any, input_length: Any, greedy: bool = True, beam_width: int = 100,
               top_paths: int = 1) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Greedy CTC decoding as Keras gives it: `([decoded], log_probabilities)`, `decoded` (B, T)
    holding each sample's labels (repeats merged, blanks removed) padded with -1; the second
    item is (B, 1), minus the sum over steps of the log of the best class's probability.

    Raises:
        ValueError: For greedy=False (beam search is not provided).
    """
    if not greedy:
        raise ValueError("ctc_decode(greedy=False): lstmkit decodes greedily only; pass greedy=True")
    probs = _t(y_pred)
    lengths = _t(input_length).reshape(-1).long()
    batch, steps, classes = probs.shape
    best, best_index = probs.max(dim=-1)  # (B, T)
    decoded = torch.full((batch, steps), -1, dtype=torch.long)
    for b in range(batch):
        path = best_index[b, : int(lengths[b])].tolist()
        labels = [c for i, c in enumerate(path) if c != classes - 1 and (i == 0 or c != path[i - 1])]
        decoded[b, : len(labels)] = torch.tensor(labels, dtype=torch.long)
    log_prob = -torch.log(torch.clamp(best, min=1e-30)).masked_fill(
        torch.arange(steps)[None, :] >= lengths[:, None], 0.0).sum(dim=1, keepdim=True)
    return [decoded], log_prob


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"keras.backend.{name} is not provided by lstmkit's backend (lstmkit.backend), which has the settings and the "
        f"tensor math the classic Keras programs call. Write it with torch instead (torch.{name} or the torch.Tensor "
        f"method of that name, if there is one): the tensors lstmkit's layers pass are torch tensors."
    )
