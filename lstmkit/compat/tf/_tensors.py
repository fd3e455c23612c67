"""TensorFlow's tensor functions on torch tensors, with TensorFlow's argument names and rules.

A tensor here is a `torch.Tensor` (text: `lstmkit.data.StringTensor`). The rules kept from
TensorFlow: a Python float becomes float32 and a Python int int32; `axis` may be negative and
`None` means every axis for the `reduce_*` family; `keepdims`; an integer mean truncates;
`argmax` without an axis reads axis 0; `shape`, `rank` and `size` are int32 tensors.
"""

from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np
import torch

from ...data.strings import STRING, StringTensor, as_leaf, _torch_dtype

float16, bfloat16, float32, float64 = torch.float16, torch.bfloat16, torch.float32, torch.float64
half, double = torch.float16, torch.float64
int8, int16, int32, int64, uint8 = torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8
bool = torch.bool  # noqa: A001  (TensorFlow's name)
complex64, complex128 = torch.complex64, torch.complex128
string = STRING
newaxis = None

Tensor = torch.Tensor


def dtype_of(value: Any) -> Any:
    if value is None or value is STRING or value == "string":
        return value if value is None else STRING
    return _torch_dtype(value)


def t(value: Any, dtype: Any = None) -> Any:
    """A value as a tensor (text as a StringTensor), converted to `dtype` if given."""
    if isinstance(value, torch.Tensor) and dtype is None:
        return value
    if isinstance(value, (list, tuple)) and value and any(isinstance(v, torch.Tensor) for v in value):
        value = torch.stack([t(v) for v in value])
    return as_leaf(value, dtype_of(dtype))


def _axis(axis: Any) -> Any:
    if isinstance(axis, torch.Tensor):
        axis = axis.tolist()
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) for a in axis)
    return axis if axis is None else int(axis)


def _int(value: Any) -> int:
    return int(value.item()) if isinstance(value, torch.Tensor) else int(value)


def _ints(values: Any) -> list[int]:
    if isinstance(values, torch.Tensor):
        return [int(v) for v in values.reshape(-1).tolist()]
    if isinstance(values, (int, np.integer)):
        return [int(values)]
    return [_int(v) for v in values]


# ---- making tensors ------------------------------------------------------------------------------

def constant(value: Any, dtype: Any = None, shape: Any = None, name: str | None = None) -> Any:
    """A tensor of `value` (float32 for Python floats, int32 for Python ints); with `shape`, a
    scalar is filled out to it and a list of the right size reshaped."""
    made = t(value, dtype)
    if shape is not None:
        shape = _ints(shape)
        if made.numel() == 1:
            return made.reshape(()).expand(*shape).clone() if isinstance(made, torch.Tensor) else made
        return made.reshape(shape)
    return made.clone() if isinstance(value, torch.Tensor) else made


def convert_to_tensor(value: Any, dtype: Any = None, dtype_hint: Any = None, name: str | None = None) -> Any:
    made = t(value, dtype)
    if dtype is None and dtype_hint is not None and not isinstance(value, torch.Tensor) and isinstance(made, torch.Tensor):
        made = made.to(dtype_of(dtype_hint))
    return made


def cast(x: Any, dtype: Any, name: str | None = None) -> Any:
    x = t(x)
    target = dtype_of(dtype)
    if isinstance(x, torch.Tensor) and x.is_floating_point() and not (target.is_floating_point or target == torch.bool):
        return x.trunc().to(target)  # TensorFlow truncates toward zero
    return x.to(target)


def identity(input: Any, name: str | None = None) -> Any:
    return t(input).clone()


def stop_gradient(input: Any, name: str | None = None) -> Any:
    return t(input).detach()


def zeros(shape: Any, dtype: Any = float32, name: str | None = None) -> torch.Tensor:
    return torch.zeros(_ints(shape), dtype=dtype_of(dtype))


def ones(shape: Any, dtype: Any = float32, name: str | None = None) -> torch.Tensor:
    return torch.ones(_ints(shape), dtype=dtype_of(dtype))


def zeros_like(input: Any, dtype: Any = None, name: str | None = None) -> torch.Tensor:
    return torch.zeros_like(t(input), dtype=dtype_of(dtype))


def ones_like(input: Any, dtype: Any = None, name: str | None = None) -> torch.Tensor:
    return torch.ones_like(t(input), dtype=dtype_of(dtype))


def fill(dims: Any, value: Any, name: str | None = None) -> torch.Tensor:
    v = t(value)
    return torch.full(_ints(dims), v.item(), dtype=v.dtype)


def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None, name: str = "range") -> torch.Tensor:  # noqa: A001
    """`range(limit)` or `range(start, limit, delta)`: int32 for integers, float32 if any is a float."""
    if limit is None:
        start, limit = 0, start
    values = [v.item() if isinstance(v, torch.Tensor) else v for v in (start, limit, delta)]
    if dtype is None:
        dtype = float32 if any(isinstance(v, float) for v in values) else int32
    return torch.arange(*values, dtype=dtype_of(dtype))


def linspace(start: Any, stop: Any, num: Any, name: str | None = None, axis: int = 0) -> torch.Tensor:
    s, e = t(start, float32 if not isinstance(start, torch.Tensor) else None), t(stop)
    steps = torch.linspace(0, 1, _int(num), dtype=s.dtype if s.is_floating_point() else float32)
    shape = [1] * s.dim()
    out = s.unsqueeze(0) + (e - s).unsqueeze(0) * steps.reshape(-1, *shape)
    return out.movedim(0, axis) if axis else out


# ---- shapes --------------------------------------------------------------------------------------

def shape(input: Any, out_type: Any = int32, name: str | None = None) -> torch.Tensor:
    return torch.tensor(list(t(input).shape), dtype=dtype_of(out_type))


def rank(input: Any, name: str | None = None) -> torch.Tensor:
    return torch.tensor(len(t(input).shape), dtype=int32)


def size(input: Any, out_type: Any = int32, name: str | None = None) -> torch.Tensor:
    return torch.tensor(int(np.prod(t(input).shape)), dtype=dtype_of(out_type))


def reshape(tensor: Any, shape: Any, name: str | None = None) -> Any:
    return t(tensor).reshape(_ints(shape))


def expand_dims(input: Any, axis: Any, name: str | None = None) -> Any:
    x = t(input)
    return np.expand_dims(x, _int(axis)).view(StringTensor) if isinstance(x, StringTensor) else x.unsqueeze(_int(axis))


def squeeze(input: Any, axis: Any = None, name: str | None = None) -> Any:
    x, axes = t(input), _axis(axis)
    if axes is None:
        return x.squeeze()
    for a in sorted([axes] if isinstance(axes, int) else list(axes), key=lambda a: a % max(x.dim(), 1), reverse=True):
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of a tensor of shape {tuple(x.shape)} has size {x.shape[a]}, not 1")
        x = x.squeeze(a)
    return x


def transpose(a: Any, perm: Any = None, conjugate: builtins.bool = False, name: str = "transpose") -> Any:
    x = t(a)
    order = list(reversed(builtins.range(x.dim()))) if perm is None else _ints(perm)
    return x.permute(*order)


def concat(values: Sequence[Any], axis: Any, name: str = "concat") -> Any:
    parts = [t(v) for v in values]
    if isinstance(parts[0], StringTensor):
        return np.concatenate([p.view(np.ndarray) for p in parts], axis=_int(axis)).view(StringTensor)
    return torch.cat(parts, dim=_int(axis))


def stack(values: Sequence[Any], axis: int = 0, name: str = "stack") -> Any:
    parts = [t(v) for v in values]
    if isinstance(parts[0], StringTensor):
        return np.stack([p.view(np.ndarray) for p in parts], axis=axis).view(StringTensor)
    return torch.stack(parts, dim=axis)


def unstack(value: Any, num: int | None = None, axis: int = 0, name: str = "unstack") -> list[Any]:
    return list(torch.unbind(t(value), dim=axis))


def split(value: Any, num_or_size_splits: Any, axis: Any = 0, num: int | None = None, name: str = "split") -> list[Any]:
    """Equal parts (an int: it must divide the axis) or parts of the sizes given (one may be -1)."""
    x, axis = t(value), _int(axis)
    if isinstance(num_or_size_splits, (int, np.integer)) or (
            isinstance(num_or_size_splits, torch.Tensor) and num_or_size_splits.dim() == 0):
        parts = _int(num_or_size_splits)
        if x.shape[axis] % parts:
            raise ValueError(f"split: axis {axis} of size {x.shape[axis]} does not divide into {parts} equal parts")
        return list(torch.split(x, x.shape[axis] // parts, dim=axis))
    sizes = _ints(num_or_size_splits)
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (builtins.sum(sizes) + 1)
    return list(torch.split(x, sizes, dim=axis))


def tile(input: Any, multiples: Any, name: str | None = None) -> Any:
    return t(input).repeat(*_ints(multiples))


def gather(params: Any, indices: Any, validate_indices: Any = None, axis: Any = None, batch_dims: int = 0,
           name: str | None = None) -> Any:
    x, idx = t(params), t(indices).long()
    axis = 0 if axis is None else _int(axis)
    if isinstance(x, StringTensor):
        return np.take(x.view(np.ndarray), idx.numpy(), axis=axis).view(StringTensor)
    if batch_dims:
        raise NotImplementedError("gather(batch_dims=...) is outside lstmkit's TensorFlow subset: use torch.gather")
    axis %= x.dim()
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape(*x.shape[:axis], *idx.shape, *x.shape[axis + 1:])


def gather_nd(params: Any, indices: Any, batch_dims: int = 0, name: str | None = None) -> Any:
    x, idx = t(params), t(indices).long()
    return x[tuple(idx.movedim(-1, 0))]


def boolean_mask(tensor: Any, mask: Any, axis: Any = None, name: str = "boolean_mask") -> Any:
    return t(tensor)[t(mask).bool()]


def sequence_mask(lengths: Any, maxlen: Any = None, dtype: Any = bool, name: str | None = None) -> torch.Tensor:
    n = t(lengths)
    width = _int(maxlen) if maxlen is not None else int(n.max())
    return (torch.arange(width) < n.unsqueeze(-1)).to(dtype_of(dtype))


def one_hot(indices: Any, depth: Any, on_value: Any = None, off_value: Any = None, axis: Any = None, dtype: Any = None,
            name: str | None = None) -> torch.Tensor:
    """`depth`-long vectors; an index outside [0, depth) gives a row of `off_value` (as TensorFlow)."""
    idx, depth = t(indices).long(), _int(depth)
    if dtype is None:
        dtype = t(on_value).dtype if on_value is not None else float32
    on = 1 if on_value is None else t(on_value).item()
    off = 0 if off_value is None else t(off_value).item()
    hot = (idx.unsqueeze(-1) == torch.arange(depth))
    out = torch.where(hot, torch.tensor(on), torch.tensor(off)).to(dtype_of(dtype))
    return out if axis is None or axis == -1 else out.movedim(-1, _int(axis))


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> torch.Tensor:
    """With x and y: elements of x where the condition holds, of y elsewhere. Alone: the
    coordinates (int64, one row per true element) where it holds."""
    c = t(condition).bool()
    if x is None and y is None:
        return torch.nonzero(c)
    if x is None or y is None:
        raise ValueError("where takes both x and y, or neither")
    return torch.where(c, t(x), t(y))


def pad(tensor: Any, paddings: Any, mode: str = "CONSTANT", constant_values: Any = 0, name: str | None = None) -> Any:
    x = t(tensor)
    pairs = t(paddings).tolist()
    flat = [int(v) for before_after in reversed(pairs) for v in before_after]
    kind = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "replicate"}[mode.upper()]
    if kind == "constant":
        return torch.nn.functional.pad(x, flat, value=t(constant_values).item())
    return torch.nn.functional.pad(x.unsqueeze(0).float(), flat, mode=kind).squeeze(0).to(x.dtype)


def ensure_shape(x: Any, shape: Any, name: str | None = None) -> Any:
    return t(x)


# ---- reductions ----------------------------------------------------------------------------------

def _reduce(op: str, input_tensor: Any, axis: Any, keepdims: builtins.bool) -> torch.Tensor:
    x = t(input_tensor)
    dims = _axis(axis)
    if dims is None:
        dims = tuple(builtins.range(x.dim()))
    if isinstance(dims, int):
        dims = (dims,)
    if op == "mean" and not (x.is_floating_point() or x.is_complex()):
        count = int(np.prod([x.shape[d] for d in dims])) if dims else 1
        total = x.sum(dim=dims, keepdim=keepdims) if dims else x
        return torch.div(total, count, rounding_mode="trunc").to(x.dtype)  # TensorFlow's integer mean
    if op in ("max", "min", "any", "all") and dims:
        out = x
        for d in sorted((d % x.dim() for d in dims), reverse=True):
            out = getattr(torch, "amax" if op == "max" else "amin" if op == "min" else op)(out, dim=d, keepdim=keepdims)
        return out
    if not dims:
        return x.clone()
    if op == "sum":
        return x.sum(dim=dims, keepdim=keepdims)
    if op == "prod":
        out = x
        for d in sorted((d % x.dim() for d in dims), reverse=True):
            out = out.prod(dim=d, keepdim=keepdims)
        return out
    if op == "mean":
        return x.mean(dim=dims, keepdim=keepdims)
    if op in ("std", "variance"):
        return getattr(torch, "std" if op == "std" else "var")(x, dim=dims, keepdim=keepdims, correction=0)
    if op == "logsumexp":
        return torch.logsumexp(x, dim=dims, keepdim=keepdims)
    raise ValueError(op)


def reduce_sum(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("sum", input_tensor, axis, keepdims)


def reduce_mean(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("mean", input_tensor, axis, keepdims)


def reduce_max(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("max", input_tensor, axis, keepdims)


def reduce_min(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("min", input_tensor, axis, keepdims)


def reduce_prod(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("prod", input_tensor, axis, keepdims)


def reduce_any(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("any", t(input_tensor).bool(), axis, keepdims)


def reduce_all(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("all", t(input_tensor).bool(), axis, keepdims)


def reduce_std(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False, name: str | None = None) -> torch.Tensor:
    return _reduce("std", input_tensor, axis, keepdims)


def reduce_variance(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False,
                    name: str | None = None) -> torch.Tensor:
    return _reduce("variance", input_tensor, axis, keepdims)


def reduce_logsumexp(input_tensor: Any, axis: Any = None, keepdims: builtins.bool = False,
                     name: str | None = None) -> torch.Tensor:
    return _reduce("logsumexp", input_tensor, axis, keepdims)


def argmax(input: Any, axis: Any = None, output_type: Any = int64, name: str | None = None) -> torch.Tensor:
    """Index of the largest value along `axis` (axis 0 when None, as in TensorFlow)."""
    return torch.argmax(t(input), dim=0 if axis is None else _int(axis)).to(dtype_of(output_type))


def argmin(input: Any, axis: Any = None, output_type: Any = int64, name: str | None = None) -> torch.Tensor:
    return torch.argmin(t(input), dim=0 if axis is None else _int(axis)).to(dtype_of(output_type))


def argsort(values: Any, axis: int = -1, direction: str = "ASCENDING", stable: builtins.bool = False,
            name: str | None = None) -> torch.Tensor:
    return torch.argsort(t(values), dim=axis, descending=direction == "DESCENDING", stable=True).to(int32)


def sort(values: Any, axis: int = -1, direction: str = "ASCENDING", name: str | None = None) -> torch.Tensor:
    return torch.sort(t(values), dim=axis, descending=direction == "DESCENDING", stable=True).values


def cumsum(x: Any, axis: int = 0, exclusive: builtins.bool = False, reverse: builtins.bool = False,
           name: str | None = None) -> torch.Tensor:
    v = t(x)
    if reverse:
        v = v.flip(axis)
    out = v.cumsum(dim=axis)
    if exclusive:
        out = out - v
    return out.flip(axis) if reverse else out


# ---- arithmetic ----------------------------------------------------------------------------------

def _pair(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a = x if isinstance(x, torch.Tensor) else None
    b = y if isinstance(y, torch.Tensor) else None
    if a is None and b is not None and not isinstance(x, (np.ndarray, list)):
        a = torch.tensor(x, dtype=b.dtype)
    if b is None and a is not None and not isinstance(y, (np.ndarray, list)):
        b = torch.tensor(y, dtype=a.dtype)
    return (a if a is not None else t(x)), (b if b is not None else t(y))


def add(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    a, b = _pair(x, y)
    return a + b


def subtract(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    a, b = _pair(x, y)
    return a - b


def multiply(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    a, b = _pair(x, y)
    return a * b


def divide(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    """x / y; integers divide as float64 (TensorFlow's `truediv`)."""
    a, b = _pair(x, y)
    if not a.is_floating_point() and not b.is_floating_point():
        return a.double() / b.double()
    return a / b


truediv = divide


def floordiv(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    a, b = _pair(x, y)
    return torch.div(a, b, rounding_mode="floor")


def mod(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    a, b = _pair(x, y)
    return torch.remainder(a, b)


def pow(x: Any, y: Any, name: str | None = None) -> torch.Tensor:  # noqa: A001
    a, b = _pair(x, y)
    return torch.pow(a, b)


def maximum(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    a, b = _pair(x, y)
    return torch.maximum(a, b)


def minimum(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
    a, b = _pair(x, y)
    return torch.minimum(a, b)


def _unary(fn: Any) -> Any:
    def op(x: Any, name: str | None = None) -> torch.Tensor:
        return fn(t(x))
    op.__name__ = fn.__name__
    return op


square, sqrt, exp, log, abs, sign, negative = map(_unary, (torch.square, torch.sqrt, torch.exp, torch.log, torch.abs,  # noqa: A001
                                                           torch.sign, torch.neg))
rsqrt, log1p, floor, ceil, sin, cos, tan = map(_unary, (torch.rsqrt, torch.log1p, torch.floor, torch.ceil, torch.sin,
                                                        torch.cos, torch.tan))
sigmoid, tanh, is_nan, is_inf, is_finite, logical_not = map(_unary, (torch.sigmoid, torch.tanh, torch.isnan, torch.isinf,
                                                                     torch.isfinite, torch.logical_not))
reciprocal = _unary(torch.reciprocal)


def round(x: Any, name: str | None = None) -> torch.Tensor:  # noqa: A001
    return torch.round(t(x))  # half to even, as TensorFlow


def _compare(fn: Any) -> Any:
    def op(x: Any, y: Any, name: str | None = None) -> torch.Tensor:
        a, b = _pair(x, y)
        return fn(a, b)
    op.__name__ = fn.__name__
    return op


equal, not_equal, greater, greater_equal, less, less_equal = map(_compare, (torch.eq, torch.ne, torch.gt, torch.ge,
                                                                             torch.lt, torch.le))
logical_and, logical_or, logical_xor = map(_compare, (torch.logical_and, torch.logical_or, torch.logical_xor))


def add_n(inputs: Sequence[Any], name: str | None = None) -> torch.Tensor:
    return torch.stack([t(v) for v in inputs]).sum(0)


def matmul(a: Any, b: Any, transpose_a: builtins.bool = False, transpose_b: builtins.bool = False,
           adjoint_a: builtins.bool = False, adjoint_b: builtins.bool = False, name: str | None = None,
           **kwargs: Any) -> torch.Tensor:
    x, y = t(a), t(b)
    if transpose_a or adjoint_a:
        x = x.transpose(-1, -2)
    if transpose_b or adjoint_b:
        y = y.transpose(-1, -2)
    return torch.matmul(x, y)


def tensordot(a: Any, b: Any, axes: Any, name: str | None = None) -> torch.Tensor:
    return torch.tensordot(t(a), t(b), dims=axes if isinstance(axes, int) else [list(x) for x in axes])


def einsum(equation: str, *inputs: Any, **kwargs: Any) -> torch.Tensor:
    return torch.einsum(equation, *[t(v) for v in inputs])


def norm(tensor: Any, ord: Any = "euclidean", axis: Any = None, keepdims: builtins.bool = False,
         name: str | None = None) -> torch.Tensor:
    p = 2 if ord in ("euclidean", "fro", 2) else ord
    x = t(tensor)
    return torch.linalg.vector_norm(x, ord=p, dim=_axis(axis), keepdim=keepdims)


def clip_by_value(t_: Any = None, clip_value_min: Any = None, clip_value_max: Any = None, name: str | None = None,
                  **kwargs: Any) -> torch.Tensor:
    x = t(kwargs.pop("t", t_))
    return torch.clamp(x, t(clip_value_min).item(), t(clip_value_max).item())


def clip_by_norm(t_: Any, clip_norm: Any, axes: Any = None, name: str | None = None) -> torch.Tensor:
    x = t(t_)
    n = torch.linalg.vector_norm(x, dim=_axis(axes), keepdim=axes is not None)
    limit = float(t(clip_norm))
    return x * torch.where(n > limit, limit / n, torch.ones_like(n))


def clip_by_global_norm(t_list: Sequence[Any], clip_norm: Any, use_norm: Any = None,
                        name: str | None = None) -> tuple[list[Any], torch.Tensor]:
    """The tensors scaled together so that their joint L2 norm is at most `clip_norm`, and that norm."""
    present = [t(v) for v in t_list if v is not None]
    total = (torch.sqrt(builtins.sum((p.detach().double() ** 2).sum() for p in present)).float() if use_norm is None
             else t(use_norm))
    limit = float(t(clip_norm))
    scale = limit / builtins.max(float(total), limit) if float(total) > 0 else 1.0
    return [None if v is None else t(v) * scale for v in t_list], total


def print_(*inputs: Any, **kwargs: Any) -> None:
    """tf.print: each tensor's values, then a newline (`output_stream`, `summarize` accepted)."""
    sep, end = kwargs.get("sep", " "), kwargs.get("end", "\n")
    shown = [v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v.numpy() if isinstance(v, StringTensor)
             else v for v in inputs]
    builtins.print(*shown, sep=sep, end=end)
