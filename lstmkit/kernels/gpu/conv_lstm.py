"""The convolutional LSTM on the GPU: the LSTM's Triton kernels (lstm.py) over channels-last rows,
each position of a sample's feature map a row of F units, with the recurrent product a
convolution (cuDNN, through torch) of each sample's rows; the counterpart of csrc/conv_lstm.h.

Its input term arrives computed (x (T, B, *S, 4F), the cell's convolution of every frame, whose
backward autograd takes), so the loop takes no W and returns the term's gradient as x's; U is the
recurrent kernel in torch's layout (4F, F, *k), odd sizes, "same" padding, stride 1.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from . import loop
from .lstm import LSTM


class ConvLSTM(LSTM):
    names = loop.CellNames(inputs=(), saved=("Z", "A", "CN", "PC"), ints=("act", "ract"), floats=())
    projected = True

    def __init__(self, seq: loop.Sequence, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> None:
        plain = dict(peephole=0, layer_norm=0, clip=0, eps=0.0, zoneout=0.0, cell_clip=0.0)  # the LSTM's, all off
        super().__init__(seq, tensors, {**options, **plain})
        rank = seq.U.dim() - 2
        layout = {2: torch.channels_last, 3: torch.channels_last_3d}.get(rank, torch.contiguous_format)
        self.weight = seq.U.float().contiguous(memory_format=layout)
        self.rank = rank
        self.conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[rank - 1]
        self.pads = [k // 2 for k in seq.U.shape[2:]]
        self.spatial = seq.spatial
        self.samples = seq.B // max(1, math.prod(seq.spatial))

    def frames(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        """Rows of n samples (n·S, C) as the channels-first view (n, C, *S) of channels-last memory."""
        return rows.reshape(n, *self.spatial, rows.shape[-1]).movedim(-1, 1)

    def input_term(self, seq: loop.Sequence) -> torch.Tensor:
        """Given: x is the input term."""
        return seq.x

    def _convolution_backward(self, grad: torch.Tensor, hin: torch.Tensor, n: int, mask: list[bool]) -> tuple[Any, ...]:
        ones, zeros = [1] * self.rank, [0] * self.rank
        return torch.ops.aten.convolution_backward(self.frames(grad, n), self.frames(hin, n), self.weight, None, ones,
                                                   self.pads, ones, False, zeros, 1, mask)

    def forward_step(self, seq: loop.Sequence, t: int) -> None:
        hu = self.conv(self.frames(seq.hin[t], self.samples), self.weight, padding=self.pads)  # (B, 4F, *S)
        self.rec.view(self.samples, *self.spatial, -1).copy_(hu.movedim(1, -1))
        super().launch_forward(seq, t)

    def backward_step(self, seq: loop.Sequence, t: int) -> None:
        super().launch_backward(seq, t)
        grad_in = self._convolution_backward(self.DR[t], seq.hin[t], self.samples, [True, False, False])[0]
        seq.back.view(self.samples, *self.spatial, -1).copy_(grad_in.movedim(1, -1))

    def finish_backward(self, seq: loop.Sequence, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        T = seq.T
        grads["U"] = self._convolution_backward(self.DR.reshape(-1, 4 * seq.H), seq.hin[:T].reshape(-1, seq.H),
                                                T * self.samples, [False, True, False])[1].contiguous()
        return self.DZ
