"""One contract for every layer: output shape, parameter count by formula, weights round trip,
an optimizer step, config round trip, and plain `torch.nn.Module` behaviour."""

import numpy as np
import pytest
import torch

import lstmkit.layers as L

B, T, D, U, V = 3, 5, 4, 6, 11

# (layer factory, input shape, parameter count from the published formula)
CASES = {
    "lstm": (lambda: L.LSTM(U), (B, T, D), 4 * U * (D + U + 1)),
    "lstm-no-bias": (lambda: L.LSTM(U, use_bias=False, return_sequences=True), (B, T, D), 4 * U * (D + U)),
    "cudnnlstm": (lambda: L.CuDNNLSTM(U), (B, T, D), 4 * U * (D + U + 2)),
    "gru": (lambda: L.GRU(U, return_sequences=True), (B, T, D), 3 * U * (D + U + 2)),
    "gru-reset-before": (lambda: L.GRU(U, reset_after=False), (B, T, D), 3 * U * (D + U + 1)),
    "simple-rnn": (lambda: L.SimpleRNN(U), (B, T, D), U * (D + U + 1)),
    "bidirectional-lstm": (lambda: L.Bidirectional(L.LSTM(U, return_sequences=True)), (B, T, D), 2 * 4 * U * (D + U + 1)),
    "bidirectional-gru-sum": (lambda: L.Bidirectional(L.GRU(U), merge_mode="sum"), (B, T, D), 2 * 3 * U * (D + U + 2)),
    "time-distributed-dense": (lambda: L.TimeDistributed(L.Dense(U)), (B, T, D), D * U + U),
    "dense": (lambda: L.Dense(U, activation="relu"), (B, D), D * U + U),
    "dense-3d": (lambda: L.Dense(U, use_bias=False), (B, T, D), D * U),
    "embedding": (lambda: L.Embedding(V, U), (B, T), V * U),
    "dropout": (lambda: L.Dropout(0.3), (B, T, D), 0),
    "masking": (lambda: L.Masking(0.0), (B, T, D), 0),
}


def make_input(layer, shape):
    if isinstance(layer, L.Embedding):
        return torch.randint(0, V, shape)
    return torch.randn(shape)


def built(name):
    factory, shape, _ = CASES[name]
    layer = factory()
    layer.ensure_built((None, *shape[1:]))
    return layer, shape


@pytest.mark.parametrize("name", CASES)
def test_output_shape_matches_compute_output_shape(name):
    layer, shape = built(name)
    y = layer(make_input(layer, shape))
    assert tuple(y.shape) == tuple(layer.compute_output_shape(shape))


@pytest.mark.parametrize("name", CASES)
def test_parameter_count_follows_the_formula(name):
    layer, _ = built(name)
    assert layer.count_params() == CASES[name][2]
    assert sum(p.numel() for p in layer.parameters()) == CASES[name][2]


@pytest.mark.parametrize("name", CASES)
def test_weights_round_trip(name):
    layer, _ = built(name)
    arrays = [np.random.default_rng(0).normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(arrays)
    for got, given in zip(layer.get_weights(), arrays):
        np.testing.assert_array_equal(got, given)


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n][2] > 0])
def test_one_optimizer_step_moves_every_weight(name):
    layer, shape = built(name)
    x = make_input(layer, shape)
    before = [w.copy() for w in layer.get_weights()]
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(x).square().mean() + layer(x).mean()
    loss.backward()
    optimizer.step()
    for old, new in zip(before, layer.get_weights()):
        assert not np.array_equal(old, new)


@pytest.mark.parametrize("name", CASES)
def test_config_round_trip_rebuilds_the_same_layer(name):
    layer, shape = built(name)
    clone = L.deserialize(L.serialize(layer))
    assert type(clone) is type(layer) and clone.name == layer.name
    clone.ensure_built((None, *shape[1:]))
    clone.set_weights(layer.get_weights())
    x = make_input(layer, shape)
    layer.eval(), clone.eval()
    torch.testing.assert_close(clone(x), layer(x))


@pytest.mark.parametrize("name", CASES)
def test_layer_is_a_torch_module(name):
    layer, shape = built(name)
    x = make_input(layer, shape)
    assert isinstance(layer, torch.nn.Module)
    state = layer.state_dict()
    fresh, _ = built(name)
    fresh.load_state_dict(state)
    layer.eval(), fresh.eval()
    torch.testing.assert_close(fresh(x), layer(x))
    layer.double()
    y = layer(x)
    # Layers with weights compute in their weights' dtype; weightless ones keep the input's.
    assert y.dtype == (torch.float64 if CASES[name][2] > 0 else x.dtype)


def test_sequential_inside_plain_pytorch_training_code():
    from lstmkit.models import Sequential

    model = Sequential([L.LSTM(8, input_shape=(T, D)), L.Dense(2)])
    head = torch.nn.Linear(2, 1)
    net = torch.nn.Sequential(model, head)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.randn(16, T, D), torch.randn(16, 1)
    first = None
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
    assert len(list(model.parameters())) == 5
    assert set(model.state_dict()) == {
        "layers.0.cell.kernel", "layers.0.cell.recurrent_kernel", "layers.0.cell.bias",
        "layers.1.kernel", "layers.1.bias",
    }


def test_trainable_false_freezes_weights():
    layer, _ = built("lstm")
    layer.trainable = False
    assert not any(p.requires_grad for p in layer.parameters())
    frozen = L.Dense(3, trainable=False)
    frozen.ensure_built((None, 4))
    assert not any(p.requires_grad for p in frozen.parameters())


def test_any_callable_is_an_activation():
    """SimpleRNN(1) with kernel 1, recurrent 0, bias 0 outputs activation(x_T)."""
    layer = L.SimpleRNN(1, activation=torch.sin)
    layer.ensure_built((None, 3, 1))
    layer.set_weights([[[1.0]], [[0.0]], [0.0]])
    x = torch.tensor([[[0.1], [0.2], [0.7]]])
    torch.testing.assert_close(layer(x), torch.sin(torch.tensor([[0.7]])))
