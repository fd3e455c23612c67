"""Weight initializers under Keras's names and with Keras's definitions.

An initializer is a callable `(shape, dtype) -> Tensor`. Fans follow Keras: for a 2-D kernel of
shape `(fan_in, fan_out)`; for a larger shape the leading dimensions multiply into the receptive
field. Random draws come from torch's global generator, so `torch.manual_seed` makes them
repeatable.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np
import torch

Initializer = Callable[[Sequence[int], torch.dtype], torch.Tensor]
InitializerLike = Union[str, Initializer]

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it keeps the variance
# of a truncated draw at the one asked for (Keras's variance-scaling initializers do the same).
_TRUNCATED_STD = 0.87962566103423978


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _generator(seed: int | None) -> torch.Generator | None:
    """A generator for one draw when a seed is given (the same seed, the same weights), else None
    (torch's global generator, which `set_random_seed` seeds)."""
    return None if seed is None else torch.Generator().manual_seed(int(seed))


class Constant:
    """A number everywhere; or, as Keras 2 programs pass pretrained vectors, an array of the
    weight's shape (`Embedding(..., embeddings_initializer=Constant(matrix))`)."""

    def __init__(self, value: Any = 0.0) -> None:
        self.value = float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64).tolist()

    def __call__(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if isinstance(self.value, float):
            return torch.full(tuple(shape), self.value, dtype=dtype)
        values = torch.as_tensor(self.value, dtype=dtype)
        if tuple(values.shape) != tuple(shape):
            raise ValueError(f"Constant initializer holds an array of shape {tuple(values.shape)}, the weight has shape "
                             f"{tuple(shape)}")
        return values.clone()


class Zeros(Constant):
    def __init__(self) -> None:
        super().__init__(0.0)


class Ones(Constant):
    def __init__(self) -> None:
        super().__init__(1.0)


class RandomUniform:
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        if not minval < maxval:
            raise ValueError(f"Expected minval < maxval, got minval={minval}, maxval={maxval}")
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def __call__(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=dtype).uniform_(self.minval, self.maxval, generator=_generator(self.seed))


class RandomNormal:
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=dtype).normal_(self.mean, self.stddev, generator=_generator(self.seed))


class TruncatedNormal:
    """Normal draws, redrawn outside two standard deviations of the mean."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        out = torch.empty(tuple(shape), dtype=dtype)
        torch.nn.init.trunc_normal_(out, 0.0, 1.0, -2.0, 2.0, generator=_generator(self.seed))
        return out * self.stddev + self.mean


class VarianceScaling:
    """Draws with variance `scale / n`, n the fan picked by `mode` (Keras's VarianceScaling)."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None) -> None:
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Expected mode in 'fan_in', 'fan_out', 'fan_avg', got mode={mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                "Expected distribution in 'truncated_normal', 'untruncated_normal', 'uniform', "
                f"got distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def __call__(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return RandomUniform(-limit, limit, self.seed)(shape, dtype)
        if self.distribution == "untruncated_normal":
            return RandomNormal(0.0, math.sqrt(variance), self.seed)(shape, dtype)
        return TruncatedNormal(0.0, math.sqrt(variance) / _TRUNCATED_STD, self.seed)(shape, dtype)


class Orthogonal:
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw (Saxe et al. 2014).

    For a shape `(rows, cols)` the rows are orthonormal when rows <= cols, else the columns;
    higher-rank shapes are flattened to `(prod(shape[:-1]), shape[-1])` first.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain, self.seed = float(gain), seed

    def __call__(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of rank >= 2, got shape={tuple(shape)}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        draw = torch.randn(max(rows, cols), min(rows, cols), dtype=torch.float64, generator=_generator(self.seed))
        q, r = torch.linalg.qr(draw)
        # Fixing the signs by diag(r) makes the result uniformly distributed over orthogonal matrices.
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(tuple(shape)).to(dtype)


class Identity:
    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)

    def __call__(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, got shape={tuple(shape)}")
        return self.gain * torch.eye(shape[0], shape[1], dtype=dtype)


class GlorotUniform(VarianceScaling):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__(2.0, "fan_in", "uniform", seed)


class HeNormal(VarianceScaling):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


# Keras 2's lower-case names for the classes (`from keras.initializers import glorot_uniform`)
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal, variance_scaling = LecunUniform, LecunNormal, VarianceScaling
zeros, ones, constant, orthogonal, identity = Zeros, Ones, Constant, Orthogonal, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal

_REGISTRY: dict[str, Callable[[], Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "uniform": RandomUniform,
    "random_uniform": RandomUniform,
    "normal": RandomNormal,
    "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "orthogonal": Orthogonal,
    "identity": Identity,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
}


def names() -> list[str]:
    """The initializer names `get` understands, sorted."""
    return sorted(_REGISTRY)


def get(identifier: InitializerLike) -> Initializer:
    """Resolves an initializer name or callable.

    Args:
        identifier: A Keras name such as `"glorot_uniform"`, or a callable `(shape, dtype) -> Tensor`.

    Returns:
        A callable `(shape, dtype) -> Tensor`.

    Raises:
        ValueError: For an unknown name or a value that is neither a name nor callable.

    >>> get("ones")((2, 3), torch.float32).sum().item()
    6.0
    """
    if isinstance(identifier, str):
        factory = _REGISTRY.get(identifier)
        if factory is None:
            raise ValueError(
                f"Unknown initializer {identifier!r}. Known names: {', '.join(names())}; "
                "or pass a callable (shape, dtype) -> Tensor."
            )
        return factory()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Expected an initializer name or a callable, got {identifier!r} "
        f"of type {type(identifier).__name__}"
    )


_skipping: contextvars.ContextVar[bool] = contextvars.ContextVar("lstmkit_skip_initialization", default=False)


@contextlib.contextmanager
def skip_initialization() -> Iterator[None]:
    """Within it, `make` allocates weights without drawing their values (`torch.empty`): for
    weights that are about to be overwritten, as when a saved model is loaded; with
    `torch.device("meta")` it allocates nothing at all (shapes alone)."""
    token = _skipping.set(True)
    try:
        yield
    finally:
        _skipping.reset(token)


def skipping() -> bool:
    """Whether `skip_initialization` is in force (weights are allocated, not drawn)."""
    return _skipping.get()


def make(init: Initializer, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """Calls `init` and checks that it returned a tensor of the asked shape (numpy is accepted)."""
    if _skipping.get():
        return torch.empty(tuple(shape), dtype=dtype)
    value = torch.as_tensor(init(tuple(shape), dtype), dtype=dtype)
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"Initializer {init!r} returned shape {tuple(value.shape)}, expected {tuple(shape)}"
        )
    return value
