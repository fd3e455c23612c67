"""Keras's data files hold pickles (IMDB and Reuters as object arrays inside .npz, CIFAR's
batches): each attack below once crashed the process, allocated what the file only declared,
ran for ever or returned uninitialised memory. Each now runs in its own process under a time and
memory limit and ends in a ValueError / UnpicklingError that says what was wrong. Good pickles
are checked against numpy's own unpickling (the oracle)."""

import io
import pickle
import struct
import warnings
import zipfile

import numpy as np
import pytest

try:  # the function real array pickles name
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1
    from numpy.core.multiarray import _reconstruct

from hostile import attack
from lstmkit.datasets import imdb
from lstmkit.datasets._npz import load_npz
from lstmkit.datasets._pickles import arrays_only_pickle

LOAD_PICKLE = """
with open({path!r}, "rb") as f:
    arrays_only_pickle(f, encoding={encoding!r})
"""


def reduced(function, args, state=None):
    """An object that pickles as `function(*args)` with BUILD `state`."""
    class R:
        def __reduce__(self):
            return (function, args) if state is None else (function, args, state)
    return R()


def dtype_lying_about_objects():
    """The issue's crash: a dtype rebuilt with flags saying "no objects" while it has an object
    field, then an array of it built from the file's raw bytes."""
    red = np.dtype([("a", "O")]).__reduce__()
    state = list(red[2])
    state[-1] = 0
    return reduced(_reconstruct, (np.ndarray, (0,), b"b"),
                   (1, (2,), reduced(np.dtype, red[1], tuple(state)), False, b"A" * 16))


def shared_references():
    level = [0] * 1000
    for _ in range(3):
        level = [level] * 1000
    return level


def array_state(shape, dtype, data, fortran=False):
    return reduced(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, np.dtype(dtype), fortran, data))


ATTACKS = {
    "a dtype whose flags deny its object field (segfault)": lambda: pickle.dumps(dtype_lying_about_objects(), protocol=2),
    "BINBYTES8 declaring 20 GiB": lambda: b"\x80\x04\x8e" + struct.pack("<Q", 20 << 30) + b"abc.",
    "BINUNICODE8 declaring 2**62 bytes": lambda: b"\x80\x04\x8d" + struct.pack("<Q", 1 << 62) + b"abc.",
    "a FRAME declaring 16 GiB": lambda: b"\x80\x04\x95" + struct.pack("<Q", 16 << 30) + b"N.",
    "LONG_BINPUT to memo slot 400 million (6 GB in 8 bytes)": lambda: b"\x80\x02Nr" + struct.pack("<I", 400_000_000) + b".",
    "PUT to memo slot 10**9 as text": lambda: b"\x80\x02Np1000000000\n.",
    "a list shared 1000 x 1000 x 1000 times": lambda: pickle.dumps(shared_references(), protocol=2),
    "a dict of shared lists 10**9 items": lambda: pickle.dumps({"x": shared_references()}, protocol=4),
    "_reconstruct with no data (uninitialised memory)": lambda: pickle.dumps(
        reduced(_reconstruct, (np.ndarray, (1 << 20,), b"b")), protocol=2),
    "numpy.ndarray called for a huge shape": lambda: pickle.dumps(reduced(np.ndarray, ((1 << 40,),)), protocol=2),
    "an array whose data is shorter than its shape": lambda: pickle.dumps(array_state((1 << 30,), "f8", b"\0" * 8), protocol=2),
    "an array whose data is longer than its shape": lambda: pickle.dumps(array_state((2,), "f8", b"\0" * 24), protocol=2),
    "a structured dtype": lambda: pickle.dumps(np.zeros(3, dtype=[("a", "f4"), ("b", "i4")]), protocol=2),
    "a string dtype": lambda: pickle.dumps(np.array(["abc"]), protocol=2),
    "an object array holding a function": lambda: pickle.dumps(np.array([len, 1], dtype=object), protocol=2),
    "an object array holding nested lists": lambda: pickle.dumps(
        np.array([None, None], dtype=object).__class__(shape=(0,)), protocol=2) if False else pickle.dumps(
        _object_array([[[1, 2]], [3]]), protocol=3),
    "an object array holding negative ids": lambda: pickle.dumps(_object_array([[1, -2]]), protocol=3),
    "an object array of the wrong length": lambda: pickle.dumps(
        reduced(_reconstruct, (np.ndarray, (0,), b"b"), (1, (5,), np.dtype(object), False, [[1]])), protocol=3),
    "an array built twice": lambda: _built_twice(),
    "a shape of -1": lambda: pickle.dumps(array_state((-1,), "f8", b""), protocol=2),
    "os.system": lambda: pickle.dumps(reduced(__import__("os").system, ("echo pwned",)), protocol=2),
    "_codecs.encode to another codec": lambda: pickle.dumps(reduced(__import__("_codecs").encode, ("x", "rot13")), protocol=2),
    "no STOP opcode": lambda: b"\x80\x02N",
    "an unknown opcode": lambda: b"\x80\x02\xff.",
    "a persistent id": lambda: b"\x80\x02X\x01\x00\x00\x00aQ.",
    "lists nested 100,000 deep": lambda: b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".",
}


def _object_array(items):
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _built_twice():
    data = pickle.dumps(array_state((1,), "f8", b"\0" * 8), protocol=2)
    # BUILD the same array a second time with a state of another shape: MARK the state, BUILD again
    state = pickle.dumps((1, (2,), np.dtype("f8"), False, b"\0" * 16), protocol=2)[2:-1]
    return data[:-1] + state + b"b."


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_hostile_pickle_is_refused_in_bounded_time_and_memory(tmp_path, name):
    path = tmp_path / "attack.pkl"
    path.write_bytes(ATTACKS[name]())
    result = attack(LOAD_PICKLE.format(path=str(path), encoding="ASCII"),
                    setup="from lstmkit.datasets._pickles import arrays_only_pickle", seconds=60, megabytes=300)
    assert result.refused("UnpicklingError") and result.refused("ValueError"), (name, result)
    assert result.seconds < 5, (name, result)
    assert result.megabytes < 200, (name, result)


GOOD = {
    "float64 C order": np.arange(12, dtype="f8").reshape(3, 4),
    "float32 Fortran order": np.asfortranarray(np.arange(12, dtype="f4").reshape(3, 4)),
    "big-endian int32": np.arange(6, dtype=">i4"),
    "uint8 images": np.arange(3 * 3072, dtype=np.uint32).astype(np.uint8).reshape(3, 3072),
    "bool": np.array([True, False, True]),
    "empty int64": np.zeros((0, 3), dtype=np.int64),
    "scalar-shaped float16": np.array(1.5, dtype=np.float16),
    "word-id lists": _object_array([[1, 14, 22], [], [5] * 300]),
    "word-id lists of one length": _object_array([[1, 2], [3, 4]]),
}


@pytest.mark.parametrize("name", sorted(GOOD))
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_good_array_pickles_read_as_numpy_reads_them(name, protocol):
    raw = pickle.dumps({"a": GOOD[name], "label": [1, 2], "n": np.int64(7), b"k": (GOOD[name], 2.5)}, protocol=protocol)
    ours, theirs = arrays_only_pickle(io.BytesIO(raw)), pickle.loads(raw)
    for a, b in ((ours["a"], theirs["a"]), (ours[b"k"][0], theirs[b"k"][0])):
        # numpy itself gives native byte order for some protocols and not others: the values count
        assert a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=") and a.shape == b.shape
        assert a.flags.f_contiguous == b.flags.f_contiguous
        if a.dtype == object:
            assert [list(x) for x in a] == [list(x) for x in b]
        else:
            np.testing.assert_array_equal(a, b)
        assert a.flags.writeable
    assert ours["label"] == [1, 2] and ours["n"] == 7 and ours["n"].dtype == np.int64 and ours[b"k"][1] == 2.5


def test_python_2_pickles_with_bytes_encoding_read_as_numpy_reads_them():
    # protocol 2 from Python 3 stores bytes through _codecs.encode, as CIFAR's Python 2 batches do
    batch = {b"data": GOOD["uint8 images"], b"labels": [3, 1, 4], b"batch_label": b"x"}
    raw = pickle.dumps(batch, protocol=2)
    ours = arrays_only_pickle(io.BytesIO(raw), encoding="bytes")
    np.testing.assert_array_equal(ours[b"data"], pickle.loads(raw, encoding="bytes")[b"data"])
    assert ours[b"labels"] == [3, 1, 4]


def npz(path, members, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicated names, on purpose here
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in members:
                zf.writestr(name, data)


def npy(array):
    f = io.BytesIO()
    np.save(f, array, allow_pickle=True)
    return f.getvalue()


def npy_header(shape, descr="<f8"):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


NPZ_ATTACKS = {
    "a header declaring 10**10 floats over 16 bytes": lambda: [("x_train.npy", npy_header((10**10,)) + b"\0" * 16)],
    "a header declaring fewer bytes than stored": lambda: [("x_train.npy", npy_header((1,)) + b"\0" * 16)],
    "a structured dtype with an object field": lambda: [("x_train.npy", npy_header((2,), "[('a', '|O')]") + b"A" * 16)],
    "an object array pickling the dtype trick": lambda: [("x_train.npy", npy_header((2,), "|O")
                                                            + pickle.dumps(dtype_lying_about_objects(), protocol=3))],
    "a deflated member of 2 GiB of zeros": lambda: "bomb",
    "one member twice": lambda: [("x_train.npy", npy(np.zeros(2))), ("x_train.npy", npy(np.ones(2)))],
    "a header that is not a dict": lambda: [("x_train.npy", b"\x93NUMPY\x01\x00\x08\x00[1,2]  \n")],
    "format version 9": lambda: [("x_train.npy", b"\x93NUMPY\x09\x00" + npy_header((1,))[8:] + b"\0" * 8)],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NPZ_ATTACKS))
def test_a_hostile_npz_is_refused_in_bounded_time_and_memory(tmp_path, name):
    path = tmp_path / "imdb.npz"
    members = NPZ_ATTACKS[name]()
    if members == "bomb":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
                zf.open("x_train.npy", "w", force_zip64=True) as member:
            member.write(npy_header((1 << 28,)))
            block = bytes(1 << 24)
            for _ in range(128):
                member.write(block)
    else:
        npz(path, members)
    result = attack(f"load_npz({str(path)!r}, objects=True)", setup="from lstmkit.datasets._npz import load_npz",
                    seconds=60, megabytes=300)
    assert result.refused("ValueError") and "imdb.npz" in result.outcome, (name, result)
    assert result.seconds < 5 and result.megabytes < 200, (name, result)


def test_imdb_refuses_a_hostile_file_by_name_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    npz(tmp_path / "datasets" / "imdb.npz", [("x_train.npy", npy_header((2,), "|O")
                                              + pickle.dumps(dtype_lying_about_objects(), protocol=3))])
    with pytest.raises(ValueError, match=r"imdb\.npz.*x_train\.npy.*dtype"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not the published file's hash
        imdb.load_data()


def test_good_npz_files_read_as_numpy_reads_them(tmp_path):
    arrays = {"x": np.arange(30, dtype="f8").reshape(10, 3), "y": np.asfortranarray(np.ones((3, 2), dtype="i2")),
              "t": GOOD["word-id lists"]}
    for save in (np.savez, np.savez_compressed):
        save(tmp_path / "d.npz", **arrays)
        ours = load_npz(tmp_path / "d.npz", objects=True)
        with np.load(tmp_path / "d.npz", allow_pickle=True) as theirs:
            assert sorted(ours) == sorted(theirs.files)
            for k in ("x", "y"):
                assert ours[k].dtype == theirs[k].dtype
                np.testing.assert_array_equal(ours[k], theirs[k])
            assert [list(v) for v in ours["t"]] == [list(v) for v in theirs["t"]]
    with pytest.raises(ValueError, match=r"d\.npz.*'t\.npy'.*dtype object"):
        load_npz(tmp_path / "d.npz")


def test_a_fashion_mnist_gzip_bomb_and_a_word_index_that_is_not_one_are_refused_by_name(tmp_path, monkeypatch):
    import gzip
    import json

    from lstmkit.datasets import fashion_mnist, reuters

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb", compresslevel=1) as f:
        block = bytes(1 << 24)
        for _ in range(5):  # 80 MB of zeros in under 100 KB
            f.write(block)
    for name in fashion_mnist.FILES[1:]:
        (folder / name).write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz inflates past"):
        fashion_mnist.load_data()
    (folder / "train-labels-idx1-ubyte.gz").write_bytes((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz is not a whole gzip file"):
        fashion_mnist.load_data()
    (tmp_path / "datasets" / "reuters_word_index.json").write_text(json.dumps([["the", 1]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not the published file's hash
        with pytest.raises(ValueError, match=r"reuters_word_index\.json is not a word index"):
            reuters.get_word_index()
        (tmp_path / "datasets" / "reuters_word_index.json").write_text("[" * 100_000 + "]" * 100_000)
        with pytest.raises(ValueError, match=r"reuters_word_index\.json is not a word index in JSON"):
            reuters.get_word_index()


MUTATED_PICKLES = """
import io, pickle, random, collections
import numpy as np
texts = np.empty(5, dtype=object)
for i in range(5):
    texts[i] = list(range(i, i + 7))
batch = {b"data": (np.arange(2 * 3072) % 256).astype(np.uint8).reshape(2, 3072), b"labels": [1, 2], b"batch_label": b"x"}
goods = [(pickle.dumps(texts, protocol=p), "ASCII") for p in (2, 3, 4, 5)] + [(pickle.dumps(batch, protocol=2), "bytes")]
outcomes = collections.Counter()
for good, encoding in goods:
    for seed in range(600):
        r = random.Random(seed)
        data = bytearray(good)
        for _ in range(r.choice([1, 2, 4, 8])):
            data[r.randrange(len(data))] = r.randrange(256)
        try:
            arrays_only_pickle(io.BytesIO(bytes(data)), encoding=encoding)
            outcomes["loaded"] += 1
        except ValueError:
            outcomes["ValueError"] += 1
        except Exception as err:
            outcomes[type(err).__name__ + ": " + str(err)[:100]] += 1
assert set(outcomes) <= {"loaded", "ValueError"}, outcomes
"""


@pytest.mark.slow
def test_byte_mutated_array_pickles_load_or_are_refused_and_never_crash():
    """3,000 good pickles (word-id arrays of protocols 2-5, a CIFAR batch) with 1 to 8 bytes
    changed: each loads or is refused with a ValueError; none crashes the process."""
    result = attack(MUTATED_PICKLES, setup="from lstmkit.datasets._pickles import arrays_only_pickle", seconds=300,
                    megabytes=500)
    assert result.outcome == "ok", result
