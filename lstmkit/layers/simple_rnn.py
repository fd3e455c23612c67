"""The fully-connected recurrent layer, Keras 3's `SimpleRNN`."""

from __future__ import annotations

from typing import Any

from .. import activations, constraints, initializers, regularizers
from ..cells import SimpleRNNCell
from .recurrent import Recurrent


class SimpleRNN(Recurrent):
    """Elman recurrent layer: h_t = φ(x_t W + h_{t-1} U + b); the step is `SimpleRNNCell`'s.

    Weights, in order: kernel (input_dim, units), recurrent_kernel (units, units), bias (units,).

    Args:
        units: Size of the output and of the state.
        activation: φ (default tanh).
        use_bias: Whether to add a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: Names or callables.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer:
            Penalties collected in `layer.losses`.
        kernel_constraint, recurrent_constraint, bias_constraint: Applied by `apply_constraints()`.
        dropout: Fraction of the inputs dropped at training time (one mask per sequence).
        recurrent_dropout: Fraction of the recurrent input dropped (one mask per sequence).
        return_sequences: Return the output at every step (B, T, units), not only the last.
        return_state: Also return the final state: `[output, h]`.
        go_backwards: Read the sequence from the end; outputs come in that reversed order.
        stateful: Carry the final state of one batch into the next (see `reset_states()`).
        unroll: Accepted for Keras compatibility; it does not change the result.
        **kwargs: `name`, `input_shape`, `batch_input_shape`, `batch_size`, `input_dim`, `trainable`.

    >>> import torch
    >>> tuple(SimpleRNN(6, activation="relu")(torch.ones(4, 3, 2)).shape)
    (4, 6)
    """

    cell_class = SimpleRNNCell

    def __init__(
        self,
        units: int,
        activation: activations.ActivationLike = "tanh",
        *,
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: initializers.InitializerLike = "orthogonal",
        bias_initializer: initializers.InitializerLike = "zeros",
        kernel_regularizer: regularizers.RegularizerLike = None,
        recurrent_regularizer: regularizers.RegularizerLike = None,
        bias_regularizer: regularizers.RegularizerLike = None,
        activity_regularizer: regularizers.RegularizerLike = None,
        kernel_constraint: constraints.ConstraintLike = None,
        recurrent_constraint: constraints.ConstraintLike = None,
        bias_constraint: constraints.ConstraintLike = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        implementation: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(locals())
