"""Keras's attention layers over sequences: `Attention` (dot-product, Luong) and
`AdditiveAttention` (Bahdanau), as encoder–decoder programs use them:
`context = Attention()([decoder_outputs, encoder_outputs])`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import _checks, initializers
from .._checks import one_of
from .base import Layer, Shape

_LARGE = 1e9  # what masked scores lose before the softmax, as Keras subtracts it


class _BaseAttention(Layer):
    """Inputs `[query, value]` or `[query, value, key]` (key defaults to value), shapes (B, Tq, D),
    (B, Tv, D), (B, Tv, D); output (B, Tq, D): each query step's softmax-weighted sum of the value
    steps, scored against the keys. Masks: value steps masked out get no weight; query steps masked
    out give zeros; the output keeps the query's mask. `use_causal_mask=True` lets query step i see
    value steps up to i only; `return_attention_scores=True` also returns the weights (B, Tq, Tv)."""

    def __init__(self, dropout: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dropout = _checks.rate("dropout", dropout)
        self.seed = seed
        self._return_scores = False

    def as_input(self, x: Any) -> Any:
        if not isinstance(x, (list, tuple)):
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes [query, value] or [query, value, key], "
                             f"got {type(x).__name__}")
        return [t if isinstance(t, torch.Tensor) else super(_BaseAttention, self).as_input(t) for t in x]

    def check_input_shape(self, input_shape: Any) -> None:
        if not isinstance(input_shape, list) or len(input_shape) not in (2, 3) \
                or any(len(s) != 3 for s in input_shape):
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes [query, value] or [query, value, key], "
                             f"each (batch, steps, features); got shapes {input_shape}")
        query, value = input_shape[0], input_shape[1]
        key = input_shape[2] if len(input_shape) == 3 else value
        if query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
            raise ValueError(f"{type(self).__name__} layer {self.name!r}: query and key need the same feature size, got "
                             f"{query} and {key}")

    def check_symbolic_call(self, input_shape: Any, argument_shapes: dict[str, Any]) -> None:
        self._return_scores = bool(argument_shapes.pop("return_attention_scores", False))
        argument_shapes.pop("use_causal_mask", None)
        super().check_symbolic_call(input_shape, argument_shapes)

    def compute_output_shape(self, input_shape: Any) -> Any:
        query, value = input_shape[0], input_shape[1]
        output = (query[0], query[1], value[-1])
        return [output, (query[0], query[1], value[1])] if self._return_scores else output

    def compute_mask(self, x: Any, mask: Any) -> Any:
        query_mask = mask[0] if isinstance(mask, (list, tuple)) else None
        return [query_mask, None] if self._return_scores else query_mask

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def call(self, x: Any, *, mask: Any = None, training: bool = False, return_attention_scores: bool = False,
             use_causal_mask: bool = False, **kwargs: Any) -> Any:
        query, value = x[0], x[1]
        key = x[2] if len(x) == 3 else value
        dtype = self._placement.dtype
        query, value, key = query.to(dtype), value.to(dtype), key.to(dtype)
        scores = self.scores(query, key)  # (B, Tq, Tv)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None, None]
        query_mask, value_mask = masks[0], masks[1] if len(masks) > 1 else None
        allowed = None if value_mask is None else value_mask.bool().unsqueeze(-2)  # (B, 1, Tv)
        if use_causal_mask:
            causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
            allowed = causal if allowed is None else allowed & causal
        if allowed is not None:
            scores = scores - _LARGE * (~allowed).to(scores.dtype)
        weights = torch.softmax(scores, dim=-1)
        if training and self.dropout > 0:
            weights = nn.functional.dropout(weights, self.dropout, training=True)
        result = weights @ value  # (B, Tq, D)
        if query_mask is not None:
            result = result * query_mask.to(result.dtype).unsqueeze(-1)
        return [result, weights] if return_attention_scores else result

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


class Attention(_BaseAttention):
    """Dot-product attention (Luong et al. 2015): scores = query · keyᵀ, times a learned scalar
    `scale` with `use_scale=True`; `score_mode="concat"`: Σ tanh(query + key) over the features
    (scaled inside the tanh by `scale`), times a learned scalar. Weights: scale (with use_scale),
    concat_score_weight (with "concat"), Keras's order.

    >>> import torch
    >>> q, v = torch.zeros(2, 3, 4), torch.randn(2, 5, 4)
    >>> tuple(Attention()([q, v]).shape)
    (2, 3, 4)
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)
        self.score_mode = one_of("score_mode", score_mode, ("dot", "concat"))
        self.scale: nn.Parameter | None = None
        self.concat_score_weight: nn.Parameter | None = None

    def build(self, input_shape: Shape) -> None:
        dtype = torch.get_default_dtype()
        if self.use_scale:
            self.scale = nn.Parameter(initializers.make(initializers.get("ones"), (), dtype))
        if self.score_mode == "concat":
            self.concat_score_weight = nn.Parameter(initializers.make(initializers.get("ones"), (), dtype))

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        if self.score_mode == "dot":
            scores = query @ key.transpose(1, 2)
            return scores * self.scale if self.scale is not None else scores
        summed = query.unsqueeze(-2) + key.unsqueeze(-3)  # (B, Tq, Tv, D)
        if self.scale is not None:
            summed = summed * self.scale
        assert self.concat_score_weight is not None
        return self.concat_score_weight * torch.tanh(summed).sum(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


class AdditiveAttention(_BaseAttention):
    """Additive attention (Bahdanau et al. 2015): scores = Σ_d scale_d · tanh(query_d + key_d),
    `scale` a learned vector of the feature size (with `use_scale`, the default). Weights: scale."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)
        self.scale: nn.Parameter | None = None

    def build(self, input_shape: Shape) -> None:
        if self.use_scale:
            dim = int(input_shape[0][-1])  # type: ignore[index]
            self.scale = nn.Parameter(initializers.make(initializers.get("glorot_uniform"), (dim,),
                                                        torch.get_default_dtype()))

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        summed = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))  # (B, Tq, Tv, D)
        return (summed * self.scale).sum(dim=-1) if self.scale is not None else summed.sum(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale}
