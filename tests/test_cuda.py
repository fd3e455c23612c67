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


# ---- placement as Keras does it, and mixed precision, on the GPU ------------------------------------

@pytest.fixture
def automatic(monkeypatch):
    """The device rule as a program meets it (the suite pins LSTMKIT_DEVICE=cpu elsewhere)."""
    monkeypatch.delenv("LSTMKIT_DEVICE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)


def test_a_keras_style_model_trains_on_the_gpu_without_a_word_about_devices(automatic):
    torch.manual_seed(0)
    model = model_with_everything()
    assert {p.device for p in model.parameters()} == {torch.device("cuda:0")}
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    y = np.arange(40) % 3
    model.fit(ids(), y, batch_size=8, epochs=2, verbose=0, validation_split=0.25)
    out = model.predict(ids(), batch_size=16)
    assert isinstance(out, np.ndarray) and out.shape == (40, 3)
    cpu = model_with_everything().to("cpu")
    cpu.set_weights(model.get_weights())
    np.testing.assert_allclose(out, cpu.predict(ids()), atol=1e-5, rtol=0)


def test_hidden_gpus_keep_the_model_on_the_cpu(automatic):
    from lstmkit.compat import tf

    tf.config.set_visible_devices([], "GPU")
    assert {p.device.type for p in model_with_everything().parameters()} == {"cpu"}


def test_batches_go_pinned_and_one_ahead_on_a_side_stream(automatic):
    from lstmkit.training import device_batches

    device = torch.device("cuda:0")
    batches = [torch.randn(64, 100) for _ in range(5)]
    moved = list(device_batches.prefetched(iter(batches), lambda b: device_batches.to_device(b, device), device, True))
    for a, b in zip(batches, moved):
        assert b.device == device
        torch.testing.assert_close(b.cpu(), a, rtol=0, atol=0)


def test_a_model_saved_on_the_gpu_loads_on_the_cpu_and_back(tmp_path, automatic, monkeypatch):
    from lstmkit.models import load_model

    model = model_with_everything()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(ids(), np.arange(40) % 3, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    monkeypatch.setenv("LSTMKIT_DEVICE", "cpu")
    on_cpu = load_model(tmp_path / "m.keras")
    assert {p.device.type for p in on_cpu.parameters()} == {"cpu"}
    on_cpu.fit(ids(), np.arange(40) % 3, epochs=1, verbose=0)  # the optimizer state came over too
    on_cpu.save(tmp_path / "c.keras")
    monkeypatch.delenv("LSTMKIT_DEVICE")
    back = load_model(tmp_path / "c.keras")
    assert {p.device.type for p in back.parameters()} == {"cuda"}
    back.fit(ids(), np.arange(40) % 3, epochs=1, verbose=0)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_on_the_gpu_fused_against_reference(automatic, policy):
    from lstmkit import mixed_precision

    mixed_precision.set_global_policy(policy)
    x = torch.randn(16, 20, 8, device="cuda")
    results = []
    for implementation in ("fused", "reference"):
        torch.manual_seed(1)
        model = Sequential([L.Input(shape=(20, 8)), L.LSTM(32, return_sequences=True, implementation=implementation),
                            L.GRU(16, implementation=implementation), L.Dense(4, activation="softmax")])
        out = model(x)
        assert out.dtype == torch.float32
        out.log().mean().backward()
        results.append((out, [p.grad for p in model.parameters()]))
    (a, ga), (b, gb) = results
    torch.testing.assert_close(a, b, rtol=0, atol=2e-2)
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=0, atol=float(3e-2 * v.abs().max()) + 1e-5)


# ---- what makes the host wait for the GPU during fit --------------------------------------------


def _syncs_in_fit(model, x, y, batches):
    """The synchronizing CUDA calls torch reports (`set_sync_debug_mode`) in one fit of `batches`."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            model.fit(x[: 8 * batches], y[: 8 * batches], batch_size=8, epochs=1, verbose=0)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [str(w.message) for w in caught if "synchroniz" in str(w.message)]


@pytest.mark.parametrize("kind", ["seed", "text"])
def test_fit_waits_for_the_gpu_per_epoch_not_per_batch(kind):
    """The running figures are read at the epoch's end (no callback looks after each batch) and
    an Embedding's ids are checked where the data enters: the count of waits does not grow
    with the batches."""
    rng = np.random.default_rng(1)
    if kind == "seed":
        model = Sequential([L.Input(shape=(28, 28)), L.LSTM(32, return_sequences=True), L.Dropout(0.2), L.LSTM(32),
                            L.Dense(10, activation="softmax")])
        x = rng.random((160, 28, 28), dtype=np.float32)
    else:
        model = model_with_everything()
        x = np.concatenate([ids()] * 4)
    y = rng.integers(0, 3, size=len(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0)  # built, kernels compiled, optimizer state made
    assert model.device.type == "cuda"
    few, many = _syncs_in_fit(model, x, y, 5), _syncs_in_fit(model, x, y, 20)
    assert len(many) == len(few), many
