"""On a CUDA machine: the same model on the GPU gives the CPU's numbers. Skipped without a GPU."""

import numpy as np
import pytest
import torch

import lstmkit.layers as L
from lstmkit.models import Sequential

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def model_with_everything():
    return Sequential([
        L.Input(shape=(12,), dtype="int32"),
        L.Embedding(30, 8, mask_zero=True),
        L.Bidirectional(L.LSTM(16, return_sequences=True)),
        L.GRU(12, return_sequences=True, go_backwards=True),
        L.TimeDistributed(L.Dense(6, activation="relu")),
        L.SimpleRNN(5),
        L.Dense(3, activation="softmax"),
    ])


def ids():
    x = np.random.default_rng(0).integers(1, 30, size=(40, 12))
    x[::3, 8:] = 0
    x[1::4, :3] = 0
    return x


def test_gpu_predictions_match_cpu():
    model = model_with_everything()
    expected = model.predict(ids())
    model.to("cuda")
    assert all(p.is_cuda for p in model.parameters())
    np.testing.assert_allclose(model.predict(ids()), expected, atol=1e-5, rtol=0)


def test_late_build_after_cuda_creates_weights_on_the_gpu():
    model = Sequential([L.LSTM(4), L.Dense(2)]).cuda()
    out = model(torch.randn(3, 5, 2, device="cuda"))
    assert out.is_cuda and all(p.is_cuda for p in model.parameters())


def test_gpu_gradients_match_cpu_in_float64():
    cpu = model_with_everything().double()
    gpu = model_with_everything().double()
    gpu.set_weights(cpu.get_weights())
    gpu.to("cuda")
    x = torch.as_tensor(ids())
    for model, data in ((cpu, x), (gpu, x.cuda())):
        model.train(False)
        model(data).square().sum().backward()
    for p_cpu, p_gpu in zip(cpu.parameters(), gpu.parameters()):
        torch.testing.assert_close(p_gpu.grad.cpu(), p_cpu.grad, rtol=1e-9, atol=1e-9)
