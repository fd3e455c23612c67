"""The TensorFlow 2 tutorial programs in examples/tf_programs/ run to the end under
`lstmkit run --epochs 1`, each in a fresh process and folder (examples/tf_programs/check_all.py;
it also runs them under TensorFlow and Keras 3 for the documentation's table)."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "tf_programs"
spec = importlib.util.spec_from_file_location("tf_check_all", FOLDER / "check_all.py")
check_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_all)
PROGRAMS = sorted(p.stem for p in FOLDER.glob("tf_*.py"))


def test_there_are_twelve_and_each_is_in_the_documentations_table():
    readme = (ROOT / "docs" / "guide" / "keras-programs.md").read_text()
    assert len(PROGRAMS) >= 12
    for name in PROGRAMS:
        assert f"| `{name}.py` | {check_all.WRITTEN_AFTER[name]} | runs |" in readme, name


@pytest.mark.slow
@pytest.mark.parametrize("name", PROGRAMS)
def test_a_tensorflow_tutorial_program_runs_under_lstmkit_run(name, tmp_path):
    ok, _, error = check_all.run_one(name, "lstmkit", tmp_path, timeout=600)
    assert ok, f"{name}: {error}"
