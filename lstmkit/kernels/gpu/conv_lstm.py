"""The convolutional LSTM on the GPU: the LSTM's Triton kernels (lstm.py) over channels-last rows,
each position of a sample's feature map a row of F units, with the recurrent product a
convolution (cuDNN, through torch) of each sample's rows; the counterpart of csrc/conv_lstm.h.

It takes the padded frames x (T, B, *S_in, C) and runs the input convolution W ⋆ x (W (4F, C, *k),
unpadded, the options' strides and dilation) over every frame before the loop, and its backward
after it; U is the recurrent kernel in torch's layout (4F, F, *k), odd sizes, "same" padding,
stride 1.
"""

import math
from typing import Any

import torch

from . import loop
from .lstm import LSTM


class ConvLSTM(LSTM):
    names = loop.CellNames(inputs=(), saved=("Z", "A", "CN", "PC"),
                           ints=("act", "ract", "stride0", "stride1", "stride2", "dilation0", "dilation1", "dilation2"),
                           floats=())
    spatial = True
    sequence_kernel = False  # its recurrent product is a convolution (cuDNN), a launch per step

    def __init__(self, seq: loop.Sequence, tensors: dict[str, torch.Tensor], options: dict[str, Any]) -> None:
        plain = dict(peephole=0, layer_norm=0, clip=0, eps=0.0, zoneout=0.0, cell_clip=0.0)  # the LSTM's, all off
        super().__init__(seq, tensors, {**options, **plain})
        rank = seq.U.dim() - 2
        layout = {2: torch.channels_last, 3: torch.channels_last_3d}.get(rank, torch.contiguous_format)
        self.weight = seq.U.float().contiguous(memory_format=layout)
        self.rank = rank
        self.conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[rank - 1]
        self.pads = [k // 2 for k in seq.U.shape[2:]]
        self.positions = seq.spatial
        self.samples = seq.B // max(1, math.prod(seq.spatial))
        self.frames_shape = tuple(tensors["x"].shape)  # (T, B, *S_in, C)
        self.input_weight = seq.W.float().contiguous(memory_format=layout)
        self.strides = [int(options[f"stride{d}"]) for d in range(rank)]
        self.dilation = [int(options[f"dilation{d}"]) for d in range(rank)]

    def frames(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        """Rows of n samples (n·S, C) as the channels-first view (n, C, *S) of channels-last memory."""
        return rows.reshape(n, *self.positions, rows.shape[-1]).movedim(-1, 1)

    def input_frames(self, seq: loop.Sequence) -> torch.Tensor:
        """x as the channels-first view (T·B, C, *S_in) of its channels-last frames."""
        T, B, *spatial, C = self.frames_shape
        return seq.x.reshape(T * B, *spatial, C).movedim(-1, 1)

    def input_term(self, seq: loop.Sequence, with_bias: bool) -> torch.Tensor:
        """W ⋆ x (+ b) for every frame, (T, B·S, 4F)."""
        zeros = [0] * self.rank
        bias = seq.b.float() if with_bias and seq.b is not None else None
        xw = self.conv(self.input_frames(seq), self.input_weight, bias, self.strides, zeros, self.dilation)
        return xw.movedim(1, -1).reshape(seq.T, seq.B, 4 * seq.H)

    def project_backward(self, seq: loop.Sequence, dxw: torch.Tensor, grads: dict[str, torch.Tensor],
                         need_dx: bool) -> None:
        """W's, b's and (need_dx) the frames' gradients from dxw (T, B·S, 4F), into grads."""
        zeros = [0] * self.rank
        frames = self.input_frames(seq)
        dz = self.frames(dxw.reshape(-1, 4 * seq.H), frames.shape[0])
        has_bias = seq.b is not None
        dx, dw, db = torch.ops.aten.convolution_backward(dz, frames, self.input_weight, [4 * seq.H] if has_bias else None,
                                                         self.strides, zeros, self.dilation, False, zeros, 1,
                                                         [need_dx, True, has_bias])
        grads["W"] = dw.contiguous()
        if has_bias:
            grads["b"] = db
        if need_dx:
            grads["x"] = dx.movedim(1, -1).reshape(self.frames_shape)

    def _convolution_backward(self, grad: torch.Tensor, hin: torch.Tensor, n: int, mask: list[bool]) -> tuple[Any, ...]:
        ones, zeros = [1] * self.rank, [0] * self.rank
        return torch.ops.aten.convolution_backward(self.frames(grad, n), self.frames(hin, n), self.weight, None, ones,
                                                   self.pads, ones, False, zeros, 1, mask)

    def forward_step(self, seq: loop.Sequence, t: int) -> None:
        hu = self.conv(self.frames(seq.hin[t], self.samples), self.weight, padding=self.pads)  # (B, 4F, *S)
        self.rec.view(self.samples, *self.positions, -1).copy_(hu.movedim(1, -1))
        super().launch_forward(seq, t)

    def backward_step(self, seq: loop.Sequence, t: int) -> None:
        super().launch_backward(seq, t)
        grad_in = self._convolution_backward(self.DR[t], seq.hin[t], self.samples, [True, False, False])[0]
        seq.back.view(self.samples, *self.positions, -1).copy_(grad_in.movedim(1, -1))

    def finish_backward(self, seq: loop.Sequence, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        T = seq.T
        grads["U"] = self._convolution_backward(self.DR.reshape(-1, 4 * seq.H), seq.hin[:T].reshape(-1, seq.H),
                                                T * self.samples, [False, True, False])[1].contiguous()
        return self.DZ
