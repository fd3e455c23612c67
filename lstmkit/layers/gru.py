"""The GRU layer, Keras 3's `GRU`, and Keras 2's `CuDNNGRU`."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..cells import GRUCell
from .recurrent import Recurrent


class GRU(Recurrent):
    """Gated recurrent unit layer (Cho et al. 2014); the step is `lstmkit.cells.GRUCell`'s.

    Weights, in order: kernel (input_dim, 3·units), recurrent_kernel (units, 3·units) and bias,
    (2, 3·units) with `reset_after=True` (Keras 3's default: row 0 input bias, row 1 recurrent
    bias) or (3·units,) without; gate blocks z, r, h.

    Args:
        units: Size of the output and of the state.
        activation: φ for the candidate state (default tanh).
        recurrent_activation: σ for the gates (default sigmoid).
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
        reset_after: Apply the reset gate after the recurrent product (True, as cuDNN and
            `torch.nn.GRU`) or before it (False, as the original paper).
        **kwargs: `name`, `input_shape`, `batch_input_shape`, `batch_size`, `input_dim`, `trainable`.

    >>> import torch
    >>> layer = GRU(4)
    >>> tuple(layer(torch.zeros(2, 5, 3)).shape), [w.shape for w in layer.get_weights()]
    ((2, 4), [(3, 12), (4, 12), (2, 12)])
    """

    cell_class = GRUCell

    def __init__(
        self,
        units: int,
        activation: activations.ActivationLike = "tanh",
        recurrent_activation: activations.ActivationLike = "sigmoid",
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
        reset_after: bool = True,
        zero_output_for_mask: bool = False,
        implementation: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(locals())


class CuDNNGRU(GRU):
    """Keras 2's `CuDNNGRU`, so that programs written for it run unchanged, on CPU too.

    It is a GRU with tanh and sigmoid, the reset gate applied after the recurrent product
    (`reset_after=True`, cuDNN's form) and no dropout, taking Keras 2 CuDNNGRU's arguments. Its
    weights are exchanged in Keras 2's layout: kernel (input_dim, 3·units), recurrent_kernel
    (units, 3·units) and bias (6·units,): the input biases then the recurrent ones (a Keras 3
    GRU's (2, 3·units) bias, flattened). `set_weights` takes either form.

    >>> import torch
    >>> layer = CuDNNGRU(4, input_shape=(7, 3))
    >>> tuple(layer(torch.zeros(2, 7, 3)).shape), [w.shape for w in layer.get_weights()]
    ((2, 4), [(3, 12), (4, 12), (24,)])
    """

    def __init__(
        self,
        units: int,
        *,
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
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        implementation: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        Recurrent.__init__(self, locals())

    def get_weights(self) -> list[np.ndarray]:
        weights = super().get_weights()
        weights[2] = weights[2].reshape(-1)
        return weights

    def keras_layout(self, weights: list[Any]) -> list[Any]:
        if len(weights) == 3 and np.shape(weights[2]) == (6 * self.units,):
            weights[2] = np.asarray(weights[2]).reshape(2, 3 * self.units)
        return weights
