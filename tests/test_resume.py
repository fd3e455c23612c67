"""fit(checkpoint_dir=..., resume=True): a run stopped anywhere (an exception, or SIGKILL at any
moment, during a save too) and resumed ends with exactly the weights of a run never stopped."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import lstmkit.layers as L
from lstmkit.callbacks import Callback, CSVLogger, EarlyStopping, ReduceLROnPlateau
from lstmkit.models import Sequential
from lstmkit.optimizers import Adam
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(5)
X = rng.normal(size=(60, 7, 3)).astype("float32")
Y = rng.integers(0, 3, size=60)


def build(seed):
    set_random_seed(seed)
    m = Sequential([
        L.Input(shape=(7, 3)),
        L.LSTM(6, dropout=0.2, recurrent_dropout=0.3, return_sequences=True),
        L.GRU(5, recurrent_dropout=0.2),
        L.Dropout(0.3),
        L.Dense(3, activation="softmax"),
    ])
    m.compile(optimizer=Adam(learning_rate=0.01, decay=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class Crash(Exception):
    pass


class CrashAt(Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise Crash()


def callbacks(tmp_path):
    return [EarlyStopping(monitor="loss", patience=5, restore_best_weights=True),
            ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5), CSVLogger(tmp_path / "log.csv")]


def weights_equal(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    m = build(0)
    history = m.fit(X, Y, batch_size=8, epochs=4, validation_split=0.2, callbacks=callbacks(tmp), verbose=0)
    return m, history.history, (tmp / "log.csv").read_text()


@pytest.mark.parametrize("steps_per_epoch", [None, 5])
def test_checkpointing_itself_changes_nothing(tmp_path, steps_per_epoch):
    a = build(0)
    a.fit(X, Y, batch_size=8, epochs=3, steps_per_epoch=steps_per_epoch, verbose=0)
    b = build(0)
    b.fit(X, Y, batch_size=8, epochs=3, steps_per_epoch=steps_per_epoch, verbose=0,
          checkpoint_dir=tmp_path, checkpoint_steps=2)
    assert weights_equal(a, b)
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".lstmkit")]) == 2  # the newest two kept


@pytest.mark.parametrize("crash_at", [(0, 2), (1, 0), (1, 5), (2, 3), (3, 5)])
def test_resume_after_a_crash_gives_the_same_run(tmp_path, uninterrupted, crash_at):
    reference, reference_history, reference_log = uninterrupted
    ckpt = tmp_path / "ckpt"
    m = build(0)
    with pytest.raises(Crash):
        m.fit(X, Y, batch_size=8, epochs=4, validation_split=0.2, verbose=0, checkpoint_dir=ckpt,
              checkpoint_steps=2, callbacks=[*callbacks(tmp_path), CrashAt(*crash_at)])
    resumed = build(123)  # another start: everything must come from the checkpoint
    history = resumed.fit(X, Y, batch_size=8, epochs=4, validation_split=0.2, verbose=0, checkpoint_dir=ckpt,
                          resume=True, callbacks=[*callbacks(tmp_path), CrashAt(-1, -1)])
    assert weights_equal(resumed, reference)
    assert history.history == reference_history
    assert (tmp_path / "log.csv").read_text() == reference_log


def test_resume_with_steps_per_epoch_and_a_dataset(tmp_path):
    import torch

    data = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(Y))
    reference = build(0)
    reference.fit(data, batch_size=8, epochs=3, steps_per_epoch=5, verbose=0)
    m = build(0)
    with pytest.raises(Crash):
        m.fit(data, batch_size=8, epochs=3, steps_per_epoch=5, verbose=0, checkpoint_dir=tmp_path,
              checkpoint_steps=2, callbacks=[CrashAt(2, 1)])
    resumed = build(7)
    resumed.fit(data, batch_size=8, epochs=3, steps_per_epoch=5, verbose=0, checkpoint_dir=tmp_path, resume=True,
                callbacks=[CrashAt(-1, -1)])
    assert weights_equal(resumed, reference)


def test_resume_of_a_finished_run_does_nothing_more(tmp_path, uninterrupted):
    reference, history, _ = uninterrupted
    m = build(0)
    m.fit(X, Y, batch_size=8, epochs=4, validation_split=0.2, verbose=0, checkpoint_dir=tmp_path,
          callbacks=callbacks(tmp_path))
    again = build(1)
    h = again.fit(X, Y, batch_size=8, epochs=4, validation_split=0.2, verbose=0, checkpoint_dir=tmp_path,
                  resume=True, callbacks=callbacks(tmp_path))
    assert weights_equal(again, reference) and h.history == history


def test_resume_refuses_other_settings_and_skips_damaged_checkpoints(tmp_path):
    m = build(0)
    m.fit(X, Y, batch_size=8, epochs=2, verbose=0, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="batch_size=8.*batch_size=4"):
        build(0).fit(X, Y, batch_size=4, epochs=3, verbose=0, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="callbacks"):
        build(0).fit(X, Y, batch_size=8, epochs=3, verbose=0, checkpoint_dir=tmp_path, resume=True,
                     callbacks=[EarlyStopping(monitor="loss")])
    newest = sorted(p for p in os.listdir(tmp_path) if p.endswith(".lstmkit"))[-1]
    (tmp_path / newest).write_bytes((tmp_path / newest).read_bytes()[:100])  # cut short
    reference = build(0)
    reference.fit(X, Y, batch_size=8, epochs=3, verbose=0)
    resumed = build(1)
    with pytest.warns(UserWarning, match="does not read back"):
        resumed.fit(X, Y, batch_size=8, epochs=3, verbose=0, checkpoint_dir=tmp_path, resume=True)
    assert weights_equal(resumed, reference)  # from the epoch-1 checkpoint: epochs 2 and 3 again


@pytest.mark.parametrize("kwargs,name", [({"resume": True}, "checkpoint_dir"), ({"checkpoint_steps": 0}, "checkpoint_steps"),
                                         ({"checkpoint_steps": 3}, "checkpoint_dir")])
def test_checkpoint_arguments_are_checked(kwargs, name):
    with pytest.raises(ValueError, match=name):
        build(0).fit(X, Y, epochs=1, verbose=0, **kwargs)


# ---- SIGKILL, in a real process ----------------------------------------------------------------

PROGRAM = textwrap.dedent('''
    import os, signal, sys
    import numpy as np
    import lstmkit._io as io_module
    import lstmkit.layers as L
    from lstmkit.callbacks import Callback, CSVLogger, EarlyStopping
    from lstmkit.models import Sequential
    from lstmkit.utils import set_random_seed

    out, kill_step, kill_fsync, resume = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    rng = np.random.default_rng(5)
    x = rng.normal(size=(48, 6, 3)).astype("float32")
    y = rng.integers(0, 3, size=48)
    set_random_seed(0)  # the same program, run again: as a user re-runs it
    m = Sequential([L.Input(shape=(6, 3)), L.LSTM(6, dropout=0.2, recurrent_dropout=0.3), L.Dropout(0.2),
                    L.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    class KillAtStep(Callback):
        seen = 0
        def on_train_batch_end(self, batch, logs=None):
            KillAtStep.seen += 1
            if KillAtStep.seen == kill_step:
                os.kill(os.getpid(), signal.SIGKILL)

    fsyncs, real_fsync = [0], os.fsync
    def fsync_then_maybe_die(fd):
        fsyncs[0] += 1
        if fsyncs[0] == kill_fsync:  # odd: the new file is written, not yet renamed; even: renamed
            os.kill(os.getpid(), signal.SIGKILL)
        real_fsync(fd)
    io_module.os.fsync = fsync_then_maybe_die

    m.fit(x, y, batch_size=8, epochs=4, verbose=0, checkpoint_dir=os.path.join(out, "ckpt"), checkpoint_steps=4,
          resume=resume, callbacks=[KillAtStep(), EarlyStopping(monitor="loss", patience=9), CSVLogger(os.path.join(out, "log.csv"))])
    np.savez(os.path.join(out, "weights.npz"), *m.get_weights())
''')


def run_program(tmp_path, kill_step=0, kill_fsync=0, resume=False, kill_after=None):
    script = tmp_path / "train.py"
    script.write_text(PROGRAM)
    command = [sys.executable, str(script), str(tmp_path), str(kill_step), str(kill_fsync), "1" if resume else "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        time.sleep(kill_after)
        process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=300)
    return process.returncode, err


def final_weights(path):
    with np.load(path / "weights.npz") as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def program_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("program-reference")
    code, err = run_program(tmp)
    assert code == 0, err
    return final_weights(tmp), (tmp / "log.csv").read_text()


# 6 steps per epoch, 4 epochs. Each save fsyncs twice (the new file, then its directory after the
# rename); per epoch: the step-4 checkpoint (fsyncs 1, 2), the CSV log (3, 4), the epoch's checkpoint (5, 6).
KILL_POINTS = {
    "step 3 (before any checkpoint)": {"kill_step": 3},
    "step 6 (an epoch's last batch)": {"kill_step": 6},
    "step 11 (mid-epoch, after a step checkpoint)": {"kill_step": 11},
    "step 22 (last epoch)": {"kill_step": 22},
    "1st checkpoint written, not yet renamed": {"kill_fsync": 1},
    "1st CSV log written, not yet renamed": {"kill_fsync": 3},
    "epoch 1's checkpoint renamed, directory not synced, old one not pruned": {"kill_fsync": 6},
    "2nd CSV log written, not yet renamed": {"kill_fsync": 9},
    "epoch 2's checkpoint written, not yet renamed": {"kill_fsync": 11},
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_resume_gives_the_same_weights(tmp_path, program_reference, point):
    code, err = run_program(tmp_path, **KILL_POINTS[point])
    assert code == -signal.SIGKILL, (code, err)
    assert not (tmp_path / "weights.npz").exists()
    code, err = run_program(tmp_path, resume=True)
    assert code == 0, err
    reference, log = program_reference
    for a, b in zip(final_weights(tmp_path), reference):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "log.csv").read_text() == log


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_resume(tmp_path, program_reference):
    delay = float(np.random.default_rng().uniform(1.5, 4.0))  # import and a part of the training
    code, err = run_program(tmp_path, kill_after=delay)
    code, err = run_program(tmp_path, resume=True)
    assert code == 0, (delay, err)
    for a, b in zip(final_weights(tmp_path), program_reference[0]):
        np.testing.assert_array_equal(a, b)


def test_recipe_command_resumes_from_its_checkpoints(tmp_path, capsys):
    """`lstmkit forecast` stopped after 3 epochs and resumed to 5 equals a 5-epoch run."""
    from lstmkit import cli
    from lstmkit.models import load_model

    common = ["forecast", "--seed", "0", "--verbose", "0"]
    assert cli.main([*common, "--epochs", "5", "--save", str(tmp_path / "whole.lstmkit")]) == 0
    ckpt = str(tmp_path / "ckpt")
    assert cli.main([*common, "--epochs", "3", "--checkpoint-dir", ckpt]) == 0
    assert cli.main([*common, "--epochs", "5", "--checkpoint-dir", ckpt, "--resume",
                     "--save", str(tmp_path / "resumed.lstmkit")]) == 0
    assert weights_equal(load_model(tmp_path / "resumed.lstmkit"), load_model(tmp_path / "whole.lstmkit"))
    with pytest.raises(SystemExit):
        cli.main([*common, "--resume"])
    assert "--checkpoint-dir" in capsys.readouterr().err
