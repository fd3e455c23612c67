"""`tf.signal`: Fourier transforms of real signals (spectra for time-series features)."""

from __future__ import annotations

from typing import Any

import torch

from ._tensors import t

__all__ = ["rfft", "irfft", "fft", "ifft"]


def rfft(input_tensor: Any, fft_length: Any = None, name: str | None = None) -> torch.Tensor:
    """The discrete Fourier transform of real values along the last axis: `fft_length // 2 + 1`
    complex64 coefficients."""
    x = t(input_tensor).float()
    n = None if fft_length is None else int(t(fft_length).reshape(-1)[0])
    return torch.fft.rfft(x, n=n, dim=-1).to(torch.complex64)


def irfft(input_tensor: Any, fft_length: Any = None, name: str | None = None) -> torch.Tensor:
    n = None if fft_length is None else int(t(fft_length).reshape(-1)[0])
    return torch.fft.irfft(t(input_tensor), n=n, dim=-1).float()


def fft(input: Any, name: str | None = None) -> torch.Tensor:
    return torch.fft.fft(t(input), dim=-1)


def ifft(input: Any, name: str | None = None) -> torch.Tensor:
    return torch.fft.ifft(t(input), dim=-1)
