"""The TensorFlow 2 tutorial programs in examples/tf_programs/ run to the end under
`lstmkit run --epochs 1`, each in a fresh process and folder (check_all.py there also runs them
under TensorFlow and Keras 3 for the README's table)."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "tf_programs"
PROGRAMS = sorted(p.stem for p in FOLDER.glob("tf_*.py"))


def test_there_are_twelve_and_each_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert len(PROGRAMS) >= 12
    for name in PROGRAMS:
        assert f"| `{name}.py` |" in readme, name


@pytest.mark.slow
@pytest.mark.parametrize("name", PROGRAMS)
def test_a_tensorflow_tutorial_program_runs_under_lstmkit_run(name, tmp_path):
    done = subprocess.run([sys.executable, "-m", "lstmkit.cli", "run", "--epochs", "1", str(FOLDER / f"{name}.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
