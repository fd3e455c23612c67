"""`ConvLSTM2D`: an LSTM whose state is a stack of feature maps, for sequences of images
(Keras's layer, on the cell `lstmkit.cells.ConvLSTMCell`)."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .. import _spatial as sp
from .. import activations, constraints, initializers, regularizers
from ..cells import zero_state
from ..cells.conv_lstm import ConvLSTMCell, ConvLSTMSettings
from ..kernels import run_sequence
from .base import Shape
from .recurrent import SettingsLayer


class ConvLSTM2D(SettingsLayer):
    """A convolutional LSTM over frames: (B, T, H, W, C) -> (B, H', W', filters), or with
    `return_sequences` (B, T, H', W', filters) (channels_last; channels_first puts C after T).

    The step (equations in `lstmkit.cells.ConvLSTMCell`) convolves each frame with the kernel
    (`strides`, `padding`, `dilation_rate`) and the previous output with the recurrent kernel
    ("same" padding, stride 1). It runs through the sequence runner of every recurrent layer: on
    the CPU the fused kernels compute the time loop (an odd kernel size; the frames'
    convolution is one call for the whole sequence), elsewhere the reference loop.

    Weights, in order: kernel (kh, kw, C, 4·filters), recurrent_kernel (kh, kw, filters,
    4·filters), bias (4·filters,); gate blocks i, f, c, o (Keras's layout).

    Args:
        filters, kernel_size, strides, padding ("valid" / "same"), data_format, dilation_rate:
            As for `Conv2D`.
        activation, recurrent_activation, use_bias, unit_forget_bias, initializers, regularizers, constraints:
            As for `LSTM`.
        dropout: Fraction of each input frame dropped at training time (one mask per sequence).
        recurrent_dropout: Fraction of the previous output dropped where it enters the
            recurrent convolution (one mask per sequence).
        seed: Accepted for Keras compatibility; dropout draws from torch's generator.
        return_sequences, return_state, go_backwards: As for `LSTM`. A mask (B, T) of the
            steps keeps the state through masked steps (Keras's masking rule).
        stateful: Not supported (a ValueError).
        implementation: "auto" (the fused kernels where they can run), "fused", "reference", or
            None for the library default; lstmkit's own, as for `LSTM`.
    """

    rank = 2
    cell_settings: ConvLSTMSettings

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: activations.ActivationLike = "tanh",
        recurrent_activation: activations.ActivationLike = "sigmoid",
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
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        implementation: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        if stateful:
            raise ValueError(f"{type(self).__name__}(stateful=True) is not supported; carry the state yourself with "
                             "return_state=True and initial_state=")
        given = dict(locals())
        del given["data_format"]  # the layer's own, not a setting
        super().__init__(given, ConvLSTMSettings, rank=self.rank)
        self.data_format = sp.data_format(data_format)
        self.cell: ConvLSTMCell | None = None

    def _frame_shape(self, input_shape: Shape) -> Shape:
        """The shape of one frame batch, (B, *spatial, C) or (B, C, *spatial), without the time axis."""
        return (input_shape[0], *input_shape[2:])

    def check_input_shape(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 3:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} expects inputs of rank {self.rank + 3} "
                             f"(batch, time, {'rows, cols, channels' if self.data_format == 'channels_last' else 'channels, rows, cols'}), "
                             f"got shape {tuple(input_shape)}")
        frame = self._frame_shape(input_shape)
        chans = sp.channels(frame, self.data_format)
        if chans is None:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} needs a known number of channels, got {tuple(input_shape)}")
        if self.cell is not None and chans != self.cell.kernel.shape[-2]:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} was built for {self.cell.kernel.shape[-2]} channels, "
                             f"got input of shape {tuple(input_shape)}")
        if input_shape[1] == 0:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} needs at least one time step, got {tuple(input_shape)}")

    def build(self, input_shape: Shape) -> None:
        chans = int(sp.channels(self._frame_shape(input_shape), self.data_format))
        self.cell = ConvLSTMCell(chans, self.cell_settings)

    def _state_shape(self, input_shape: Shape) -> Shape:
        frame = self._frame_shape(input_shape)
        spatial = [sp.output_size(n, k, s, d, self.padding) for n, k, s, d in
                   zip(sp.spatial_shape(frame, self.data_format), self.kernel_size, self.strides, self.dilation_rate)]
        return sp.assemble(input_shape[0], spatial, self.filters, self.data_format)

    def compute_output_shape(self, input_shape: Shape) -> Any:
        state = self._state_shape(input_shape)
        output = (state[0], input_shape[1], *state[1:]) if self.return_sequences else state
        return [output, state, state] if self.return_state else output

    def compute_mask(self, x: Any, mask: Any) -> Any:
        output_mask = mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    def check_symbolic_call(self, input_shape: Any, argument_shapes: dict[str, Any]) -> None:
        states = argument_shapes.pop("initial_state", None)
        super().check_symbolic_call(input_shape, argument_shapes)
        if states is not None and (not isinstance(states, list) or len(states) != 2):
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes initial_state=[h, c], got {states!r}")

    def call(  # type: ignore[override]
        self, x: torch.Tensor, *, mask: torch.Tensor | None = None, training: bool = False,
        initial_state: Sequence[Any] | None = None,
    ) -> Any:
        cell = self.cell
        assert cell is not None
        x = x.to(cell.kernel.dtype)
        B, T = x.shape[:2]
        # the cell works channels last: frames (B, T, *S, C), states (B, *S', F)
        frames = sp.channels_last(x, self.data_format, axis=2)
        if initial_state is not None:
            h, c = (sp.channels_last(torch.as_tensor(s, dtype=x.dtype, device=x.device), self.data_format).contiguous()
                    for s in initial_state)
        else:
            h = c = zero_state((B, *cell.state_spatial(frames.shape[2:-1]), self.filters), dtype=x.dtype,
                               device=x.device)
        if mask is not None:
            mask = torch.as_tensor(mask, device=x.device).bool()
            if tuple(mask.shape) != (B, T):
                raise ValueError(f"{type(self).__name__} layer {self.name!r}: mask must have shape (batch, timesteps) = "
                                 f"{(B, T)}, got {tuple(mask.shape)}")
        output, (h, c) = run_sequence(cell, frames, (h, c), self.sequence, mask=mask, training=training,
                                      owner=f"{type(self).__name__} layer {self.name!r}")
        # output (B, T, *S', F) or (B, *S', F)
        output = sp.back_from_channels_last(output, self.data_format, axis=2 if self.return_sequences else 1)
        h, c = sp.back_from_channels_last(h, self.data_format), sp.back_from_channels_last(c, self.data_format)
        if self.activity_regularizer is not None:
            self.record_activity(output)
        if self.return_state:
            return [output, h, c]
        return output

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
