"""Initializers, regularizers and constraints against their definitions."""

import math

import pytest
import torch

import lstmkit.layers as L
from lstmkit import constraints, initializers, regularizers


@pytest.mark.parametrize("shape", [(64, 256), (256, 64), (32, 32)])
def test_orthogonal_has_orthonormal_rows_or_columns(shape):
    w = initializers.get("orthogonal")(shape, torch.float64)
    rows, cols = shape
    gram = w @ w.T if rows <= cols else w.T @ w
    torch.testing.assert_close(gram, torch.eye(min(shape), dtype=torch.float64), atol=1e-10, rtol=0)


def test_glorot_uniform_limit_and_variance():
    fan_in, fan_out = 300, 500
    w = initializers.get("glorot_uniform")((fan_in, fan_out), torch.float64)
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert w.abs().max() <= limit
    assert abs(w.var().item() - 2 / (fan_in + fan_out)) < 0.05 * 2 / (fan_in + fan_out)


@pytest.mark.parametrize("name, variance", [("he_normal", lambda i, o: 2 / i), ("glorot_normal", lambda i, o: 2 / (i + o)),
                                            ("lecun_normal", lambda i, o: 1 / i), ("he_uniform", lambda i, o: 2 / i)])
def test_variance_scaling_family(name, variance):
    w = initializers.get(name)((400, 600), torch.float64)
    assert abs(w.var().item() / variance(400, 600) - 1) < 0.05


def test_embedding_uniform_range_and_unit_forget_bias():
    table = initializers.get("uniform")((1000, 10), torch.float32)
    assert table.min() >= -0.05 and table.max() <= 0.05
    layer = L.LSTM(3)
    layer.ensure_built((None, 2, 4))
    assert layer.get_weights()[2].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    layer = L.LSTM(3, unit_forget_bias=False)
    layer.ensure_built((None, 2, 4))
    assert not layer.get_weights()[2].any()
    cudnn = L.CuDNNLSTM(3)
    cudnn.ensure_built((None, 2, 4))
    assert cudnn.get_weights()[2].tolist() == [0] * 15 + [1, 1, 1] + [0] * 6  # Keras 2: recurrent half's forget block


def test_callable_initializer_and_wrong_shape():
    layer = L.Dense(2, kernel_initializer=lambda shape, dtype: torch.full(shape, 0.5, dtype=dtype))
    layer.ensure_built((None, 3))
    assert (layer.get_weights()[0] == 0.5).all()
    bad = L.Dense(2, kernel_initializer=lambda shape, dtype: torch.zeros(1))
    with pytest.raises(ValueError, match=r"returned shape \(1,\), expected \(3, 2\)"):
        bad.ensure_built((None, 3))


def test_regularizers_add_their_penalties_to_losses():
    layer = L.Dense(2, kernel_regularizer=regularizers.l1_l2(l1=0.1, l2=0.2), bias_regularizer="l2")
    layer.ensure_built((None, 3))
    layer.set_weights([torch.tensor([[1.0, -2.0], [0.0, 3.0], [1.0, 1.0]]), torch.tensor([1.0, 2.0])])
    # kernel: 0.1 * (1+2+0+3+1+1) + 0.2 * (1+4+0+9+1+1); bias: 0.01 * (1+4)
    expected = 0.1 * 8 + 0.2 * 16 + 0.01 * 5
    assert sum(layer.losses).item() == pytest.approx(expected)


def test_recurrent_regularizers_and_activity_penalty():
    layer = L.SimpleRNN(2, recurrent_regularizer=regularizers.l2(0.5), activity_regularizer=regularizers.l1(1.0),
                        activation="linear")
    layer.ensure_built((None, 1, 1))
    layer.set_weights([[[2.0, -1.0]], [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]])
    layer(torch.tensor([[[1.0]], [[3.0]]]))  # outputs [2, -1] and [6, -3]
    penalties = [p.item() for p in layer.losses]
    assert penalties == pytest.approx([0.5 * 2.0, (3 + 9) / 2])  # activity penalty is divided by the batch size


def test_constraints_project_weights():
    w = torch.tensor([[3.0, 0.0], [4.0, -1.0]])
    torch.testing.assert_close(constraints.max_norm(2.0)(w), torch.tensor([[1.2, 0.0], [1.6, -1.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(constraints.unit_norm()(w), torch.tensor([[0.6, 0.0], [0.8, -1.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(constraints.non_neg()(w), torch.tensor([[3.0, 0.0], [4.0, 0.0]]))
    layer = L.LSTM(2, kernel_constraint="non_neg")
    layer.ensure_built((None, 3, 2))
    layer.apply_constraints()
    assert (layer.get_weights()[0] >= 0).all()
    assert (layer.get_weights()[1] < 0).any()  # the recurrent kernel is left alone
