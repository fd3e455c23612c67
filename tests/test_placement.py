"""Where layers put their weights and where batches go, as Keras does it: the first GPU when one
is there. The choice is one function (`lstmkit.config.choose_device`), tested here on its own
with the GPU counts given; the rest of the path is driven with a stand-in for the chosen device:
"meta" (a device with no memory, so a weight made anywhere else shows) for where weights are
made and loaded, and the CPU with batches prepared one ahead for the batch pipeline. On a CUDA
machine tests/test_cuda.py checks the same on the GPU."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import lstmkit
import lstmkit.layers as L
from lstmkit import config
from lstmkit.compat import tf as tfc
from lstmkit.models import Sequential, load_model
from lstmkit.training import device_batches

CPU, META = torch.device("cpu"), torch.device("meta")


def choose(requested=None, environment=None, visible=None, count=0, rank=0, world=1):
    return config.choose_device(None if requested is None else torch.device(requested), environment, visible, count,
                                rank, world)


@pytest.mark.parametrize("arguments, expected", [
    (dict(count=0), "cpu"),                                    # no GPU: the CPU
    (dict(count=2), "cuda:0"),                                 # Keras's rule: the first GPU
    (dict(count=2, environment="cpu"), "cpu"),                 # $LSTMKIT_DEVICE=cpu
    (dict(count=2, environment="auto"), "cuda:0"),
    (dict(count=2, environment="cuda:1"), "cuda:1"),
    (dict(count=2, environment="GPU"), "cuda:0"),              # TensorFlow's word for it
    (dict(count=2, visible=()), "cpu"),                        # tf.config.set_visible_devices([], "GPU")
    (dict(count=2, visible=(), environment="cuda"), "cpu"),    # the program's word before the environment's
    (dict(count=3, visible=(2,)), "cuda:2"),                   # set_visible_devices(gpus[2], "GPU")
    (dict(count=2, visible=(), requested="cuda:1"), "cuda:1"),  # set_device after hiding them
    (dict(count=2, requested="cpu", environment="cuda"), "cpu"),  # set_device before $LSTMKIT_DEVICE
    (dict(count=2, rank=1, world=2), "cuda:1"),                # torchrun: each rank its GPU
    (dict(count=1, rank=1, world=2), "cpu"),                   # more ranks than GPUs: all on the CPU
    (dict(count=1, rank=0, world=2), "cpu"),
])
def test_the_device_rule(arguments, expected):
    assert choose(**arguments) == torch.device(expected)


@pytest.mark.parametrize("arguments, words", [
    (dict(count=0, environment="cuda"), "$LSTMKIT_DEVICE asks for cuda, but torch sees no CUDA device"),
    (dict(count=2, environment="cuda:2"), "$LSTMKIT_DEVICE asks for cuda:2, but torch sees 2 CUDA devices"),
    (dict(count=1, requested="cuda:1"), "lstmkit.config.set_device asks for cuda:1, but torch sees 1 CUDA device"),
])
def test_a_gpu_that_is_not_there_is_refused_naming_who_asked(arguments, words):
    with pytest.raises(ValueError, match=words.replace("$", r"\$")):
        choose(**arguments)


def test_a_device_setting_that_is_no_device_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("LSTMKIT_DEVICE", "gpu0")
    with pytest.raises(ValueError, match=r"\$LSTMKIT_DEVICE must be .* got 'gpu0'"):
        config.current_device()
    with pytest.raises(ValueError, match="device must be .* got 'tpu'"):
        config.set_device("tpu")
    with pytest.raises(ValueError, match="set_device asks for cuda"):
        config.set_device("cuda") if not torch.cuda.is_available() else config.set_device(
            f"cuda:{torch.cuda.device_count()}")


def test_the_program_and_the_environment_reach_the_rule(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # what current_device reads of torch
    monkeypatch.delenv("LSTMKIT_DEVICE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert config.current_device() == torch.device("cuda:0")
    monkeypatch.setenv("LSTMKIT_DEVICE", "cpu")
    assert config.current_device() == CPU
    monkeypatch.setenv("LSTMKIT_DEVICE", "auto")
    gpus = tfc.config.list_physical_devices("GPU")
    assert [d.name for d in gpus] == ["/physical_device:GPU:0", "/physical_device:GPU:1"]
    tfc.config.set_visible_devices(gpus[1], "GPU")
    assert config.current_device() == torch.device("cuda:1")
    assert [d.name for d in tfc.config.get_visible_devices("GPU")] == ["/physical_device:GPU:1"]
    tfc.config.set_visible_devices([], "GPU")
    assert config.current_device() == CPU and tfc.config.list_logical_devices("GPU") == []
    config.set_device("cuda:1")
    assert config.current_device() == torch.device("cuda:1")
    config.set_device("auto")
    assert config.current_device() == CPU  # the GPUs are still hidden
    with pytest.raises(ValueError, match="set_visible_devices takes devices from"):
        tfc.config.set_visible_devices(["/GPU:0"], "GPU")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    tfc.config.set_visible_devices(gpus, "GPU")
    assert config.current_device() == torch.device("cuda:1")


def test_cuda_visible_devices_empty_leaves_the_cpu():
    """torch reads CUDA_VISIBLE_DEVICES; with it empty the rule finds no GPU (on any machine)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "LSTMKIT_DEVICE": "auto"}
    code = "import lstmkit.layers as L; d = L.Dense(2); d.build((None, 3)); print(d.kernel.device)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "cpu", out.stderr


def seed_like_model():
    return Sequential([L.LSTM(8, input_shape=(5, 3), return_sequences=True), L.Dropout(0.2), L.LSTM(6),
                       L.Dense(4, activation="softmax")])


def test_layers_create_their_weights_on_the_chosen_device(monkeypatch):
    monkeypatch.setattr(config, "current_device", lambda: META)  # the stand-in: nothing made elsewhere escapes
    model = seed_like_model()
    assert {p.device for p in model.parameters()} == {META}
    late = Sequential([L.GRU(4), L.Dense(2)])  # built by its first call
    late.build((None, 5, 3))
    assert {p.device for p in late.parameters()} == {META}
    with torch.device("meta"):  # a torch device context (the loaders' shape check) is obeyed
        monkeypatch.setattr(config, "current_device", lambda: CPU)
        assert L.Dense(3)._placement.device == META


def test_tf_device_places_the_layers_made_inside():
    with tfc.device("/CPU:0"):
        layer = L.Dense(2)
    assert layer._placement.device == CPU
    with tfc.device("/GPU:0"):  # no such GPU here: soft placement, the usual rule
        other = L.Dense(2)
    assert other._placement.device == config.current_device()
    assert config.requested_device() is None  # the setting is as it was after the block
    with pytest.raises(ValueError, match="tf.device takes a device name"):
        with tfc.device("/TPU:0"):
            pass


@pytest.mark.filterwarnings("ignore:.*meta parameter")  # loading into "meta" copies nothing, as it should
def test_a_saved_model_loads_onto_the_current_device(tmp_path, monkeypatch):
    model = seed_like_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    path = tmp_path / "m.keras"
    model.save(path)
    monkeypatch.setattr(config, "current_device", lambda: META)
    loaded = load_model(path)
    assert {p.device for p in loaded.parameters()} == {META}
    monkeypatch.undo()
    back = load_model(path)
    assert {p.device for p in back.parameters()} == {CPU}
    for a, b in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


def data(n=96):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 5, 3)).astype("float32"), rng.integers(0, 4, n)


@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_prepared_one_ahead_train_evaluate_and_predict_the_same(monkeypatch, shuffle):
    """The lookahead a CUDA device gets, run on the CPU: the same batches, in the same order,
    with the same random draws (dropout), so the same weights and figures."""
    x, y = data()
    results = []
    for ahead in (False, True):
        monkeypatch.setattr(device_batches, "LOOKAHEAD", ahead)
        torch.manual_seed(3)
        model = seed_like_model()
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=shuffle, validation_split=0.25, verbose=0)
        results.append((history.history, model.get_weights(), model.evaluate(x, y, batch_size=20, verbose=0),
                        model.predict(x, batch_size=20)))
    (h0, w0, e0, p0), (h1, w1, e1, p1) = results
    assert h0 == h1 and e0 == e1
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p0, p1)


def test_prefetched_prepares_the_next_batch_before_handing_out_the_current():
    seen = []

    def prepare(b):
        seen.append(b)
        return b * 10

    out = []
    for item in device_batches.prefetched(iter(range(4)), prepare, CPU, ahead=True):
        out.append((item, list(seen)))
    assert out == [(0, [0, 1]), (10, [0, 1, 2]), (20, [0, 1, 2, 3]), (30, [0, 1, 2, 3])]
    assert list(device_batches.prefetched(iter([]), prepare, CPU, ahead=True)) == []
    assert device_batches.looks_ahead(torch.device("cuda")) and not device_batches.looks_ahead(CPU)


def test_predict_moves_one_batch_at_a_time_and_returns_numpy(monkeypatch):
    import lstmkit.models.model as model_module

    moved = []

    def recording(value, device):
        moved.append(tuple(value[0].shape))
        return device_batches.to_device(value, device)

    model = seed_like_model()
    monkeypatch.setattr(model_module, "to_device", recording)
    x, _ = data(50)
    out = model.predict(x, batch_size=20)
    assert isinstance(out, np.ndarray) and out.shape == (50, 4)
    assert moved == [(20, 5, 3), (20, 5, 3), (10, 5, 3)]  # the data itself stays where it was given


def test_to_device_leaves_a_tensor_on_its_device_alone():
    t = torch.ones(3)
    assert device_batches.to_device(t, CPU) is t
    nested = device_batches.to_device({"a": [t, (t, "text")]}, CPU)
    assert nested["a"][0] is t and nested["a"][1][1] == "text"


def test_the_mnist_command_follows_the_rule_and_its_device_option(monkeypatch):
    from lstmkit.recipes import mnist

    monkeypatch.setattr(config, "current_device", lambda: META)
    assert {p.device for p in mnist.build_model().parameters()} == {META}
    monkeypatch.undo()
    model, _ = mnist.run(epochs=1, limit=32, batch_size=16, verbose=0, device="cpu")
    assert {p.device for p in model.parameters()} == {CPU}


def test_a_checkpoint_from_a_gpu_machine_resumes_on_the_cpu(tmp_path):
    """A checkpoint written with CUDA generators in its random state (a GPU run) resumes where
    there is no GPU, and goes on as the same run does on the CPU."""
    from lstmkit.training import run_state

    x, y = data(64)

    def fit(model, **options):
        return model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True, **options)

    torch.manual_seed(5)
    whole = seed_like_model()
    whole.compile("adam", "sparse_categorical_crossentropy")
    fit(whole)
    torch.manual_seed(5)
    first = seed_like_model()
    first.compile("adam", "sparse_categorical_crossentropy")
    first.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=True, checkpoint_dir=str(tmp_path))
    original = run_state.rng_state
    try:  # the next checkpoints say they come from a machine with two GPUs
        run_state.rng_state = lambda: {**original(), "cuda": [torch.zeros(16, dtype=torch.uint8)] * 2}
        torch.manual_seed(5)
        again = seed_like_model()
        again.compile("adam", "sparse_categorical_crossentropy")
        again.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=True, checkpoint_dir=str(tmp_path / "gpu"))
    finally:
        run_state.rng_state = original
    torch.manual_seed(99)
    resumed = seed_like_model()
    resumed.compile("adam", "sparse_categorical_crossentropy")
    fit(resumed, checkpoint_dir=str(tmp_path / "gpu"), resume=True)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_lstmkit_exposes_the_setting():
    assert lstmkit.config.set_device is config.set_device and callable(lstmkit.config.get_device)
