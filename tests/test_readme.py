"""The README's commands are the ones that run: CI's test command, the main command, the examples
(and the documentation's functional-API block)."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = next(line for line in ci_lines if line.startswith("python3.11 -m venv"))
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    assert command in readme_lines


def test_readme_main_command_is_lstmkit_mnist():
    """The main command installs, then runs `lstmkit mnist` (tests/test_programs.py runs it on a slice)."""
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    assert "python3.11 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e . && .venv/bin/lstmkit mnist" in readme_lines
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'lstmkit = "lstmkit.cli:main"' in pyproject


def keras_parameter_count_of_the_example():
    """Keras 3's own count for the example's architecture, plus CuDNNLSTM's second bias.

    Keras 3 has no CuDNNLSTM; its LSTM keeps one bias of 4u per layer, where Keras 2's CuDNNLSTM
    kept cuDNN's two (input and recurrent halves, 8u), so each of the two layers adds 4 * 128.
    """
    import keras

    theirs = keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.LSTM(128, return_sequences=True),
        keras.layers.Dropout(0.2),
        keras.layers.LSTM(128),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    return theirs.count_params() + 2 * 4 * 128


@pytest.mark.slow
def test_keras_names_example_runs():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "keras_names.py")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = re.search(r"Total params: ([\d,]+)", result.stdout)
    assert printed, result.stdout
    assert int(printed.group(1).replace(",", "")) == keras_parameter_count_of_the_example()
    assert "predicted digits:" in result.stdout


def test_the_functional_api_block_runs():
    """The documentation's encoder-decoder block runs as written; its inference models share the
    training model's weights (the encoder's and decoder's together are the whole model's)."""
    text = (ROOT / "docs" / "guide" / "functional.md").read_text()
    section = text
    block = section[section.index("```python") + len("```python"):section.index("```\n", section.index("```python") + 9)]
    names: dict = {}
    exec(compile(block, "docs/guide/functional.md", "exec"), names)
    model, encoder, decoder = names["model"], names["encoder"], names["decoder"]
    assert encoder.count_params() + decoder.count_params() == model.count_params()
    assert model.output_shape == (None, None, 14) and decoder.output_shape == [(None, None, 14), (None, 128), (None, 128)]
