"""The keras hook taken off in any order and from many threads leaves `sys.modules` as it was,
and `lstmkit run` runs a program as Python runs a script: it is `__main__`, so that pickle and
multiprocessing (fork and spawn) find its functions and classes, with the hook on in the
processes it starts too. Oracle: the same program under plain `python`."""

import os
import subprocess
import sys
import textwrap

import pytest

import lstmkit
import lstmkit.layers as L
from lstmkit.compat import keras_alias


def keras_entries():
    return {name: module for name, module in sys.modules.items() if keras_alias._ours(name)}


@pytest.mark.parametrize("order", ["a then b", "b then a"])
def test_hooks_removed_in_any_order_leave_sys_modules_as_before(order):
    import keras  # the real one, the oracle

    before = keras_entries()
    assert before["keras"] is keras and not hasattr(keras, "install_keras_alias")
    a = lstmkit.install_keras_alias()
    import keras as first

    b = lstmkit.install_keras_alias()
    import keras as second

    assert first.layers.LSTM is second.layers.LSTM is L.LSTM
    for hook in ((a, b) if order == "a then b" else (b, a)):
        hook.remove()
    import keras as after

    assert after is keras
    assert keras_entries() == before
    assert not any(isinstance(f, keras_alias._Finder) for f in sys.meta_path)


def test_a_hook_removed_twice_and_nested_hooks():
    import keras

    before = keras_entries()
    with lstmkit.install_keras_alias() as outer:
        with lstmkit.install_keras_alias():
            import keras as inner

            assert inner.layers.LSTM is L.LSTM
        import keras as still

        assert still.layers.LSTM is L.LSTM  # the outer hook is still on
        outer.remove()
        outer.remove()
    assert keras_entries() == before and sys.modules["keras"] is keras


THREADS = """
import sys, threading, importlib
import keras as real
import lstmkit, lstmkit.layers as L
from lstmkit.compat import keras_alias
before = {n: m for n, m in sys.modules.items() if keras_alias._ours(n)}
errors = []

def hooked(i):
    try:
        for _ in range(40):
            with lstmkit.install_keras_alias():
                import keras
                from keras.layers.recurrent import LSTM
                if keras.layers.LSTM is not L.LSTM or LSTM is not L.LSTM:
                    errors.append(f"real Keras seen inside a hook: {keras!r}")
    except Exception as err:
        errors.append(f"{type(err).__name__}: {err}")

def importer():
    try:
        for i in range(300):  # other imports changing sys.modules meanwhile
            name = f"_lstmkit_threads_probe_{i}"
            sys.modules[name] = type(sys)(name)
            importlib.import_module(name)
            del sys.modules[name]
    except Exception as err:
        errors.append(f"{type(err).__name__}: {err}")

threads = [threading.Thread(target=hooked, args=(i,)) for i in range(8)] + [threading.Thread(target=importer)]
for t in threads: t.start()
for t in threads: t.join()
after = {n: m for n, m in sys.modules.items() if keras_alias._ours(n)}
assert not errors, errors[:5]
assert after == before, (sorted(set(after) ^ set(before))[:10], sys.modules.get("keras"))
assert not any(isinstance(f, keras_alias._Finder) for f in sys.meta_path)
print("threads ok")
"""


@pytest.mark.slow
def test_hooks_from_eight_threads_see_lstmkit_and_leave_nothing_behind():
    done = subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "torch"})
    assert done.returncode == 0 and "threads ok" in done.stdout, done.stderr[-3000:]


PROGRAM = """
import multiprocessing, pickle, sys
import keras

class Point:
    def __init__(self, x):
        self.x = x

def square(x):
    return x * x

def which_keras(_):
    import keras
    return keras.layers.LSTM.__module__

if __name__ == "__main__":
    assert pickle.loads(pickle.dumps(Point(3))).x == 3
    assert sys.argv[1:] == ["--flag", "v"], sys.argv
    assert __spec__ is None and __file__.endswith("prog.py")
    assert sys.modules["__main__"].square is square
    for method in ("fork", "spawn"):
        with multiprocessing.get_context(method).Pool(2) as pool:
            assert pool.map(square, range(5)) == [0, 1, 4, 9, 16]
            print(method, pool.map(which_keras, range(2))[0])
            assert pool.apply(pickle.dumps, (Point(4),))
    print("main", keras.layers.LSTM.__module__)
"""


@pytest.mark.slow
def test_lstmkit_run_makes_the_program_main_for_pickle_and_multiprocessing(tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    done = subprocess.run([sys.executable, "-m", "lstmkit", "run", str(tmp_path / "prog.py"), "--flag", "v"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.split(" ")[0] in ("fork", "spawn", "main"))
    assert all(module.startswith("lstmkit") for module in lines.values()) and len(lines) == 3, done.stdout


@pytest.mark.slow
def test_the_program_runs_the_same_under_plain_python_with_real_keras(tmp_path):
    """The oracle: the same program under `python`, where Keras is the real one."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    done = subprocess.run([sys.executable, str(tmp_path / "prog.py"), "--flag", "v"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**os.environ, "KERAS_BACKEND": "torch"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "main keras" in done.stdout
