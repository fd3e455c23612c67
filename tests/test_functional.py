"""The functional API's behaviour beyond Keras parity: building, sharing, nesting, files,
summaries, and the errors a graph or its data can have."""

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest
import torch

import lstmkit
import lstmkit.layers as L
from lstmkit.models import Model, Sequential, load_model

rng = np.random.default_rng(5)


def seq2seq():
    enc_in, dec_in = lstmkit.Input(shape=(None, 5), name="enc"), lstmkit.Input(shape=(None, 6), name="dec")
    _, h, c = L.LSTM(8, return_state=True)(enc_in)
    out = L.LSTM(8, return_sequences=True)(dec_in, initial_state=[h, c])
    return Model([enc_in, dec_in], L.Dense(6, activation="softmax")(out))


def seq2seq_data(n=10):
    return [rng.normal(size=(n, 5, 5)).astype("float32"), rng.normal(size=(n, 4, 6)).astype("float32")]


def summary_of(model):
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        model.summary()
    return text.getvalue()


def test_sequential_is_a_model_and_a_layer_of_a_graph():
    stack = Sequential([lstmkit.Input(shape=(7, 4)), L.LSTM(5), L.Dense(3)])
    assert isinstance(stack, Model) and isinstance(stack, L.Layer)
    inputs = lstmkit.Input(shape=(7, 4))
    outer = Model(inputs, L.Dense(2)(stack(inputs)))
    x = rng.normal(size=(6, 7, 4)).astype("float32")
    expected = outer.layers[-1](torch.as_tensor(stack.predict(x))).detach().numpy()
    np.testing.assert_allclose(outer.predict(x), expected, atol=1e-6)
    assert outer.count_params() == stack.count_params() + 3 * 2 + 2
    # the stack's own symbolic input and output, as Keras gives them
    sub = Model(stack.input, stack.layers[0].output)
    np.testing.assert_allclose(sub.predict(x), stack.layers[0](torch.as_tensor(x)).detach().numpy(), atol=1e-6)


def test_a_model_called_twice_shares_its_weights():
    step_in = lstmkit.Input(shape=(4,))
    step = Model(step_in, L.Dense(3)(step_in))
    a, b = lstmkit.Input(shape=(4,)), lstmkit.Input(shape=(4,))
    both = Model([a, b], L.subtract([step(a), step(b)]))
    assert both.count_params() == step.count_params() == 15
    x = rng.normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(both.predict([x, x]), np.zeros((5, 3)), atol=1e-6)
    # one set of weights: training through both calls changes the one Dense
    both.compile("sgd", "mse")
    both.fit([x, x + 1], np.ones((5, 3), dtype="float32"), epochs=1, verbose=0)
    np.testing.assert_allclose(both.get_weights()[0], step.get_weights()[0])


def test_data_by_input_name_and_output_dicts():
    model = seq2seq()
    x = seq2seq_data()
    np.testing.assert_allclose(model.predict({"enc": x[0], "dec": x[1]}), model.predict(x), atol=0)
    inputs = lstmkit.Input(shape=(3,))
    named = Model(inputs, {"a": L.Dense(2)(inputs), "b": L.Dense(1)(inputs)})
    out = named.predict(np.ones((4, 3), dtype="float32"))
    assert sorted(out) == ["a", "b"] and out["a"].shape == (4, 2) and out["b"].shape == (4, 1)
    assert named.output_names == ["a", "b"]


@pytest.mark.parametrize("bad, message", [
    ({"enc": 0}, r"missing: \['dec'\]"),
    ([np.zeros((2, 5, 5), "float32")], r"a list of 1, but the model has 2 inputs"),
])
def test_data_that_does_not_fit_the_inputs_is_refused_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        seq2seq().predict(bad)


def test_targets_dict_with_a_missing_or_extra_output_is_refused():
    inputs = lstmkit.Input(shape=(3,))
    model = Model(inputs, [L.Dense(2, name="a")(inputs), L.Dense(1, name="b")(inputs)])
    model.compile("sgd", loss="mse")
    x = np.ones((4, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"missing: \['b'\]"):
        model.fit(x, {"a": np.ones((4, 2))}, verbose=0)
    with pytest.raises(ValueError, match=r"not outputs of the model: \['c'\]"):
        model.fit(x, {"a": np.ones((4, 2)), "b": np.ones((4, 1)), "c": np.ones((4, 1))}, verbose=0)
    with pytest.raises(ValueError, match=r"loss names \['c'\], which are not outputs"):
        model.compile("sgd", loss={"c": "mse"})


def test_save_load_and_config_round_trip_of_a_graph(tmp_path):
    model = seq2seq()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = seq2seq_data(), rng.integers(0, 6, size=(10, 4))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.lstmkit")
    loaded = load_model(tmp_path / "m.lstmkit")
    assert type(loaded) is Model and loaded.input_names == ["enc", "dec"]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # the optimizer state came back: one more step from both is the same step
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    clone = Model.from_config(model.get_config())
    assert [type(l).__name__ for l in clone.layers] == [type(l).__name__ for l in model.layers]
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), model.predict(x), atol=1e-6)


def test_a_shared_layer_and_a_nested_model_survive_saving(tmp_path):
    step_in = lstmkit.Input(shape=(4,))
    step = Model(step_in, L.Dense(4, activation="tanh")(step_in), name="step")
    a, b = lstmkit.Input(shape=(9,), dtype="int32"), lstmkit.Input(shape=(7, 4))
    embed = L.Embedding(10, 4, mask_zero=True)
    encode = L.LSTM(5)
    joined = L.concatenate([encode(embed(a)), encode(L.TimeDistributed(step)(b))])
    model = Model([a, b], L.Dense(1)(joined))
    x = [rng.integers(0, 10, size=(6, 9)), rng.normal(size=(6, 7, 4)).astype("float32")]
    model.save(tmp_path / "m.lstmkit")
    loaded = load_model(tmp_path / "m.lstmkit")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.count_params() == model.count_params()


def test_lambda_runs_is_summarised_and_loads_only_with_its_function(tmp_path):
    inputs = lstmkit.Input(shape=(5, 3))
    last = L.Lambda(lambda t: t[:, -1] * 2.0)(inputs)
    assert last.shape == (None, 3)
    model = Model(inputs, L.Dense(2)(last))
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    dense = model.layers[-1]
    expected = dense(torch.as_tensor(x[:, -1] * 2.0)).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-6)
    assert "lambda (Lambda)" in summary_of(model)
    model.save(tmp_path / "m.lstmkit")
    with pytest.raises(ValueError, match=r"uses the function 'lambda'; pass custom_objects"):
        load_model(tmp_path / "m.lstmkit")
    loaded = load_model(tmp_path / "m.lstmkit", custom_objects={"lambda": lambda t: t[:, -1] * 2.0})
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_summary_has_the_graph_columns():
    text = summary_of(seq2seq())
    assert "Connected to" in text and "enc (InputLayer)" in text
    assert "lstm[0][1]" in text and "lstm[0][2]" in text and "dec[0][0]" in text
    assert "[(None, 8), (None, 8), (None, 8)]" in text


def test_get_layer_by_name_and_index():
    model = seq2seq()
    assert model.get_layer("enc") is model.layers[0]
    assert model.get_layer(index=-1) is model.layers[-1]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="exactly one of"):
        model.get_layer()


def test_import_training_does_not_import_models():
    code = "import sys, lstmkit.training; print('lstmkit.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda a, b: L.concatenate([a, b]), r"Concatenate layer 'concatenate' .*\(None, 7, 4\).*\(None, 6, 4\).*axis 1"),
    (lambda a, b: L.add([a, b]), r"Add layer 'add' .*\(None, 7, 4\).*\(None, 6, 4\).*axis 1"),
    (lambda a, b: L.Dot(axes=2)([a, L.Dense(3)(b)]), r"Dot layer 'dot'.*\(None, 7, 4\).*axis 2.*\(None, 6, 3\)"),
])
def test_incompatible_shapes_name_the_layer_both_shapes_and_the_axis(build, message):
    with pytest.raises(ValueError, match=message):
        build(lstmkit.Input(shape=(7, 4)), lstmkit.Input(shape=(6, 4)))


def test_a_built_layer_called_on_another_feature_size_says_the_axis():
    dense = L.Dense(2)
    dense(lstmkit.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"Dense layer 'dense' was built for inputs of shape \(None, 4\).*\(None, 5\): axis -1"):
        dense(lstmkit.Input(shape=(5,)))
    with pytest.raises(ValueError, match=r"initial_state\[0\] must have shape \(batch, 8\), got \(None, 3\)"):
        L.LSTM(8)(lstmkit.Input(shape=(None, 4)), initial_state=[lstmkit.Input(shape=(3,)), lstmkit.Input(shape=(8,))])


def test_outputs_that_do_not_depend_on_the_inputs_are_refused():
    a, b = lstmkit.Input(shape=(3,)), lstmkit.Input(shape=(3,), name="other")
    with pytest.raises(ValueError, match=r"output 0 .* does not depend on any of the model's inputs.*'other'"):
        Model(a, L.Dense(2)(b))


def test_an_input_used_but_not_listed_is_refused():
    a, b = lstmkit.Input(shape=(3,)), lstmkit.Input(shape=(3,), name="forgotten")
    with pytest.raises(ValueError, match=r"uses the input\(s\) 'forgotten' .*not among its inputs"):
        Model(a, L.add([a, b]))


def test_two_layers_with_one_name_are_refused_and_nothing_is_renamed():
    a = lstmkit.Input(shape=(3,))
    first, second, third = L.Dense(2, name="same"), L.Dense(2, name="same"), L.Dense(2)
    out = L.add([first(a), second(a), third(a), L.Dense(2)(a)])
    with pytest.raises(ValueError, match=r"two layers named 'same'"):
        Model(a, out)
    assert third.name == "dense" and out.layer.name == "add"


def test_automatic_names_are_made_unique_in_one_pass_as_by_the_rule():
    """The rule: a layer named by the user keeps its name; every other layer, in order, takes its
    name if free, else the first free of name_1, name_2, ... Checked against the rule written out
    (a search from 1 for each layer) on random names, given ones among them that take suffixed
    names first."""
    import random
    from types import SimpleNamespace

    def by_the_rule(layers):
        taken, renames = {lay.name for lay in layers if lay._given_name}, []
        for lay in layers:
            if lay._given_name:
                continue
            name, n = lay.name, 1
            while name in taken:
                name, n = f"{lay.name}_{n}", n + 1
            taken.add(name)
            if name != lay.name:
                renames.append((lay, name))
        return renames

    rng = random.Random(0)
    for _ in range(200):
        layers = [SimpleNamespace(name=rng.choice(["dense", "dense_1", "dense_2", "lstm", "lstm_1_1", "lstm_1"]),
                                  _given_name=rng.random() < 0.2) for _ in range(rng.randrange(1, 30))]
        given = [lay.name for lay in layers if lay._given_name]
        if len(given) != len(set(given)):
            continue  # two given names alike are refused (above)
        assert Model._unique_layer_names(layers, "m") == by_the_rule(layers)


def test_a_cycle_is_refused():
    """Symbolic tensors never change, so no public call makes a cycle; a graph edited by hand
    (here: a node rewired to read its own output) must still be refused, not loop forever."""
    a = lstmkit.Input(shape=(3,))
    h = L.Dense(3)(a)
    out = L.Dense(3)(h)
    h.node.args = out  # h is now computed from out, which is computed from h
    with pytest.raises(ValueError, match="cycle"):
        Model(a, out)


def test_symbolic_tensors_cannot_be_used_as_data():
    x = lstmkit.Input(shape=(3,))
    with pytest.raises(TypeError, match="cannot be unpacked"):
        first, second = x
    with pytest.raises(TypeError, match="no truth value"):
        bool(x)
    with pytest.raises(TypeError, match="must be symbolic tensors"):
        Model(x, L.Dense(2))


def test_keras_1_input_and_output_names_build_the_model_with_keras_2_s_warning():
    import warnings

    import lstmkit

    inputs = lstmkit.layers.Input(shape=(3,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = lstmkit.Model(input=inputs, output=lstmkit.layers.Dense(2)(inputs))
    assert model.output_shape == (None, 2)
    assert any("Model(inputs=..., outputs=...)" in str(w.message) for w in caught)
