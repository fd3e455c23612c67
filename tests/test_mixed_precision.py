"""Mixed precision as Keras spells it, on the CPU with bfloat16 (and float16 where the CPU runs
it): policies, what each layer computes in, the fused kernels against the reference loop within
bfloat16's error, the seed model training, and loss scaling against Keras 3's own
LossScaleOptimizer."""

import numpy as np
import pytest
import torch

import lstmkit.layers as L
from lstmkit import config, mixed_precision
from lstmkit.models import Sequential, load_model
from lstmkit.optimizers import SGD, Adam, LossScaleOptimizer

BF16 = torch.bfloat16
EPS_BF16 = 2.0**-8  # bfloat16 keeps 8 significant bits: a rounding is within this relative error


def test_policies_as_keras_names_them():
    policy = mixed_precision.DTypePolicy("mixed_bfloat16")
    assert (policy.compute_dtype, policy.variable_dtype, policy.name) == ("bfloat16", "float32", "mixed_bfloat16")
    assert mixed_precision.Policy("mixed_float16").compute_dtype == "float16"
    assert mixed_precision.global_policy().name == "float32"
    mixed_precision.set_global_policy("mixed_bfloat16")
    assert mixed_precision.global_policy().name == "mixed_bfloat16"
    assert L.Dense(2).dtype_policy.name == "mixed_bfloat16"  # the global policy when the layer is made
    assert L.Dense(2, dtype="float32").dtype_policy.name == "float32"
    mixed_precision.set_global_policy(None)
    assert L.LSTM(2, dtype=policy).dtype_policy is policy
    assert L.GRU(2, dtype_policy="mixed_float16").dtype_policy.name == "mixed_float16"
    with pytest.raises(ValueError, match="policy must be a dtype policy .* got policy='mixed_int8'"):
        mixed_precision.set_global_policy("mixed_int8")
    with pytest.raises(ValueError, match="dtype must be a dtype policy .* got dtype='float16'"):
        L.Dense(2, dtype="float16")


def test_keras_programs_reach_the_policy_and_the_optimizer():
    with __import__("lstmkit").install_keras_alias():
        import keras
        import tensorflow as tf

        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        tf.keras.mixed_precision.set_global_policy("float32")
        keras.config.set_dtype_policy("mixed_float16")
        assert keras.config.dtype_policy().name == "mixed_float16"
        assert keras.mixed_precision.LossScaleOptimizer is LossScaleOptimizer
        assert keras.optimizers.LossScaleOptimizer is LossScaleOptimizer
        tf.keras.mixed_precision.experimental.set_policy("float32")
        assert keras.mixed_precision.global_policy().name == "float32"
        fixed = tf.keras.mixed_precision.experimental.LossScaleOptimizer(keras.optimizers.SGD(), loss_scale=128)
        assert (fixed.loss_scale, fixed.dynamic) == (128.0, False)
        dynamic = tf.keras.mixed_precision.experimental.LossScaleOptimizer(keras.optimizers.SGD(), "dynamic")
        assert (dynamic.loss_scale, dynamic.dynamic) == (2.0**15, True)


def mixed_model(implementation="auto", softmax=True):
    return Sequential([
        L.Input(shape=(12, 6)),
        L.LSTM(16, return_sequences=True, implementation=implementation),
        L.GRU(8, implementation=implementation),
        L.Dense(5, activation="softmax" if softmax else None),
    ])


def inputs(n=24):
    return np.random.default_rng(0).normal(size=(n, 12, 6)).astype("float32")


def test_each_layer_computes_in_the_compute_dtype_and_keeps_float32_weights():
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = mixed_model(softmax=False)
    x = torch.as_tensor(inputs())
    lstm, gru, dense = model.layers
    h = lstm(x)
    assert h.dtype == BF16  # outputs in the compute dtype
    assert gru(h).dtype == BF16 and dense(gru(h)).dtype == BF16
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    out = model.predict(x.numpy())
    assert out.dtype == np.float32  # numpy has no bfloat16


def test_a_final_softmax_is_computed_and_given_in_float32():
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = mixed_model()
    x = torch.as_tensor(inputs())
    probabilities = model(x)
    assert probabilities.dtype == torch.float32
    logits = model.layers[-1](model.layers[1](model.layers[0](x)), logits=True)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(probabilities, torch.softmax(logits, -1), rtol=0, atol=1e-7)
    # a float32 layer after mixed ones computes in float32 (Keras's advice for the last layer)
    last = L.Activation("softmax", dtype="float32")
    assert last(torch.ones(2, 3, dtype=BF16)).dtype == torch.float32


@pytest.mark.parametrize("layer", [
    lambda implementation: L.LSTM(16, return_sequences=True, implementation=implementation),
    lambda implementation: L.LSTM(16, peephole=True, layer_norm=True, recurrent_dropout=0.0,
                                  implementation=implementation),
    lambda implementation: L.Bidirectional(L.LSTM(8, return_sequences=True, implementation=implementation)),
    lambda implementation: L.GRU(16, return_sequences=True, reset_after=False, implementation=implementation),
    lambda implementation: L.SimpleRNN(16, implementation=implementation),
])
def test_fused_and_reference_agree_within_bfloat16s_error_forward_and_backward(layer):
    mixed_precision.set_global_policy("mixed_bfloat16")
    x = torch.as_tensor(inputs()) * 2
    runs = []
    for implementation in ("fused", "reference"):
        torch.manual_seed(7)
        model = Sequential([L.Input(shape=(12, 6)), layer(implementation), L.Dense(3)])
        y = model(x)
        assert y.dtype == BF16
        y.float().square().mean().backward()
        runs.append((y.float(), [p.grad for p in model.parameters()]))
    (y_f, g_f), (y_r, g_r) = runs
    # both loops take x W in bfloat16 and run in float32 after it; what differs is the order of
    # the float32 sums and so, now and then, a last rounding to bfloat16: a few bfloat16 steps
    scale = y_r.detach().abs().max()
    torch.testing.assert_close(y_f, y_r, rtol=0, atol=float(4 * EPS_BF16 * scale))
    for a, b in zip(g_f, g_r):
        torch.testing.assert_close(a, b, rtol=0, atol=float(8 * EPS_BF16 * b.abs().max()) + 1e-6)


def test_mixed_outputs_stay_within_bfloat16s_error_of_float32():
    x = inputs()
    torch.manual_seed(3)
    plain = mixed_model(softmax=False)
    mixed_precision.set_global_policy("mixed_bfloat16")
    mixed = mixed_model(softmax=False)
    mixed.set_weights(plain.get_weights())
    expected, got = plain.predict(x), mixed.predict(x)
    # inputs rounded to bfloat16 at each of three layers: a few roundings of the values' size
    np.testing.assert_allclose(got, expected, rtol=0, atol=8 * EPS_BF16 * np.abs(expected).max())
    assert np.abs(got - expected).max() > 0  # it did compute in bfloat16


def test_the_recurrent_state_stays_float32_in_a_stateful_layer():
    mixed_precision.set_global_policy("mixed_bfloat16")
    layer = L.LSTM(4, stateful=True, return_state=True)
    out, h, c = layer(torch.as_tensor(inputs(2)))
    assert out.dtype == BF16 and h.dtype == BF16  # outputs as Keras gives them
    assert all(s.dtype == torch.float32 for s in layer.states)  # what is carried to the next batch


def test_the_policy_is_saved_with_the_model(tmp_path):
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = mixed_model()
    model.add(L.Activation("linear", dtype="float32"))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.save(tmp_path / "m.keras")
    mixed_precision.set_global_policy("float32")
    loaded = load_model(tmp_path / "m.keras")
    assert [layer.dtype_policy.name for layer in loaded.layers] == ["mixed_bfloat16"] * 3 + ["float32"]
    np.testing.assert_array_equal(loaded.predict(inputs()), model.predict(inputs()))
    mixed_precision.set_global_policy("mixed_float16")  # a float32 layer stays one whatever the global policy
    again = load_model(tmp_path / "m.keras")
    assert [layer.dtype_policy.name for layer in again.layers] == ["mixed_bfloat16"] * 3 + ["float32"]


def mnist_rows(n):
    from lstmkit.datasets import mnist

    (x, y), (xt, yt) = mnist.load_data()
    return x[:n].astype("float32") / 255, y[:n], xt[:1000].astype("float32") / 255, yt[:1000]


@pytest.mark.slow
def test_the_seed_model_trains_in_bfloat16():
    """The seed program's model (its recipe's build_model) on 8,000 MNIST images, batch 32, two
    epochs: bfloat16 reaches float32's test accuracy (here 0.892 against 0.895)."""
    from lstmkit.recipes.mnist import build_model

    x, y, xt, yt = mnist_rows(8000)
    accuracy, losses = {}, {}
    for policy in ("float32", "mixed_bfloat16"):
        mixed_precision.set_global_policy(policy)
        torch.manual_seed(0)
        model = build_model()
        losses[policy] = model.fit(x, y, batch_size=32, epochs=2, verbose=0).history["loss"]
        accuracy[policy] = model.evaluate(xt, yt, verbose=0)[1]
    assert losses["mixed_bfloat16"][1] < 0.6 * losses["mixed_bfloat16"][0], losses
    assert accuracy["mixed_bfloat16"] > 0.85, accuracy
    assert accuracy["mixed_bfloat16"] > accuracy["float32"] - 0.03, accuracy


@pytest.mark.parametrize("initial_scale", [8.0, 6.0])  # unscaled by multiplying by 1/8, or by dividing by 6
def test_loss_scaling_follows_keras(initial_scale):
    """Keras 3's LossScaleOptimizer is the oracle: scale, skipped steps, weights."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    grads = [[8., 16.], [np.inf, 1.], [4., 4.], [2., 2.], [8., 8.], [np.nan, 8.], [8., 8.], [8., 8.], [8., 8.]]
    theirs = keras.Variable(np.array([1.0, 2.0], dtype="float32"))
    their_opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=initial_scale,
                                                    dynamic_growth_steps=2)
    ours = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    our_opt = LossScaleOptimizer(SGD(0.1), initial_scale=initial_scale, dynamic_growth_steps=2)
    for g in grads:
        their_opt.apply_gradients([(keras.ops.convert_to_tensor(np.array(g, dtype="float32")), theirs)])
        our_opt.apply_gradients([(torch.tensor(g), ours)])
        assert our_opt.loss_scale == float(their_opt.dynamic_scale)
        # float32 steps on weights of order 1: a few units of rounding (1e-7) apart, also near 0
        np.testing.assert_allclose(ours.detach().numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6, atol=1e-6)
        assert our_opt.iterations == int(their_opt.iterations)


def test_a_keras2_loop_and_a_keras3_loop_scale_alike():
    """Keras 2: get_scaled_loss, then get_unscaled_gradients before apply_gradients; Keras 3:
    scale_loss, then apply_gradients unscales. The same steps either way."""
    from lstmkit.compat import tf

    x = torch.as_tensor(inputs(8))
    y = torch.arange(8) % 5
    weights = []
    for style in ("keras2", "keras3"):
        torch.manual_seed(1)
        model = mixed_model()
        optimizer = LossScaleOptimizer(Adam(1e-2), initial_scale=2.0**10)
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = torch.nn.functional.cross_entropy(torch.log(model(x)), y)
                scaled = optimizer.get_scaled_loss(loss) if style == "keras2" else optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            if style == "keras2":
                grads = optimizer.get_unscaled_gradients(grads)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_float16_training_scales_its_loss_and_learns():
    """mixed_float16: compile wraps the optimizer in a LossScaleOptimizer (as Keras 3 does), fit
    scales the loss, and training lowers it; the loss scale survives save and load."""
    mixed_precision.set_global_policy("mixed_float16")
    x = inputs(64)
    y = (x[:, :, 0].mean(1) > 0).astype("int64")
    torch.manual_seed(0)
    model = mixed_model()
    model.compile(Adam(1e-2), "sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, LossScaleOptimizer)
    assert model.layers[0](torch.as_tensor(x)).dtype == torch.float16
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] * 0.9, losses
    assert model.optimizer.iterations > 0


def test_auto_scale_loss_false_leaves_the_optimizer_as_keras_does():
    import keras

    mixed_precision.set_global_policy("mixed_float16")
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        theirs = keras.Sequential([keras.layers.Input((5, 3)), keras.layers.Dense(2)])
        theirs.compile(keras.optimizers.Adam(), "mse", auto_scale_loss=False)
        keras_wraps = isinstance(theirs.optimizer, keras.optimizers.LossScaleOptimizer)
        theirs.compile(keras.optimizers.Adam(), "mse")
        assert isinstance(theirs.optimizer, keras.optimizers.LossScaleOptimizer) and not keras_wraps
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model = mixed_model()
    model.compile(Adam(1e-2), "sparse_categorical_crossentropy", auto_scale_loss=False)
    assert isinstance(model.optimizer, Adam) and not isinstance(model.optimizer, LossScaleOptimizer)


def test_loss_scale_state_is_saved_and_refused_when_wrong(tmp_path):
    mixed_precision.set_global_policy("mixed_float16")
    model = mixed_model()
    model.compile(Adam(1e-3), "sparse_categorical_crossentropy")
    x, y = inputs(16), np.arange(16) % 5
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.optimizer.loss_scale = 512.0
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, LossScaleOptimizer) and loaded.optimizer.loss_scale == 512.0
    assert type(loaded.optimizer.inner_optimizer).__name__ == "Adam"
    assert loaded.optimizer.iterations == model.optimizer.iterations
    state = loaded.optimizer.state_dict()
    state["keras"]["loss_scale"] = -1.0
    with pytest.raises(ValueError, match="loss_scale"):
        loaded.optimizer.load_state_dict(state)
    with pytest.raises(ValueError, match="initial_scale must be > 0"):
        LossScaleOptimizer(SGD(), initial_scale=0)
    with pytest.raises(ValueError, match="already a LossScaleOptimizer"):
        LossScaleOptimizer(LossScaleOptimizer(SGD()))


def test_float32_is_unchanged_by_the_policy_machinery():
    """Under the default policy nothing is cast: a float64 model stays float64 throughout."""
    model = mixed_model().double()
    out = model(torch.as_tensor(inputs()).double())
    assert out.dtype == torch.float64
    assert config.current_device().type == "cpu"


def test_a_keras_model_saved_in_mixed_precision_loads_with_its_policies(tmp_path):
    """Keras 3 writes each layer's policy into the .keras file; its mixed layers come back mixed
    (and the float32 softmax float32), giving Keras's predictions within bfloat16's error."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        theirs = keras.Sequential([keras.Input(shape=(12, 6)), keras.layers.LSTM(16), keras.layers.Dense(8),
                                   keras.layers.Activation("softmax", dtype="float32")])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    path = tmp_path / "k.keras"
    theirs.save(path)
    ours = load_model(path)
    assert [layer.dtype_policy.name for layer in ours.layers] == ["mixed_bfloat16", "mixed_bfloat16", "float32"]
    x = inputs(8)
    expected = keras.ops.convert_to_numpy(theirs(x))
    got = ours.predict(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=4e-3)  # both in bfloat16 (Keras: its states too): a few steps


def test_a_mixed_precision_model_exports_to_onnx_computing_in_float32(tmp_path):
    """ONNX's LSTM takes one type for x and W and onnxruntime's CPU products have no bfloat16:
    the file computes in float32, as the same weights do under the float32 policy."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    mixed_precision.set_global_policy("mixed_bfloat16")
    mixed = mixed_model()
    mixed_precision.set_global_policy("float32")
    plain = mixed_model()
    plain.set_weights(mixed.get_weights())
    path = mixed.export(tmp_path / "m.onnx", format="onnx")
    session = ort.InferenceSession(str(path))
    x = inputs(6)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, plain.predict(x), rtol=0, atol=1e-5)
    assert mixed.layers[0](torch.as_tensor(x)).dtype == BF16  # the model itself is still mixed


def test_a_compiled_mixed_precision_model_computes_as_eager():
    """torch.compile of a mixed model: the layers' casts and autocast, and the recurrent graph
    operator with a bfloat16 x, traced without a difference."""
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = mixed_model()
    x = torch.as_tensor(inputs(4))
    eager = model(x)
    eager.log().mean().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model, backend="aot_eager")(x)
    assert compiled.dtype == torch.float32
    torch.testing.assert_close(compiled, eager, rtol=0, atol=1e-6)
    compiled.log().mean().backward()
    for got, want in zip([p.grad for p in model.parameters()], expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
