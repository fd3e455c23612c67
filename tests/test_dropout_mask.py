"""Dropout masks from the compiled kernels' counter-based generator (csrc/dropout.h), which the
Dropout layers and the recurrent layers' dropout draw from on the CPU."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit import kernels
from lstmkit.kernels import build
from lstmkit.layers import Dropout

pytestmark = pytest.mark.skipif(not build.load(), reason=f"fused kernels unavailable: {build.failure()}")

N = 1_000_000


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_and_the_share_kept(p, dtype):
    mask = kernels.dropout_mask((1000, 1000), p, torch.zeros(1, dtype=dtype))
    assert mask.dtype == dtype and mask.shape == (1000, 1000)
    values = mask.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p))
    kept = (mask != 0).double().mean().item()
    sigma = math.sqrt(p * (1 - p) / N)
    assert abs(kept - (1 - p)) < 5 * sigma, kept
    assert abs(mask.double().mean().item() - 1) < 5 * sigma / (1 - p)  # unbiased: E[mask] = 1


def test_neighbours_are_uncorrelated():
    mask = (kernels.dropout_mask((N,), 0.5, torch.zeros(1)) != 0).double()
    centred = mask - mask.mean()
    for lag in (1, 2, 7, 64):
        corr = (centred[:-lag] * centred[lag:]).mean() / centred.var()
        assert abs(corr.item()) < 5 / math.sqrt(N), (lag, corr)


def test_repeatable_with_torchs_seed_and_new_at_each_call():
    like = torch.zeros(1)
    torch.manual_seed(7)
    a, b = kernels.dropout_mask((5000,), 0.3, like), kernels.dropout_mask((5000,), 0.3, like)
    torch.manual_seed(7)
    assert torch.equal(a, kernels.dropout_mask((5000,), 0.3, like))
    assert not torch.equal(a, b)


def test_the_same_seed_gives_the_same_mask_on_any_number_of_threads():
    threads = torch.get_num_threads()
    try:
        masks = []
        for n in (1, 2, 4):
            torch.set_num_threads(n)
            masks.append(torch.ops.lstmkit_fused.dropout_mask([300_000], torch.float32, 0.4, 12345))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(masks[0], m) for m in masks[1:])


def test_a_rate_out_of_range_is_refused():
    with pytest.raises(RuntimeError, match="p must be in"):
        torch.ops.lstmkit_fused.dropout_mask([10], torch.float32, 1.0, 0)


def test_the_dropout_layer_keeps_its_expectation_and_passes_gradients():
    x = torch.full((400, 500), 2.0, requires_grad=True)
    y = Dropout(0.25)(x, training=True)
    values = y.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(2 / 0.75)
    assert abs(y.mean().item() - 2.0) < 0.02
    y.sum().backward()
    assert torch.equal(x.grad, y.detach() / 2)
