"""The LSTM layers: `LSTM` with Keras 3's arguments, and Keras 2's `CuDNNLSTM`."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..cells import LSTMCell
from .recurrent import Recurrent


class LSTM(Recurrent):
    """Long short-term memory layer (Hochreiter & Schmidhuber 1997), Keras 3's `LSTM`.

    The step is `lstmkit.cells.LSTMCell`'s. Weights, in order: kernel (input_dim, 4·units),
    recurrent_kernel (units, 4·units), bias (4·units,), gate blocks i, f, c, o; then, only when
    asked for, the peepholes input_gate_peephole, forget_gate_peephole, output_gate_peephole
    (units,) each, and the layer-norm gains and shift input_gamma (4·units,), recurrent_gamma
    (4·units,), cell_gamma (units,), cell_beta (units,). A Keras LSTM's three weights load into
    a plain one; the extras are lstmkit's own.

    Args:
        units: Size of the output and of each state.
        activation: φ in the cell (default tanh); a name or a callable.
        recurrent_activation: σ for the gates (default sigmoid).
        use_bias: Whether to add a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: Names or callables.
        unit_forget_bias: Start the forget-gate bias at one.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer:
            Penalties collected in `layer.losses`.
        kernel_constraint, recurrent_constraint, bias_constraint: Applied by `apply_constraints()`.
        dropout: Fraction of the inputs dropped at training time (one mask per sequence).
        recurrent_dropout: Fraction of the recurrent input dropped (one mask per sequence).
        return_sequences: Return the output at every step (B, T, units), not only the last.
        return_state: Also return the final states: `[output, h, c]`.
        go_backwards: Read the sequence from the end; outputs come in that reversed order.
        stateful: Carry the final states of one batch into the next (see `reset_states()`).
        unroll: Accepted for Keras compatibility; it does not change the result.
        peephole: Peephole connections from the cell to the input, forget and output gates
            (Gers, Schraudolph & Schmidhuber 2002).
        layer_norm: Layer-normalised LSTM (Ba, Kiros & Hinton 2016): the input and recurrent
            terms normalised separately, and the cell before its activation.
        zoneout: Probability that a unit of h and of c keeps its previous value at a training
            step (Krueger et al. 2016); at inference the expectation is used.
        layer_norm_epsilon: ε added to the variance in the layer norms.
        cell_clip: Clip the cell to [-cell_clip, cell_clip] at every step (None: no clip), as
            TensorFlow 1's LSTMCell and cuDNN do.
        implementation: "auto", "reference" or "fused" (see `lstmkit.kernels`); None for the
            library default.
        **kwargs: `name`, `input_shape`, `batch_input_shape`, `batch_size`, `input_dim`, `trainable`.

    Raises:
        ValueError: For units <= 0, an unknown activation or initializer, a rate outside [0, 1).

    Examples:
        >>> import torch
        >>> layer = LSTM(8, return_sequences=True)
        >>> tuple(layer(torch.zeros(2, 5, 3)).shape)
        (2, 5, 8)
        >>> [w.shape for w in layer.get_weights()]
        [(3, 32), (8, 32), (32,)]
    """

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
        unit_forget_bias: bool = True,
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
        peephole: bool = False,
        layer_norm: bool = False,
        zoneout: float = 0.0,
        layer_norm_epsilon: float = 1e-5,
        cell_clip: float | None = None,
        implementation: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(locals())

    cell_class = LSTMCell


class CuDNNLSTM(LSTM):
    """Keras 2's `CuDNNLSTM`, so that programs written for it run unchanged, on CPU too.

    It is an LSTM with tanh and sigmoid and no dropout, taking Keras 2 CuDNNLSTM's arguments.
    Its weights keep cuDNN's layout, as Keras 2 saved them: kernel (input_dim, 4·units),
    recurrent_kernel (units, 4·units) and a double bias (8·units,) whose halves are added, so
    its parameter count is 4·units·(input_dim + units + 2), as Keras 2 reported. `set_weights`
    also takes a Keras 3 `LSTM`'s (4·units,) bias, which becomes the input half.

    >>> import torch
    >>> layer = CuDNNLSTM(4, input_shape=(7, 3))
    >>> tuple(layer(torch.zeros(2, 7, 3)).shape), layer.count_params()
    ((2, 4), 144)
    """

    def __init__(
        self,
        units: int,
        *,
        kernel_initializer: initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: initializers.InitializerLike = "orthogonal",
        bias_initializer: initializers.InitializerLike = "zeros",
        unit_forget_bias: bool = True,
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

    preset = {"bias_layout": "cudnn"}

    def keras_layout(self, weights: list[Any]) -> list[Any]:
        if len(weights) == 3 and np.shape(weights[2]) == (4 * self.units,):
            weights[2] = np.concatenate([np.asarray(weights[2]), np.zeros(4 * self.units, dtype=np.asarray(weights[2]).dtype)])
        return weights
