"""Bad input gets a ValueError or TypeError whose message names the argument and the value."""

import numpy as np
import pytest
import torch

import lstmkit.layers as L
from lstmkit.models import Sequential


@pytest.mark.parametrize("cls", [L.LSTM, L.GRU, L.SimpleRNN, L.Dense, L.CuDNNLSTM])
@pytest.mark.parametrize("units", [0, -3, 2.5, "8", None, True])
def test_units_must_be_a_positive_integer(cls, units):
    with pytest.raises(ValueError, match=rf"units={units!r}"):
        cls(units)


@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_unknown_activation_names_the_value_and_lists_known_ones(argument):
    with pytest.raises(ValueError, match=r"Unknown activation 'tanhh'.*Known names: .*sigmoid"):
        L.LSTM(4, **{argument: "tanhh"})


def test_unknown_initializer_and_bad_merge_mode():
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        L.GRU(4, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="merge_mode='avg'"):
        L.Bidirectional(L.LSTM(3), merge_mode="avg")
    with pytest.raises(ValueError, match="Bidirectional wraps a recurrent layer"):
        L.Bidirectional(L.Dense(3))
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'"):
        L.Dense(3, kernel_regularizer="l3")


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 5), (7,)])
def test_recurrent_layer_rejects_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, timesteps, features\), got a \d-D input"):
        L.LSTM(3)(torch.zeros(shape))


def test_wrong_feature_size_after_build():
    layer = L.LSTM(3)
    layer(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"built for 4 features .* with 6"):
        layer(torch.zeros(2, 5, 6))
    dense = L.Dense(2)
    dense(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(1, 3\).*axis -1 has 5, not 3"):
        dense(torch.zeros(1, 5))


def test_model_checks_declared_input_shape():
    model = Sequential([L.Input(shape=(28, 28)), L.LSTM(4)])
    with pytest.raises(ValueError, match=r"expects x of shape \(None, 28, 28\).*got x of shape \(2, 28, 27\)"):
        model.predict(np.zeros((2, 28, 27)))
    with pytest.raises(ValueError, match=r"got x of shape \(28, 28\)"):
        model.predict(np.zeros((28, 28)))
    with pytest.raises(ValueError, match=r"got x of shape \(2, 30, 28\)"):
        model.predict(np.zeros((2, 30, 28)))  # longer sequences than the Input declares


def test_non_numeric_and_ragged_input():
    model = Sequential([L.Input(shape=(3, 2)), L.LSTM(2)])
    with pytest.raises(TypeError, match="dtype <U"):
        model.predict(np.array([[["a", "b"]] * 3]))
    with pytest.raises(TypeError, match="ragged"):
        model.predict([[[1.0, 2.0]], [[1.0, 2.0], [3.0, 4.0]]])


@pytest.mark.parametrize(
    "weights, message",
    [
        ([np.zeros((3, 8)), np.zeros((2, 8))], r"expects 3 weight arrays .* got 2 arrays"),
        ([np.zeros((3, 8)), np.zeros((2, 8)), np.zeros((8,)), np.zeros((8,))], r"expects 3 weight arrays .* got 4"),
        ([np.zeros((8, 3)), np.zeros((2, 8)), np.zeros((8,))], r"weight 0 \(cell.kernel\) expects shape \(3, 8\), got \(8, 3\)"),
        ([np.zeros((3, 8)), np.zeros((2, 8)), np.zeros((6,))], r"weight 2 \(cell.bias\) expects shape \(8,\), got \(6,\)"),
    ],
)
def test_set_weights_names_layer_and_shapes(weights, message):
    layer = L.LSTM(2, name="encoder")
    layer.ensure_built((None, 5, 3))
    with pytest.raises(ValueError, match=message) as info:
        layer.set_weights(weights)
    assert "'encoder'" in str(info.value)


def test_model_set_weights_count_mismatch_lists_layers():
    model = Sequential([L.Input(shape=(5, 3)), L.LSTM(2), L.Dense(1)])
    with pytest.raises(ValueError, match=r"expects 5 weight arrays \(lstm: 3, dense: 2\), got 4"):
        model.set_weights(model.get_weights()[:4])


def test_set_weights_before_build():
    with pytest.raises(ValueError, match="not built yet"):
        L.LSTM(2).set_weights([])


def test_embedding_ids_out_of_range_and_non_integers():
    layer = L.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"got id 7, outside \[0, input_dim=5\)"):
        layer(torch.tensor([[1, 7]]))
    with pytest.raises(ValueError, match=r"got id -1"):
        layer(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="integer ids"):
        layer(torch.tensor([[0.5, 1.0]]))


def test_masks_and_states_of_the_wrong_shape():
    layer = L.LSTM(3)
    x = torch.zeros(2, 5, 4)
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, timesteps\) = \(2, 5\), got \(2, 4\)"):
        layer(x, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"expects 2 initial state tensor\(s\)"):
        layer(x, initial_state=[torch.zeros(2, 3)])
    with pytest.raises(ValueError, match=r"each initial state must have shape \(2, 3\), got \(2, 4\)"):
        layer(x, initial_state=[torch.zeros(2, 4), torch.zeros(2, 4)])


def test_stateful_batch_size_change():
    layer = L.GRU(3, stateful=True)
    layer(torch.zeros(4, 5, 2))
    with pytest.raises(ValueError, match="holds states for batch size 4, got a batch of 3"):
        layer(torch.zeros(3, 5, 2))
    layer.reset_states()
    with pytest.raises(ValueError, match="not stateful"):
        L.GRU(3).reset_states()


def test_sequential_structure_errors():
    with pytest.raises(TypeError, match="expects an lstmkit layer, got Linear"):
        Sequential([torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="Input can only be the first"):
        Sequential([L.Dense(2, input_shape=(3,)), L.Input(shape=(3,))])
    with pytest.raises(ValueError, match="returns several tensors"):
        Sequential([L.LSTM(2, return_state=True, input_shape=(3, 2)), L.Dense(1)])
    with pytest.raises(ValueError, match="no layers"):
        Sequential()(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="exactly one of shape= or batch_shape="):
        L.Input()
    with pytest.raises(ValueError, match=r"input_shape=\(0, 3\)"):
        L.LSTM(2, input_shape=(0, 3))
    with pytest.raises(ValueError, match="Pass only one of input_shape, batch_input_shape, input_dim"):
        L.Dense(2, input_shape=(3,), input_dim=3)


def test_empty_sequences_are_refused():
    with pytest.raises(ValueError, match="at least one time step"):
        L.LSTM(2)(torch.zeros(2, 0, 3))
