"""The classic Keras recurrent programs in examples/keras_programs/ run to the end under
`lstmkit run --epochs 1`, each in a fresh process and folder, their downloads faked in Keras's
cache (examples/keras_programs/check_all.py; it also runs them under Keras 3 for the documentation's table)."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "keras_programs"
spec = importlib.util.spec_from_file_location("check_all", FOLDER / "check_all.py")
check_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_all)
PROGRAMS = sorted(p.stem for p in FOLDER.glob("*.py") if p.stem != "check_all")


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("keras_home")
    check_all.make_cache(home)
    return home


def test_every_program_is_in_the_documentations_table():
    readme = (ROOT / "docs" / "guide" / "keras-programs.md").read_text()
    assert len(PROGRAMS) >= 19
    for name in PROGRAMS:
        assert f"| `{name}.py` | {check_all.CLASSIC[name]} | runs |" in readme, name


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in PROGRAMS if n not in check_all.AFTER])
def test_a_classic_keras_program_runs_under_lstmkit_run(name, keras_home, tmp_path):
    import zipfile

    (tmp_path / "fra-eng").mkdir()
    with zipfile.ZipFile(keras_home / "datasets" / "fra-eng.zip") as z:
        (tmp_path / "fra-eng" / "fra.txt").write_bytes(z.read("fra.txt"))
    for program in [name] + [later for later, first in check_all.AFTER.items() if first == name]:
        ok, _, error = check_all.run_one(program, "lstmkit", tmp_path, keras_home, timeout=600)
        assert ok, f"{program}: {error}"
