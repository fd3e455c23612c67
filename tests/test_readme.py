"""The README's commands are the ones that run: CI's test command, and the example it runs."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = next(line for line in ci_lines if line.startswith("python3.11 -m venv"))
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    assert command in readme_lines


def test_readme_example_runs():
    readme = (ROOT / "README.md").read_text()
    assert "examples/keras_names.py" in readme
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "keras_names.py")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Total params: 221,898" in result.stdout  # 4u(d+u+2) per CuDNNLSTM + Dense: see below
    assert "predicted digits:" in result.stdout


def test_the_example_count_is_the_formula():
    def cudnn_lstm(d, u):
        return 4 * u * (d + u + 2)

    assert cudnn_lstm(28, 128) + cudnn_lstm(128, 128) + (128 * 64 + 64) + (64 * 10 + 10) == 221_898
