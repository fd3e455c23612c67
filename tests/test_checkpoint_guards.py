"""Checkpoint directories used carelessly: a resume past the run's end, two runs on one directory,
a resume with other data or another optimizer, hand-edited checkpoints, and the temporary files
a kill leaves behind. Each is refused by name, or cleaned up; none trains the wrong thing."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

import lstmkit.layers as L
from lstmkit import _io
from lstmkit.callbacks import LambdaCallback
from lstmkit.models import Sequential
from lstmkit.optimizers import SGD, Adam
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(9)
X = rng.normal(size=(24, 5, 3)).astype("float32")
Y = rng.integers(0, 2, size=24)


def build(seed=0, optimizer=None):
    set_random_seed(seed)
    m = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(2, activation="softmax")])
    m.compile(optimizer=optimizer or Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    return m


def newest(directory):
    return os.path.join(directory, sorted(p for p in os.listdir(directory) if p.endswith(".lstmkit"))[-1])


def test_a_resume_past_the_checkpoint_is_refused_with_where_it_stands(tmp_path):
    build().fit(X, Y, batch_size=8, epochs=3, verbose=0, checkpoint_dir=tmp_path)
    m = build(1)
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"checkpoint-000003-000000000.lstmkit.*stands after 3 epochs, past this fit.s epochs=2.*epochs=3 or more"):
        m.fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path, resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), before))


def test_a_mid_epoch_checkpoint_needs_the_epoch_it_stands_in(tmp_path):
    class Stop(Exception):
        pass

    def crash(batch, logs):
        if batch == 1:
            raise Stop()

    with pytest.raises(Stop):
        build().fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=tmp_path, checkpoint_steps=1,
                    callbacks=[LambdaCallback(on_train_batch_end=crash)])
    with pytest.raises(ValueError, match=r"stands after 0 epochs and 1 batches of the next.*epochs=1 or more"):
        build().fit(X, Y, batch_size=8, epochs=0, verbose=0, checkpoint_dir=tmp_path, resume=True,
                    callbacks=[LambdaCallback()])


def test_the_same_data_and_settings_still_resume(tmp_path):
    build().fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path)
    reference = build()
    reference.fit(X, Y, batch_size=8, epochs=3, verbose=0)
    resumed = build(1)
    resumed.fit(X.copy(), Y.copy(), batch_size=8, epochs=3, verbose=0, checkpoint_dir=tmp_path, resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(resumed.get_weights(), reference.get_weights()))


@pytest.mark.parametrize("change,name", [
    (lambda: dict(x=X + 1.0), "data="),
    (lambda: dict(y=1 - Y), "data="),
    (lambda: dict(x=X[::-1].copy(), y=Y[::-1].copy()), "data="),
    (lambda: dict(optimizer=SGD(learning_rate=0.01)), "optimizer="),
    (lambda: dict(optimizer=Adam(learning_rate=0.01, beta_1=0.5)), "optimizer="),
])
def test_other_data_or_another_optimizer_is_refused(tmp_path, change, name):
    build().fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=tmp_path)
    args = {"x": X, "y": Y, "optimizer": None, **change()}
    m = build(optimizer=args["optimizer"])
    with pytest.raises(ValueError, match=rf"Cannot resume from .*saved by a run with {name}"):
        m.fit(args["x"], args["y"], batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path, resume=True)


def test_a_changed_learning_rate_resumes_from_the_checkpoint_rate(tmp_path):
    """Callbacks change the rate during a run and the checkpoint keeps it; only other settings refuse."""
    build().fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=tmp_path)
    m = build(optimizer=Adam(learning_rate=0.5))
    m.fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path, resume=True)
    assert m.optimizer.learning_rate == pytest.approx(0.01)


HOLDER = textwrap.dedent('''
    import sys, time
    import numpy as np
    import lstmkit.layers as L
    from lstmkit.callbacks import LambdaCallback
    from lstmkit.models import Sequential
    m = Sequential([L.Input(shape=(5, 3)), L.LSTM(4), L.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    def hold(epoch, logs):
        print("training", flush=True)
        time.sleep(600)
    m.fit(np.zeros((8, 5, 3), "float32"), np.zeros(8, "int64"), epochs=1, verbose=0, checkpoint_dir=sys.argv[1],
          callbacks=[LambdaCallback(on_epoch_begin=hold)])
''')


@pytest.mark.slow
def test_a_second_run_on_a_directory_in_use_is_refused_until_the_first_dies(tmp_path):
    ckpt = tmp_path / "ck"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(ckpt)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "training"
        m = build()
        with pytest.raises(ValueError, match=rf"checkpoint_dir '{ckpt}' is in use by another run \(process {holder.pid}\)"):
            m.fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=ckpt)
        with pytest.raises(ValueError, match="in use by another run"):
            m.fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=ckpt, resume=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    # the OS dropped the dead run's lock: the directory is free again, and a fit releases it at its end
    build().fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=ckpt)
    build().fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=ckpt, resume=True)


def test_a_fit_that_fails_releases_the_directory(tmp_path):
    with pytest.raises(ValueError):
        build().fit(X, Y[:5], epochs=1, verbose=0, checkpoint_dir=tmp_path)  # refused before training
    with pytest.raises(ZeroDivisionError):
        build().fit(X, Y, epochs=1, verbose=0, checkpoint_dir=tmp_path,
                    callbacks=[LambdaCallback(on_train_batch_end=lambda b, logs: 1 / 0)])
    build().fit(X, Y, epochs=1, verbose=0, checkpoint_dir=tmp_path)


def edit_run(path, edit):
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("lstmkit.json"))
        tensors = load_safetensors(zf.read("tensors.safetensors"))
    edit(header["run"], tensors)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("lstmkit.json", json.dumps(header))
        zf.writestr("tensors.safetensors", save_safetensors(tensors))


def rng_key(run):
    return run["rng"]["torch"]["__tensor__"]


EDITS = {
    "position.epoch=-5": (lambda run, t: run["position"].update(epoch=-5), "position.epoch=-5"),
    "position.step a string": (lambda run, t: run["position"].update(step="3"), "position.step='3'"),
    "position missing": (lambda run, t: run.pop("position"), "position=None"),
    "stream.seed negative": (lambda run, t: run["stream"].update(seed=-1), "stream.seed=-1"),
    "fit settings a list": (lambda run, t: run.update(fit=[1]), "fit=\\[1\\]"),
    "torch generator cut short": (lambda run, t: t.update({rng_key(run): t[rng_key(run)][:10]}), "rng.torch"),
    "numpy generator missing": (lambda run, t: run["rng"].pop("numpy"), "rng.numpy"),
    "trackers malformed": (lambda run, t: run.update(trackers={"loss": [1.0]}), "trackers="),
    "stopped a number": (lambda run, t: run.update(stopped=3), "stopped=3"),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_a_hand_edited_checkpoint_is_refused_by_field(tmp_path, case):
    build().fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=tmp_path)
    edit, field = EDITS[case]
    edit_run(newest(tmp_path), edit)
    m = build(1)
    # the only checkpoint does not read back: a warning naming the field, and the run starts afresh
    with pytest.warns(UserWarning, match=rf"Skipping the checkpoint .*{field}"):
        history = m.fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path, resume=True)
    assert history.epoch == [0, 1]


def test_a_callbacks_state_that_does_not_read_back_is_named(tmp_path):
    build().fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=tmp_path)
    edit_run(newest(tmp_path), lambda run, t: run["callbacks"].update({k: {} for k in run["callbacks"]}))
    with pytest.raises(ValueError, match=r"state it holds for the callback 0:History does not read back"):
        build().fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path, resume=True)


def test_the_next_save_removes_what_a_killed_save_left_behind(tmp_path, monkeypatch):
    path = tmp_path / "m.lstmkit"
    m = build()
    m.save(path)
    # a save killed between writing and renaming: its temporary file stays (its writer is gone)
    left = tmp_path / ".m.lstmkit.abc123.tmp"
    left.write_bytes(b"x" * 1000)
    other = tmp_path / ".other.lstmkit.abc123.tmp"  # another file's: not this save's to remove
    other.write_bytes(b"y")
    m.save(path)
    assert not left.exists() and other.exists()
    assert sorted(os.listdir(tmp_path)) == [".other.lstmkit.abc123.tmp", "m.lstmkit"]


def test_a_write_under_way_keeps_its_temporary_file(tmp_path):
    """The clean-up removes only files whose writer's lock is gone."""
    busy = tmp_path / ".m.lstmkit.live.tmp"
    fd = os.open(busy, os.O_RDWR | os.O_CREAT)
    try:
        assert _io._try_lock(fd)
        _io.atomic_write(tmp_path / "m.lstmkit", b"new")
        assert busy.exists()
    finally:
        os.close(fd)
    _io.atomic_write(tmp_path / "m.lstmkit", b"newer")
    assert not busy.exists() and (tmp_path / "m.lstmkit").read_bytes() == b"newer"


def test_a_checkpoint_of_another_architecture_is_refused_not_skipped(tmp_path):
    build().fit(X, Y, batch_size=8, epochs=1, verbose=0, checkpoint_dir=tmp_path)
    set_random_seed(0)
    other = Sequential([L.Input(shape=(5, 3)), L.LSTM(7), L.Dense(2, activation="softmax")])
    other.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"The weight layers.0.cell.\w+ in .*checkpoint-000001.* has shape \([0-9, ]*16,?\); "
                                         r"model 'sequential' has \([0-9, ]*28,?\) there"):
        other.fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path, resume=True)
