"""The README's commands are the ones that run: CI's test command, the main command, the examples."""

import pathlib
import subprocess
import sys

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


def test_keras_names_example_runs():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "keras_names.py")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Total params: 221,898" in result.stdout  # 4u(d+u+2) per CuDNNLSTM + Dense: see below
    assert "predicted digits:" in result.stdout


def test_the_example_count_is_the_formula():
    def cudnn_lstm(d, u):
        return 4 * u * (d + u + 2)

    assert cudnn_lstm(28, 128) + cudnn_lstm(128, 128) + (128 * 64 + 64) + (64 * 10 + 10) == 221_898
