"""Data-parallel training on torch.distributed (gloo on loopback): two ranks train the model that
one process trains on the same global batches, checkpoints move between 1 and 2 ranks, and the
`--nproc` recipes start their ranks themselves.

The ranks run tests/ddp_worker.py under PyTorch's own launcher (`python -m torch.distributed.run`),
as a user's script would; the oracle is the same script as one plain process.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import lstmkit.layers as L
from lstmkit import distributed, plot
from lstmkit.callbacks import CSVLogger
from lstmkit.models import Sequential, load_model

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "ddp_worker.py")
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def ranks(out, *args, expect=0):
    """Runs the worker as 2 ranks under torchrun; returns the combined output."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", WORKER, str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_env())
    assert (done.returncode == 0) == (expect == 0), done.stdout + done.stderr
    return done.stdout + done.stderr


def single(out, *args):
    done = subprocess.run([sys.executable, WORKER, str(out), *args], capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def weights(out):
    return load_file(os.path.join(out, "weights.safetensors"))


def largest_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) for k in a)


def assert_same_log(path, expected_path, atol):
    """Two CSVLogger files: the same columns and epochs, each figure within `atol`."""
    with open(path, newline="") as f, open(expected_path, newline="") as g:
        got, expected = list(csv.DictReader(f)), list(csv.DictReader(g))
    assert [list(row) for row in got] == [list(row) for row in expected]  # columns, in order
    assert [row["epoch"] for row in got] == [row["epoch"] for row in expected]
    for mine, theirs in zip(got, expected):
        for column in mine:
            np.testing.assert_allclose(float(mine[column]), float(theirs[column]), rtol=0, atol=atol, err_msg=column)


def record(out, rank):
    with open(os.path.join(out, f"rank{rank}.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """The uninterrupted 2-rank run (float64, no dropout), 4 epochs."""
    out = tmp_path_factory.mktemp("ddp") / "two"
    ranks(out)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-6)])
def test_two_ranks_end_with_the_weights_of_one_process_on_the_same_global_batches(tmp_path, two_ranks, dtype, tolerance):
    # batch_size=8 is the global batch: each rank computes 4 of it; the fused LSTM and GRU
    # gradients are averaged by DDP. One process with batch_size=8 reads the same global batches.
    two = two_ranks if dtype == "float64" else tmp_path / "two"
    if dtype != "float64":
        ranks(two, "--dtype", dtype)
    one = tmp_path / "one"
    single(one, "--dtype", dtype)
    assert largest_difference(weights(two), weights(one)) <= tolerance
    r0, r1, alone = record(two, 0), record(two, 1), record(one, 0)
    assert (r0["world"], r1["world"], alone["world"]) == (2, 2, 1)
    # every rank holds the same weights and logged the same figures (reduced over the ranks);
    # validation (15 samples: 8 on one rank, 7 on the other) adds up to one process's figures
    assert r0["weights_sha256"] == r1["weights_sha256"]
    assert r0["history"] == r1["history"]
    for key, values in alone["history"].items():
        np.testing.assert_allclose(r0["history"][key], values, rtol=0, atol=tolerance * 10)
    # rank 0 alone wrote the CSV log: one header, one row per epoch
    assert open(two / "log.csv").read().count("\n") == 1 + 4


def test_one_rank_stopping_stops_both_at_the_same_batch_over_a_host_group(tmp_path):
    """Rank 1 alone sets stop_training after batch 2 of epoch 1: both ranks end there (the same
    history of two epochs, the same weights), the flag agreed over a gloo group of its own, as
    beside an NCCL group (a rank going on alone would wait forever for the other's gradients);
    one process told to stop at that global batch ends with the same weights."""
    out = tmp_path / "stopped"
    ranks(out, "--stop-at", "1", "2", "--own-host-group", "--epochs", "3")
    r0, r1 = record(out, 0), record(out, 1)
    assert r0["history"] == r1["history"] and len(r0["history"]["loss"]) == 2
    assert r0["weights_sha256"] == r1["weights_sha256"]
    alone = tmp_path / "alone"
    single(alone, "--stop-at", "1", "2", "--epochs", "3")
    assert len(record(alone, 0)["history"]["loss"]) == 2
    assert largest_difference(weights(out), weights(alone)) <= 1e-12
    whole = tmp_path / "whole"  # and not the weights of a run that went on
    single(whole, "--epochs", "2")
    assert largest_difference(weights(whole), weights(alone)) > 1e-6


@pytest.mark.slow
def test_a_checkpoint_of_two_ranks_resumes_on_one_and_on_two(tmp_path, two_ranks):
    crashed = tmp_path / "crashed"
    output = ranks(crashed, "--checkpoint-dir", str(crashed / "ck"), "--checkpoint-steps", "2", "--crash", "1", "2", expect=1)
    assert "exitcode" in output  # torchrun reports the failed ranks
    names = sorted(os.listdir(crashed / "ck"))
    # rank 0's lock on the directory (dropped with the process) and two checkpoints, no temporary file
    assert names == [".lock", "checkpoint-000001-000000000.lstmkit", "checkpoint-000001-000000002.lstmkit"]
    shutil.copytree(crashed / "ck", tmp_path / "ck_copy")
    single(tmp_path / "on_one", "--checkpoint-dir", str(tmp_path / "ck_copy"), "--resume")
    ranks(tmp_path / "on_two", "--checkpoint-dir", str(crashed / "ck"), "--resume")
    # on two ranks: bit for bit the uninterrupted run; on one: the same global batches, so the
    # same weights up to the summation order of the gradient average
    assert largest_difference(weights(tmp_path / "on_two"), weights(two_ranks)) == 0.0
    assert largest_difference(weights(tmp_path / "on_one"), weights(two_ranks)) <= 1e-12
    assert record(tmp_path / "on_two", 0)["history"] == record(two_ranks, 0)["history"]
    # the log's figures are sums over the ranks' shares: the same up to that summation order
    # (1e-12 on the weights allows ~1e-11 on a loss of order one)
    assert_same_log(tmp_path / "on_one" / "log.csv", two_ranks / "log.csv", atol=1e-11)


@pytest.mark.slow
def test_two_ranks_draw_their_own_dropout_masks_and_resume_them_exactly(tmp_path):
    ranks(tmp_path / "whole", "--dropout")
    ranks(tmp_path / "crashed", "--dropout", "--checkpoint-dir", str(tmp_path / "ck"), "--checkpoint-steps", "2",
          "--crash", "2", "3", expect=1)
    ranks(tmp_path / "resumed", "--dropout", "--checkpoint-dir", str(tmp_path / "ck"), "--resume")
    whole0, whole1 = record(tmp_path / "whole", 0), record(tmp_path / "whole", 1)
    # both ranks were seeded alike by the script, yet their generators went separate ways
    assert whole0["rng_sha256"] != whole1["rng_sha256"]
    assert whole0["weights_sha256"] == whole1["weights_sha256"]
    assert largest_difference(weights(tmp_path / "resumed"), weights(tmp_path / "whole")) == 0.0
    assert record(tmp_path / "resumed", 1)["rng_sha256"] == whole1["rng_sha256"]


@pytest.mark.slow
def test_lstmkit_mnist_nproc_2_runs_to_the_end_and_reports_once(tmp_path):
    command = [sys.executable, "-m", "lstmkit", "mnist", "--nproc", "2", "--limit", "256", "--epochs", "2",
               "--save", "m.lstmkit", "--verbose", "2", "--seed", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Test accuracy:") == 1
    assert done.stdout.count("Epoch 2/2") == 1 and done.stdout.count("Saved the model") == 1
    accuracy = float(done.stdout.split("Test accuracy:")[1].split()[0])
    assert 0.0 <= accuracy <= 1.0
    model = load_model(tmp_path / "m.lstmkit")  # written once, whole
    assert model.predict(np.zeros((1, 28, 28), dtype="float32")).shape == (1, 10)


@pytest.mark.slow
def test_after_a_data_parallel_fit_a_rank_trains_alone_without_waiting_for_the_others(tmp_path):
    # the DDP wrapper and its gradient hooks go with the end of fit: rank 0's later steps are local
    script = tmp_path / "after.py"
    script.write_text(
        "import numpy as np, torch\n"
        "import lstmkit.layers as L\n"
        "from lstmkit.models import Sequential\n"
        "from lstmkit import distributed\n"
        "m = Sequential([L.Input(shape=(4, 2)), L.LSTM(3), L.Dense(2, activation='softmax')])\n"
        "m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "x, y = np.random.rand(16, 4, 2).astype('float32'), np.zeros(16, 'int64')\n"
        "m.fit(x, y, epochs=1, batch_size=8, verbose=0)\n"
        "if distributed.rank() == 0:\n"
        "    before = [p.detach().clone() for p in m.parameters()]\n"
        "    m.fit(x, y, epochs=2, batch_size=8, verbose=0, distribute=None)\n"
        "    m.train_on_batch(x, y)\n"
        "    print('moved:', any(not torch.equal(a, b) for a, b in zip(before, m.parameters())))\n"
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "moved: True" in done.stdout


@pytest.mark.slow
def test_nproc_must_divide_the_global_batch(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lstmkit", "mnist", "--nproc", "3", "--limit", "64"],
                          capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path)
    assert done.returncode == 2
    assert "--batch-size 32 is the global batch: it must be a multiple of --nproc 3" in done.stderr


@pytest.mark.slow
def test_a_failing_rank_fails_the_command(tmp_path):
    command = [sys.executable, "-m", "lstmkit", "forecast", "--nproc", "2", "--series", "nowhere.csv"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_env(), cwd=tmp_path)
    assert done.returncode != 0
    assert "nowhere.csv" in done.stderr


# ---- in one process ------------------------------------------------------------------------------


def test_shards_follow_distributed_sampler_rules():
    for samples, world in ((10, 2), (11, 3), (2, 4)):
        for shuffle in (False, True):
            shards = [distributed.shard_order(samples, world, r, shuffle, seed=5, pass_index=1) for r in range(world)]
            assert len({len(s) for s in shards}) == 1  # equal lengths: every rank runs as many batches
            merged = torch.stack(shards, dim=1).flatten()  # global order: rank r holds positions r, r+world, ...
            assert set(merged.tolist()) == set(range(samples))
            assert len(merged) == -(-samples // world) * world
            assert torch.equal(merged[:samples].sort().values, torch.arange(samples))  # padding only repeats
    one = distributed.shard_order(100, 1, 0, True, seed=5, pass_index=0)
    again = distributed.shard_order(100, 1, 0, True, seed=5, pass_index=0)
    later = distributed.shard_order(100, 1, 0, True, seed=5, pass_index=1)
    assert torch.equal(one, again) and not torch.equal(one, later)  # reshuffled per pass, fixed by the seed
    # global batch k is slice k of one order, whatever the number of ranks
    two = torch.stack([distributed.shard_order(100, 2, r, True, 5, 0) for r in range(2)], dim=1).flatten()
    assert torch.equal(one, two)
    assert distributed.split_evenly(15, 2, 0).tolist() == list(range(0, 15, 2))


def _model():
    m = Sequential([L.Input(shape=(4, 2)), L.LSTM(3), L.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def test_distribute_argument_is_checked(monkeypatch):
    x, y = np.zeros((8, 4, 2), "float32"), np.zeros(8, "int64")
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ValueError, match="distribute='ddp' needs .*torchrun"):
        _model().fit(x, y, distribute="ddp", verbose=0)
    with pytest.raises(ValueError, match="distribute=.*'everywhere'"):
        _model().fit(x, y, distribute="everywhere", verbose=0)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="batch_size=8 must be a multiple of the 3 ranks"):
        _model().fit(x, y, batch_size=8, verbose=0)


def test_other_ranks_print_and_write_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    m = _model()
    x, y = np.zeros((8, 4, 2), "float32"), np.zeros(8, "int64")
    m.fit(x, y, epochs=2, callbacks=[CSVLogger(tmp_path / "log.csv")], distribute=None, checkpoint_dir=tmp_path / "ck")
    m.evaluate(x, y)
    m.save(tmp_path / "m.lstmkit")
    m.save_weights(tmp_path / "w.safetensors")
    plot.history(m.history.history, tmp_path / "curves.png")
    assert capsys.readouterr().out == ""
    assert sorted(os.listdir(tmp_path)) == []


def test_launch_refuses_a_bad_process_count():
    with pytest.raises(ValueError, match="nproc=0"):
        distributed.launch(0, ["mnist"])


@pytest.mark.slow
def test_lstmkit_run_nproc_runs_a_keras_program_on_two_ranks(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(
        "import numpy as np\n"
        "from keras.models import Sequential\n"
        "from keras.layers import LSTM, Dense\n"
        "x = np.random.default_rng(0).normal(size=(64, 5, 2)).astype('float32')\n"
        "y = (x.sum(axis=(1, 2)) > 0).astype('float32')\n"
        "model = Sequential()\n"
        "model.add(LSTM(4, input_shape=(5, 2)))\n"
        "model.add(Dense(1, activation='sigmoid'))\n"
        "model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])\n"
        "model.fit(x, y, epochs=2, batch_size=16, verbose=2)\n"
        "print('evaluate:', model.evaluate(x, y, verbose=0))\n"
        "from keras import distributed\n"
        "print('ranks:', distributed.world_size())\n"
    )
    command = [sys.executable, "-m", "lstmkit", "run", "--nproc", "2", "--seed", "0", str(program)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("evaluate:") == 1 and done.stdout.count("Epoch 2/2") == 1
    assert "ranks: 2" in done.stdout
