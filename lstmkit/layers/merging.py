"""Merge layers: one output from a list of inputs (`Concatenate`, `Add`, `Subtract`, `Multiply`,
`Average`, `Maximum`, `Minimum`, `Dot`), and Keras's function forms (`concatenate([a, b])`, ...).

Every input must have the batch first. The elementwise merges take inputs of one shape; where a
mask comes in (from `Embedding(mask_zero=True)` or `Masking`), the output's mask is True where
every input's mask is.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .base import Layer, Shape


def _same(a: Any, b: Any) -> bool:
    return a is None or b is None or a == b


def _sum(xs: list[torch.Tensor]) -> torch.Tensor:
    out = xs[0]
    for t in xs[1:]:
        out = out + t
    return out


class Merge(Layer):
    """Base of the merge layers: takes a list of at least `min_inputs` tensors."""

    min_inputs = 2
    max_inputs: int | None = None

    def as_input(self, x: Any) -> Any:
        if not isinstance(x, (list, tuple)):
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes a list of tensors, got {type(x).__name__}")
        return [t if isinstance(t, torch.Tensor) else super(Merge, self).as_input(t) for t in x]

    def check_input_shape(self, input_shape: Any) -> None:
        if not isinstance(input_shape, list):
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes a list of tensors, got one of shape "
                             f"{tuple(input_shape)}")
        n = len(input_shape)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            wanted = (f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}")
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes {wanted} inputs, got {n}")
        self.check_shapes([tuple(s) for s in input_shape])

    def check_shapes(self, shapes: list[Shape]) -> None:
        first = shapes[0]
        for index, shape in enumerate(shapes[1:], 1):
            if len(shape) != len(first):
                raise ValueError(f"{type(self).__name__} layer {self.name!r} takes inputs of one shape; input 0 has shape "
                                 f"{first} and input {index} has shape {shape} (rank {len(first)} vs {len(shape)})")
            for axis in range(1, len(first)):
                if not _same(first[axis], shape[axis]):
                    raise ValueError(f"{type(self).__name__} layer {self.name!r} takes inputs of one shape; input 0 has "
                                     f"shape {first} and input {index} has shape {shape}: they differ on axis {axis}")

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = [tuple(s) for s in input_shape]
        return tuple(next((s[a] for s in shapes if s[a] is not None), None) for a in range(len(shapes[0])))

    def compute_mask(self, x: Any, mask: Any) -> Any:
        masks = [m for m in (mask or []) if m is not None] if isinstance(mask, (list, tuple)) else ([] if mask is None else [mask])
        if not masks:
            return None
        out = masks[0].bool()
        for m in masks[1:]:
            out = out & m.bool()
        return out

    def call(self, x: Any, *, mask: Any = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        return self.merge([t.to(x[0].dtype) if t.is_floating_point() else t for t in x])

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class Add(Merge):
    """The elementwise sum of its inputs."""

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return _sum(xs)


class Subtract(Merge):
    """`inputs[0] - inputs[1]`."""

    min_inputs = max_inputs = 2

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return xs[0] - xs[1]


class Multiply(Merge):
    """The elementwise product of its inputs."""

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for t in xs[1:]:
            out = out * t
        return out


class Average(Merge):
    """The elementwise mean of its inputs."""

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return _sum(xs) / len(xs)


class Maximum(Merge):
    """The elementwise maximum of its inputs."""

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for t in xs[1:]:
            out = torch.maximum(out, t)
        return out


class Minimum(Merge):
    """The elementwise minimum of its inputs."""

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for t in xs[1:]:
            out = torch.minimum(out, t)
        return out


class Concatenate(Merge):
    """Joins its inputs along `axis` (default the last); the other axes must agree.

    >>> import torch
    >>> tuple(Concatenate()([torch.zeros(2, 3), torch.zeros(2, 4)]).shape)
    (2, 7)
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(f"Concatenate's axis must be a non-batch axis (an integer other than 0), got axis={axis!r}")
        self.axis = axis

    def _axis(self, rank: int) -> int:
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"Concatenate layer {self.name!r}: axis={self.axis} is not a non-batch axis of inputs of rank {rank}")
        return axis

    def check_shapes(self, shapes: list[Shape]) -> None:
        first = shapes[0]
        axis = self._axis(len(first))
        for index, shape in enumerate(shapes[1:], 1):
            if len(shape) != len(first):
                raise ValueError(f"Concatenate layer {self.name!r} joins inputs of one rank; input 0 has shape {first} and "
                                 f"input {index} has shape {shape}")
            for a in range(1, len(first)):
                if a != axis and not _same(first[a], shape[a]):
                    raise ValueError(f"Concatenate layer {self.name!r} joins along axis {self.axis}, so the other axes must "
                                     f"agree; input 0 has shape {first} and input {index} has shape {shape}: they differ "
                                     f"on axis {a}")

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = [tuple(s) for s in input_shape]
        axis = self._axis(len(shapes[0]))
        merged = list(Merge.compute_output_shape(self, shapes))
        sizes = [s[axis] for s in shapes]
        merged[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(merged)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        if self._axis(x[0].dim()) == x[0].dim() - 1 or x[0].dim() < 3:
            return Merge.compute_mask(self, x, mask)
        # joined along time: each input's steps keep their own mask (all True without one)
        full = [torch.ones(t.shape[:2], dtype=torch.bool, device=t.device) if m is None else m.bool() for t, m in zip(x, mask)]
        return torch.cat(full, dim=1)

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=self._axis(xs[0].dim()))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """The dot product of two inputs along `axes`, per sample (Keras's batch dot).

    `axes` is an axis of both inputs or a pair (one for each); `normalize=True` divides each
    input by its L2 norm along that axis first, so the result is the cosine similarity. Inputs
    (B, n) and (B, n) give (B, 1); (B, T1, d) and (B, T2, d) with `axes=2` give (B, T1, T2).
    """

    min_inputs = max_inputs = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pair: list[Any] = list(axes) if isinstance(axes, (list, tuple)) else [axes, axes]
        if len(pair) != 2 or any(isinstance(a, bool) or not isinstance(a, int) or a == 0 for a in pair):
            raise ValueError(f"Dot's axes must be a non-batch axis or a pair of them, got axes={axes!r}")
        self.axes = axes if isinstance(axes, int) else tuple(axes)
        self._pair = pair
        self.normalize = bool(normalize)

    def _resolved(self, shapes: list[Shape]) -> tuple[int, int]:
        out = []
        for a, shape in zip(self._pair, shapes):
            axis = a + len(shape) if a < 0 else a
            if not 1 <= axis < len(shape):
                raise ValueError(f"Dot layer {self.name!r}: axes={self.axes} is not a non-batch axis of an input of shape {shape}")
            out.append(axis)
        return out[0], out[1]

    def check_shapes(self, shapes: list[Shape]) -> None:
        a, b = self._resolved(shapes)
        if not _same(shapes[0][a], shapes[1][b]):
            raise ValueError(f"Dot layer {self.name!r}: input 0 of shape {shapes[0]} has {shapes[0][a]} on axis {a}, input 1 "
                             f"of shape {shapes[1]} has {shapes[1][b]} on axis {b}; the dot product needs them equal")

    def compute_output_shape(self, input_shape: Any) -> Shape:
        x, y = (tuple(s) for s in input_shape)
        a, b = self._resolved([x, y])
        rest = [d for i, d in enumerate(x) if i not in (0, a)] + [d for i, d in enumerate(y) if i not in (0, b)]
        return (x[0], *(rest or [1]))

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def merge(self, xs: list[torch.Tensor]) -> torch.Tensor:
        x, y = xs
        a, b = self._resolved([tuple(x.shape), tuple(y.shape)])
        if self.normalize:
            x, y = F.normalize(x, dim=a), F.normalize(y, dim=b)
        B = x.shape[0]
        xt = x.movedim(a, -1)  # (B, X..., k)
        yt = y.movedim(b, 1)  # (B, k, Y...)
        k = xt.shape[-1]
        out = torch.bmm(xt.reshape(B, -1, k), yt.reshape(B, k, -1))  # (B, X, Y)
        rest = (*xt.shape[1:-1], *yt.shape[2:])
        return out.reshape(B, *(rest or (1,)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": list(self.axes) if isinstance(self.axes, tuple) else self.axes,
                "normalize": self.normalize}


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Any:
    """`Concatenate(axis=axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(list(inputs))


def add(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Add(**kwargs)(inputs)`."""
    return Add(**kwargs)(list(inputs))


def subtract(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Subtract(**kwargs)(inputs)`."""
    return Subtract(**kwargs)(list(inputs))


def multiply(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Multiply(**kwargs)(inputs)`."""
    return Multiply(**kwargs)(list(inputs))


def average(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Average(**kwargs)(inputs)`."""
    return Average(**kwargs)(list(inputs))


def maximum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Maximum(**kwargs)(inputs)`."""
    return Maximum(**kwargs)(list(inputs))


def minimum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Minimum(**kwargs)(inputs)`."""
    return Minimum(**kwargs)(list(inputs))


def dot(inputs: Sequence[Any], axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> Any:
    """`Dot(axes, normalize, **kwargs)(inputs)`."""
    return Dot(axes, normalize=normalize, **kwargs)(list(inputs))
