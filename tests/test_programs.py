"""Whole programs as a user runs them, each in a fresh Python process: the seed tutorials under
`lstmkit run` (its `keras` import hook), the `lstmkit` command, and the examples."""

import hashlib
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import lstmkit
from lstmkit.datasets import _files, mnist

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
SHARED_MNIST = ROOT.parent / "shared" / "datasets" / "mnist.npz"


def run(code_or_args, tmp_path, timeout=600):
    args = [sys.executable, "-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed programs live in ../shared/seeds")
def test_seed_mnist_program_runs_under_lstmkit_run(tmp_path):
    """The tutorial program, unedited, for its three epochs. To keep the
    suite short, `load_data` is wrapped (from outside the program) to return the first 2,000
    training and 1,000 test images; README has the full run."""
    out = run(
        "import lstmkit.datasets.mnist as m\n"
        "full = m.load_data\n"
        "def sliced(*args, **kwargs):\n"
        "    (a, b), (c, d) = full(*args, **kwargs)\n"
        "    return (a[:2000], b[:2000]), (c[:1000], d[:1000])\n"
        "m.load_data = sliced\n"
        "from lstmkit.cli import main\n"
        f"main(['run', {str(SEEDS / 'mnist_lstm.py')!r}])\n",
        tmp_path,
    )
    assert out.count("Epoch ") == 3
    loss = float(re.search(r"Test Loss: ([0-9.]+)", out).group(1))
    accuracy = float(re.search(r"Test Accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.6, out  # chance is 0.1; the full data reaches 0.98 (README)
    assert loss < 1.5, out


@pytest.mark.slow
@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed programs live in ../shared/seeds")
def test_seed_char_program_builds_its_model_and_it_trains(tmp_path):
    """The second seed expects the user's X and y to exist; they are given to it from outside,
    as windows of text shaped the tutorial's way, and the model it builds is then trained."""
    out = run(
        "import numpy as np\n"
        "from lstmkit.compat.programs import run_program\n"
        "from lstmkit.datasets import shakespeare\n"
        "from lstmkit.utils import to_categorical, set_random_seed\n"
        "set_random_seed(0)\n"
        "text = shakespeare.load_text()[:3000]\n"
        "alphabet = sorted(set(text)); codes = np.array([alphabet.index(c) for c in text])\n"
        "starts = np.arange(0, len(codes) - 20, 4)\n"
        "X = (np.stack([codes[s:s + 20] for s in starts]) / len(alphabet)).astype('float32')[:, :, None]\n"
        "y = to_categorical(codes[starts + 20], len(alphabet))\n"
        f"names = run_program({str(SEEDS / 'char_lstm.py')!r}, init_globals={{'X': X, 'y': y}})\n"
        "model = names['model']\n"
        "print('output', model.output_shape, 'params', model.count_params())\n"
        "model.compile(loss='categorical_crossentropy', optimizer='adam')\n"
        "h = model.fit(X, y, epochs=4, batch_size=64, verbose=0)\n"
        "print('loss', h.history['loss'][0], h.history['loss'][-1], 'uniform', np.log(len(alphabet)))\n",
        tmp_path,
    )
    shape, params = re.search(r"output \(None, (\d+)\) params (\d+)", out).groups()
    classes = int(shape)
    assert int(params) == 4 * 256 * (1 + 256 + 1) + 256 * classes + classes  # LSTM(256) on 1 feature, then Dense
    first, last, uniform = map(float, re.search(r"loss (\S+) (\S+) uniform (\S+)", out).groups())
    assert last < first and last < uniform


def test_mnist_load_data_gives_kerass_arrays_from_the_package():
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert (x_train.shape, x_train.dtype, y_train.shape, y_train.dtype) == ((60000, 28, 28), np.uint8, (60000,), np.uint8)
    assert (x_test.shape, x_test.dtype, y_test.shape, y_test.dtype) == ((10000, 28, 28), np.uint8, (10000,), np.uint8)
    shipped = _files.DATA_DIR / "mnist.npz"
    assert pathlib.Path(lstmkit.__file__).parent in shipped.parents
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == mnist.SHA256
    # Keras's first training labels and per-class counts
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    if SHARED_MNIST.exists():
        with np.load(SHARED_MNIST) as source:
            np.testing.assert_array_equal(x_train, source["x_train"])
            np.testing.assert_array_equal(y_test, source["y_test"])


def test_a_damaged_data_file_is_refused(tmp_path):
    damaged = tmp_path / "mnist.npz"
    data = bytearray((_files.DATA_DIR / "mnist.npz").read_bytes())
    data[5000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        mnist.load_data(path=damaged)


@pytest.mark.slow
def test_cli_version_help_and_errors(tmp_path):
    command = [sys.executable, "-m", "lstmkit.cli"]
    assert run([*command, "--version"], tmp_path).strip() == f"lstmkit {lstmkit.__version__}"
    assert "--batch-size" in run([*command, "mnist", "--help"], tmp_path)
    bad = subprocess.run([*command, "mnist", "--epochs", "0"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "expected a positive integer, got '0'" in bad.stderr
    missing = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode == 2
    no_file = subprocess.run([*command, "run", "nowhere.py"], capture_output=True, text=True, cwd=tmp_path)
    assert no_file.returncode == 2 and "no program at 'nowhere.py'" in no_file.stderr


@pytest.mark.slow
def test_cli_run_passes_arguments_and_leaves_other_keras_text_alone(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text("import sys\nfrom keras.layers import Dense\nprint(Dense.__module__, sys.argv[1:], 'keras')\n")
    out = run([sys.executable, "-m", "lstmkit.cli", "run", str(program), "--flag", "3"], tmp_path)
    assert out.strip() == "lstmkit.layers.dense ['--flag', '3'] keras"


@pytest.mark.slow
def test_cli_run_seed_makes_a_program_repeatable(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text("import numpy, random, torch\nprint(torch.rand(2).tolist(), numpy.random.rand(), random.random())\n")
    command = [sys.executable, "-m", "lstmkit.cli", "run", "--seed", "5", str(program)]
    first, second = run(command, tmp_path), run(command, tmp_path)
    assert first == second
    assert run([*command[:4], "--seed", "6", str(program)], tmp_path) != first


@pytest.mark.slow
def test_cli_mnist_trains_reports_and_saves(tmp_path):
    out = run([sys.executable, "-m", "lstmkit.cli", "mnist", "--limit", "600", "--epochs", "2", "--seed", "1",
               "--save", "m.lstmkit", "--verbose", "2"], tmp_path)
    assert out.count("Epoch ") == 2
    accuracy = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert re.search(r"Time per epoch: [0-9.]+ s", out)
    from lstmkit.models import load_model

    model = load_model(tmp_path / "m.lstmkit")
    (_, _), (x_test, y_test) = mnist.load_data()
    reloaded = model.evaluate(x_test[:600].astype("float32") / 255.0, y_test[:600], verbose=0)[1]
    assert reloaded == pytest.approx(accuracy, abs=1e-4)


@pytest.mark.slow
def test_char_example_runs(tmp_path):
    out = run([sys.executable, str(ROOT / "examples" / "char_lstm.py"), "--chars", "4000", "--epochs", "3",
               "--seq-length", "20", "--generate", "30"], tmp_path)
    assert "Written:" in out
    loss, uniform = map(float, re.search(r"Final training loss (\S+) \(a uniform guess: (\S+)\)", out).groups())
    assert loss < uniform


@pytest.mark.slow
def test_mnist_example_runs(tmp_path):
    out = run([sys.executable, str(ROOT / "examples" / "mnist_classifier.py"), "--limit", "500", "--epochs", "1"], tmp_path)
    assert re.search(r"Test loss [0-9.]+, test accuracy [0-9.]+", out)
    assert "Total params: 220,874" in out


KERAS_FUNCTIONAL_PROGRAM = '''
import numpy as np
from keras.models import Model
from keras.layers import Input, LSTM, Dense

# the classic character-level translation set-up, on made-up data
num_encoder_tokens, num_decoder_tokens, latent_dim = 7, 9, 16
encoder_input_data = np.eye(num_encoder_tokens, dtype="float32")[np.random.randint(0, 7, (64, 5))]
decoder_input_data = np.eye(num_decoder_tokens, dtype="float32")[np.random.randint(0, 9, (64, 6))]
decoder_target_data = np.roll(decoder_input_data, -1, axis=1)

encoder_inputs = Input(shape=(None, num_encoder_tokens))
encoder = LSTM(latent_dim, return_state=True)
encoder_outputs, state_h, state_c = encoder(encoder_inputs)
encoder_states = [state_h, state_c]
decoder_inputs = Input(shape=(None, num_decoder_tokens))
decoder_lstm = LSTM(latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = Dense(num_decoder_tokens, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)
model = Model([encoder_inputs, decoder_inputs], decoder_outputs)
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit([encoder_input_data, decoder_input_data], decoder_target_data, batch_size=16, epochs=2, validation_split=0.2)
model.save("s2s.lstmkit")

encoder_model = Model(encoder_inputs, encoder_states)
decoder_state_input_h = Input(shape=(latent_dim,))
decoder_state_input_c = Input(shape=(latent_dim,))
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_outputs, state_h, state_c = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
decoder_model = Model([decoder_inputs] + decoder_states_inputs, [decoder_dense(decoder_outputs), state_h, state_c])
states_value = encoder_model.predict(encoder_input_data[:1])
target_seq = np.zeros((1, 1, num_decoder_tokens), dtype="float32")
decoded = []
for _ in range(6):
    output_tokens, h, c = decoder_model.predict([target_seq] + states_value)
    sampled = int(np.argmax(output_tokens[0, -1, :]))
    decoded.append(sampled)
    target_seq = np.zeros((1, 1, num_decoder_tokens), dtype="float32")
    target_seq[0, 0, sampled] = 1.0
    states_value = [h, c]
print("decoded", decoded)
'''


@pytest.mark.slow
def test_a_keras_functional_seq2seq_program_runs_through_lstmkit_run(tmp_path):
    (tmp_path / "s2s.py").write_text(KERAS_FUNCTIONAL_PROGRAM)
    out = run([sys.executable, "-m", "lstmkit", "run", "s2s.py"], tmp_path)
    assert out.count("Epoch ") == 2 and "val_accuracy" in out
    decoded = re.search(r"decoded \[([0-9, ]+)\]", out).group(1).split(", ")
    assert len(decoded) == 6 and all(0 <= int(d) < 9 for d in decoded)
    assert (tmp_path / "s2s.lstmkit").stat().st_size > 0


@pytest.mark.slow
def test_seq2seq_addition_example_runs(tmp_path):
    out = run([sys.executable, str(ROOT / "examples" / "seq2seq_addition.py"), "--epochs", "2", "--samples", "600"],
              tmp_path)
    assert "Connected to" in out and out.count("Epoch ") == 2
    right, total = map(int, re.search(r"held-out questions: (\d+)/(\d+) exactly right", out).groups())
    assert total == 1000 and 0 <= right <= total
