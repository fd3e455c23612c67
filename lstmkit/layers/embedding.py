"""`Embedding`: integer ids to dense vectors, optionally masking id 0."""

from __future__ import annotations

import contextvars
from typing import Any, Iterable

import torch
from torch import nn

from .. import constraints, initializers, regularizers
from .._checks import positive_int
from .base import Layer, Shape


# The Embedding layers whose ids the running fit/evaluate/predict has checked over the whole data,
# in host memory, before its batches (`ids_checked`): their calls skip the check per batch, which
# on a GPU makes the host wait for the device. By id(layer).
_IDS_CHECKED: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar("lstmkit_ids_checked", default=frozenset())


class ids_checked:
    """`with ids_checked(layers):` the Embedding layers `layers` take their ids as checked within
    the block (a class, not a generator: the loops enter one per step)."""

    def __init__(self, layers: Iterable[Layer]) -> None:
        self._ids = frozenset(id(layer) for layer in layers)
        self._token: contextvars.Token[frozenset[int]] | None = None

    def __enter__(self) -> None:
        if self._ids:
            self._token = _IDS_CHECKED.set(self._ids)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _IDS_CHECKED.reset(self._token)
            self._token = None


class Embedding(Layer):
    """Looks up row `i` of an (input_dim, output_dim) table for each id `i`.

    Args:
        input_dim: Vocabulary size; ids must lie in [0, input_dim).
        output_dim: Size of each vector.
        embeddings_initializer: Default `"uniform"`, Keras's U(-0.05, 0.05).
        embeddings_regularizer, activity_regularizer: Penalties in `layer.losses`.
        embeddings_constraint: Applied by `apply_constraints()`.
        mask_zero: Treat id 0 as padding: the output mask is `ids != 0`, which recurrent layers
            downstream honour. Id 0 then cannot stand for a word.
        input_length: Keras 2's argument, the sequence length; the same as `input_shape=(input_length,)`.
        **kwargs: `name`, `input_shape`, `batch_input_shape`, `trainable`.

    >>> import torch
    >>> layer = Embedding(10, 4, mask_zero=True)
    >>> ids = torch.tensor([[3, 1, 0, 0]])
    >>> tuple(layer(ids).shape), layer.compute_mask(ids, None).tolist()
    ((1, 4, 4), [[True, True, False, False]])
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        *,
        embeddings_initializer: initializers.InitializerLike = "uniform",
        embeddings_regularizer: regularizers.RegularizerLike = None,
        activity_regularizer: regularizers.RegularizerLike = None,
        embeddings_constraint: constraints.ConstraintLike = None,
        mask_zero: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (positive_int("input_length", input_length),)
        super().__init__(**kwargs)
        self.input_dim = positive_int("input_dim", input_dim)
        self.output_dim = positive_int("output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.embeddings: nn.Parameter | None = None

    def build(self, input_shape: Shape) -> None:
        self.embeddings = nn.Parameter(
            initializers.make(self.embeddings_initializer, (self.input_dim, self.output_dim), torch.get_default_dtype())
        )

    def call(self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False, **kwargs: Any) -> torch.Tensor:
        assert self.embeddings is not None
        ids = self._ids(x)
        y = self.embeddings[ids]  # (*ids.shape, output_dim)
        if self.activity_regularizer is not None:
            self.record_activity(y)
        return y

    def _ids(self, x: torch.Tensor) -> torch.Tensor:
        """x as int64 ids, checked integral and in range; in a traced graph (torch.compile,
        torch.export), which holds no test of the data, and where the whole data was checked
        before its batches (`ids_checked`), cast only."""
        if torch.compiler.is_compiling() or id(self) in _IDS_CHECKED.get():
            return x.long()
        return self.check_ids(x).long()

    def check_ids(self, x: torch.Tensor) -> torch.Tensor:
        """x, having checked that it holds integer ids in [0, input_dim): a ValueError naming
        the layer and the id otherwise (a TypeError for a dtype that holds no ids)."""
        if x.is_floating_point():
            if not torch.equal(x, x.round()):
                raise ValueError(f"Embedding layer {self.name!r} expects integer ids, got non-integer values")
            x = x.long()
        elif x.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"Embedding layer {self.name!r} expects integer ids, got dtype {x.dtype}")
        if x.numel():
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                raise ValueError(
                    f"Embedding layer {self.name!r} got id {bad}, outside [0, input_dim={self.input_dim}); "
                    "raise input_dim to cover the vocabulary"
                )
        return x

    def compute_mask(self, x: Any, mask: torch.Tensor | None) -> torch.Tensor | None:
        if not self.mask_zero:
            return None
        return torch.as_tensor(x) != 0

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def weight_regularizers(self) -> list[tuple[torch.Tensor, Any]]:
        if self.embeddings is None or self.embeddings_regularizer is None:
            return []
        return [(self.embeddings, self.embeddings_regularizer)]

    def weight_constraints(self) -> list[tuple[torch.Tensor, Any]]:
        if self.embeddings is None or self.embeddings_constraint is None:
            return []
        return [(self.embeddings, self.embeddings_constraint)]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=self.embeddings_initializer,
            embeddings_regularizer=self.embeddings_regularizer,
            activity_regularizer=self.activity_regularizer,
            embeddings_constraint=self.embeddings_constraint,
            mask_zero=self.mask_zero,
        )
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_dim={self.input_dim}, output_dim={self.output_dim}, mask_zero={self.mask_zero}"
