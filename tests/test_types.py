"""The public API is typed (the package ships py.typed), so mypy must accept the package."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mypy_accepts_the_package():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "lstmkit", "--ignore-missing-imports", "--no-error-summary"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
