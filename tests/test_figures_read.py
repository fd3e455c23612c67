"""When `fit` and `evaluate` read the running figures (loss, metrics) back from the model's device.

Reading them waits for the device, so on a GPU a read after every batch keeps the host from
running ahead. They are read after a batch only for a callback that looks at them then; the
progress bar reads them when it draws; everything else reads them at the end of the pass. The
oracle for the numbers is the same fit with the figures read after every batch (a callback with
a per-batch hook forces that): the figures, the history and the first non-finite loss's report
must not depend on when they were read.
"""

import re
import warnings

import numpy as np
import pytest

from lstmkit import callbacks
from lstmkit.layers import LSTM, Dense
from lstmkit.models import Sequential
from lstmkit.optimizers import SGD
from lstmkit.training import metrics
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(3)
X = rng.normal(size=(40, 5, 2)).astype("float32")
Y = rng.integers(0, 3, size=40)
BATCHES = 10  # per epoch at batch_size=4
TARGETS = rng.random(40) * 1e3  # a regression the SGD below diverges on


def model(lr=0.1, loss="sparse_categorical_crossentropy"):
    set_random_seed(0)
    m = Sequential([LSTM(6, input_shape=(5, 2)), Dense(3, activation="softmax")])
    m.compile(optimizer=SGD(learning_rate=lr), loss=loss, metrics=["accuracy"])
    return m


class PerBatch(callbacks.Callback):
    """Looks at the logs after every batch (training and test), keeping copies."""

    def __init__(self):
        super().__init__()
        self.train, self.test = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train.append((batch, type(logs), dict(logs)))

    def on_test_batch_end(self, batch, logs=None):
        self.test.append((batch, type(logs), dict(logs)))


@pytest.fixture
def reads(monkeypatch):
    """The number of reads that brought rows back from the device."""
    count = {"reads": 0}
    settle = metrics.Tally.settle

    def counted(self):
        if self._waiting:
            count["reads"] += 1
        settle(self)

    monkeypatch.setattr(metrics.Tally, "settle", counted)
    return count


def test_without_a_per_batch_reader_the_figures_are_read_once_per_pass(reads):
    history = model().fit(X, Y, batch_size=4, epochs=3, verbose=0, validation_data=(X[:8], Y[:8]))
    assert reads["reads"] == 3 * 2  # each epoch's training figures, and its validation's
    eager = PerBatch()
    expected = model().fit(X, Y, batch_size=4, epochs=3, verbose=0, validation_data=(X[:8], Y[:8]), callbacks=[eager])
    assert reads["reads"] == 3 * 2 + 3 * (BATCHES + 2)  # the oracle read after every batch
    assert history.history == expected.history  # the same sums, added in the same order
    assert len(eager.train) == 3 * BATCHES and len(eager.test) == 3 * 2


def test_a_per_batch_hook_gets_plain_dicts_of_the_running_figures(reads):
    spy = PerBatch()
    m = model()
    history = m.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[spy])
    assert all(kind is dict for _, kind, _ in spy.train)
    last_of_epoch = [logs for batch, _, logs in spy.train if batch == BATCHES - 1]
    assert [logs["loss"] for logs in last_of_epoch] == history.history["loss"]
    assert [logs["accuracy"] for logs in last_of_epoch] == history.history["accuracy"]
    # the running mean after the first batch is that batch's own loss: the step in inference
    # mode cannot reproduce a training step's, but its figures are a number per name
    assert set(spy.train[0][2]) == {"loss", "accuracy"} and all(isinstance(v, float) for v in spy.train[0][2].values())


def test_evaluate_reads_once_unless_a_hook_looks_after_each_batch(reads):
    m = model()
    quiet = m.evaluate(X, Y, batch_size=4, verbose=0, return_dict=True)
    assert reads["reads"] == 1
    spy = PerBatch()
    looked = m.evaluate(X, Y, batch_size=4, verbose=0, return_dict=True, callbacks=[spy])
    assert reads["reads"] == 1 + BATCHES
    assert looked == quiet and spy.test[-1][2] == quiet and all(kind is dict for _, kind, _ in spy.test)


def test_the_progress_bar_reads_only_when_it_draws(reads, capsys):
    # captured output is not a terminal: the bar writes its line once, at the end of the epoch
    history = model().fit(X, Y, batch_size=4, epochs=2, verbose=1)
    assert reads["reads"] == 2
    out = capsys.readouterr().out
    shown = [float(v) for v in re.findall(r"- loss: ([0-9.]+)", out)]
    assert shown == pytest.approx(history.history["loss"], abs=1e-4)


def test_the_bar_on_a_terminal_reads_at_its_redraws(reads, monkeypatch):
    """Redrawn in place at most ten times a second: with a clock that moves 0.05 s a batch the
    bar draws at about every second batch (and its first), and reads only then."""
    from lstmkit.training import progress

    now = [0.0]

    def clock():
        now[0] += 0.05
        return now[0]

    monkeypatch.setattr(progress.time, "perf_counter", clock)
    monkeypatch.setattr(callbacks.ProgbarLogger, "_start", _terminal_start)
    model().fit(X, Y, batch_size=4, epochs=1, verbose=1)
    assert 2 <= reads["reads"] < BATCHES


def _terminal_start(self):
    import io

    from lstmkit.training.progress import Progbar

    self.seen = 0
    self.bar = Progbar(self.params.get("steps"), stream=io.StringIO(), interactive=True)


@pytest.mark.parametrize("callback, reads_train", [
    (callbacks.History(), False),
    (callbacks.ProgbarLogger(), False),
    (callbacks.EarlyStopping(), False),
    (callbacks.ModelCheckpoint("m.keras"), False),
    (callbacks.ModelCheckpoint("m.keras", save_freq=5), True),
    (callbacks.TerminateOnNaN(), True),
    (callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None), False),
    (callbacks.LambdaCallback(on_batch_end=lambda batch, logs: None), True),
    (callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: None), True),
    (PerBatch(), True),
])
def test_which_callbacks_look_after_each_batch(callback, reads_train):
    assert callback.reads_batch_logs("train") is reads_train


def test_a_keras_2_style_on_batch_end_override_is_a_reader():
    class OldStyle(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    assert OldStyle().reads_batch_logs("train") and not OldStyle().reads_batch_logs("test")


def _first_nonfinite_report(extra):
    set_random_seed(1)
    m = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    m.compile(optimizer=SGD(learning_rate=3.0), loss="mse")  # overflows in the second epoch
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(X, TARGETS, batch_size=2, epochs=3, verbose=0, shuffle=False, callbacks=extra)
    return [str(w.message) for w in caught if "non-finite loss" in str(w.message)]


def test_the_first_nonfinite_loss_is_placed_as_when_read_every_batch():
    deferred = _first_nonfinite_report([])
    eager = _first_nonfinite_report([PerBatch()])
    assert len(deferred) == 1 and deferred == eager
    assert re.search(r"became (nan|inf) at epoch 2, batch [2-9]", deferred[0]), deferred  # not a first batch


def test_rows_waiting_on_the_device_are_bounded(reads, monkeypatch):
    monkeypatch.setattr(metrics.Tally, "WAITING_AT_MOST", 3)
    history = model().fit(X, Y, batch_size=4, epochs=2, verbose=0)
    assert reads["reads"] == 2 * 4  # 10 batches: read at 3, 6, 9 and the epoch's end
    monkeypatch.setattr(metrics.Tally, "WAITING_AT_MOST", 1024)
    assert model().fit(X, Y, batch_size=4, epochs=2, verbose=0).history == history.history


def test_a_mid_epoch_checkpoint_holds_every_batch_so_far(tmp_path):
    """A checkpoint every 3 batches reads the figures first; resumed from the one at batch 6 of
    the second epoch, the run's history is the uninterrupted run's."""
    whole = model().fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[_CrashAt(-1, -1)])
    with pytest.raises(_Crash):
        model().fit(X, Y, batch_size=4, epochs=2, verbose=0, checkpoint_dir=tmp_path, checkpoint_steps=3,
                    callbacks=[_CrashAt(1, 8)])
    resumed = model().fit(X, Y, batch_size=4, epochs=2, verbose=0, checkpoint_dir=tmp_path, resume=True,
                          callbacks=[_CrashAt(-1, -1)])
    assert resumed.history == whole.history


class _Crash(Exception):
    pass


class _CrashAt(callbacks.Callback):
    """Crashes before a batch (a hook that reads no logs, so the figures wait on the device)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise _Crash()


class NowAndThen(PerBatch):
    """A per-batch hook that looks at the logs only at some batches, and says so."""

    def reads_batch_logs(self, stage):
        return False

    def on_train_batch_end(self, batch, logs=None):
        if batch % 4 == 3:
            super().on_train_batch_end(batch, logs)


def test_a_hook_that_says_it_reads_now_and_then_gets_the_figures_when_it_looks(reads):
    occasional = NowAndThen()
    model().fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[occasional])
    assert reads["reads"] == 2 * 3  # batches 3 and 7 of each epoch, and its end
    assert all(kind is metrics.LiveLogs for _, kind, _ in occasional.train)
    eager = PerBatch()
    model().fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[eager])
    assert [logs for _, _, logs in occasional.train] == [logs for b, _, logs in eager.train if b % 4 == 3]


def _host_reads_in_fit(model, x, y, batches):
    """The tensor-to-number reads (`.item()`, `float(t)`, `bool(t)`) and tensors made from Python
    numbers (on a GPU, copies from the host) in one `fit` of `batches`: either makes the host wait
    for a GPU, as `torch.cuda.set_sync_debug_mode` would report there."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Reads(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.found = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__ in ("_local_scalar_dense.default", "lift_fresh.default"):
                self.found.append(func.__name__)
            return func(*args, **(kwargs or {}))

    with Reads() as reads:
        model.fit(x[: 4 * batches], y[: 4 * batches], batch_size=4, epochs=1, verbose=0)
    return reads.found


@pytest.mark.parametrize("kind", ["seed", "text"])
def test_the_reads_of_a_fit_do_not_grow_with_its_batches(kind):
    """The CPU's view of tests/test_cuda.py's check: what a fit reads back does not depend on
    how many batches it runs (no dropout here: on the CPU its masks draw a seed per layer call)."""
    set_random_seed(0)
    if kind == "seed":
        m = Sequential([LSTM(8, input_shape=(5, 2), return_sequences=True), LSTM(8), Dense(3, activation="softmax")])
        x = X
    else:
        from lstmkit.layers import Embedding, Input

        m = Sequential([Input(shape=(5,), dtype="int64"), Embedding(10, 4), LSTM(8), Dense(3, activation="softmax")])
        x = rng.integers(0, 10, size=(40, 5))
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x[:8], Y[:8], batch_size=4, epochs=1, verbose=0)  # built, optimizer state made
    assert len(_host_reads_in_fit(m, x, Y, 10)) == len(_host_reads_in_fit(m, x, Y, 3))
