"""lstmkit's TensorFlow subset (`lstmkit.compat.tf`, `lstmkit.data.Dataset`) and text layers held
to TensorFlow 2.21's and Keras 3's own results (tensorflow-cpu and Keras in the dev extra), and
the Keras 2 leftovers of issue 27."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.compat import tf as ltf
from lstmkit.data import Dataset

tf = pytest.importorskip("tensorflow")


def as_np(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value)


@pytest.mark.parametrize("call", [
    lambda m: m.reduce_mean(m.constant([[1, 2], [3, 6]]), axis=0),  # integer mean truncates
    lambda m: m.reduce_sum(m.constant([[1.0, 2.0], [3.0, 4.0]]), axis=-1, keepdims=True),
    lambda m: m.reduce_max(m.constant([[1.0, 5.0], [3.0, 4.0]])),
    lambda m: m.argmax(m.constant([[1.0, 5.0], [3.0, 4.0]])),  # axis 0 when none is given
    lambda m: m.one_hot([0, 2, 5, -1], depth=3),
    lambda m: m.one_hot([1, 0], depth=3, on_value=5.0, off_value=-1.0),
    lambda m: m.cast(m.constant([1.7, -1.7, 2.5]), m.int32),
    lambda m: m.where(m.constant([[True, False], [False, True]])),
    lambda m: m.gather(m.constant([[1, 2], [3, 4], [5, 6]]), [2, 0]),
    lambda m: m.gather(m.constant([[1, 2], [3, 4], [5, 6]]), [1, 0], axis=1),
    lambda m: m.shape(m.zeros([2, 3, 4])),
    lambda m: m.range(1, 10, 3),
    lambda m: m.range(0.0, 1.0, 0.25),
    lambda m: m.linspace(0.0, 1.0, 5),
    lambda m: m.split(m.range(10), [2, 3, -1])[2],
    lambda m: m.split(m.reshape(m.range(12), [3, 4]), 2, axis=1)[1],
    lambda m: m.tile(m.constant([[1, 2]]), [2, 3]),
    lambda m: m.squeeze(m.zeros([1, 3, 1]), axis=-1),
    lambda m: m.transpose(m.reshape(m.range(6), [1, 2, 3]), perm=[2, 0, 1]),
    lambda m: m.concat([m.ones([1, 2]), m.zeros([2, 2])], axis=0),
    lambda m: m.stack([m.ones([2]), m.zeros([2])], axis=1),
    lambda m: m.matmul(m.ones([2, 3]), m.ones([2, 3]), transpose_b=True),
    lambda m: m.math.top_k(m.constant([[1.0, 9.0, 3.0, 7.0]]), k=3).indices,
    lambda m: m.nn.softmax(m.constant([[1.0, 2.0, 3.0]])),
    lambda m: m.clip_by_value(m.constant([-2.0, 0.5, 3.0]), -1.0, 1.0),
    lambda m: m.divide(m.constant([7, -7]), m.constant([2, 2])),
    lambda m: m.math.floordiv(m.constant([7, -7]), 2),
    lambda m: m.round(m.constant([0.5, 1.5, 2.5, -0.5])),
    lambda m: m.math.reduce_std(m.constant([1.0, 2.0, 4.0])),
    lambda m: m.sequence_mask([1, 3], 4),
    lambda m: m.abs(m.signal.rfft(m.sin(m.linspace(0.0, 20.0, 32)))),
    lambda m: m.nn.sparse_softmax_cross_entropy_with_logits(labels=[1, 0], logits=[[1.0, 2.0], [3.0, 0.5]]),
    lambda m: m.math.confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2]),
    lambda m: m.pad(m.constant([[1, 2]]), [[1, 0], [0, 2]]),
    lambda m: m.cumsum(m.constant([1, 2, 3]), exclusive=True, reverse=True),
])
def test_tensor_functions_match_tensorflow(call):
    ours, theirs = call(ltf), call(tf)
    np.testing.assert_allclose(as_np(ours), as_np(theirs), rtol=1e-5, atol=1e-6)
    assert as_np(ours).dtype == as_np(theirs).dtype or as_np(ours).dtype.kind == as_np(theirs).dtype.kind


@pytest.mark.parametrize("call", [
    lambda m: m.strings.lower(["HeLLo", "ÀB"]),
    lambda m: m.strings.regex_replace(["a<br />b", "c.d"], "<br />|\\.", " "),
    lambda m: m.strings.reduce_join(m.strings.unicode_split("héllo", "UTF-8")),
    lambda m: m.strings.unicode_split("héllo", "UTF-8"),
    lambda m: m.strings.split("to be  or not"),
    lambda m: m.strings.reduce_join([["a", "b"], ["c", "d"]], axis=1, separator="-"),
    lambda m: m.strings.length(["ab", "héllo"], unit="UTF8_CHAR"),
    lambda m: m.strings.to_number(["1.5", "-2"]),
    lambda m: m.strings.join([["a", "b"], ["c", "d"]], separator="+"),
])
def test_string_functions_match_tensorflow(call):
    ours, theirs = as_np(call(ltf)), as_np(call(tf))
    assert ours.tolist() == theirs.tolist()


def test_ragged_split_matches_tensorflow():
    ours = ltf.strings.split(["a b", "c d e", ""]).to_list()
    theirs = tf.strings.split(["a b", "c d e", ""]).to_list()
    assert ours == theirs


def pipelines(D):
    rows = np.arange(24, dtype="float32").reshape(12, 2)
    labels = np.arange(12) % 3
    yield D.range(10).window(3, shift=2, stride=2).flat_map(lambda w: w.batch(3))
    yield D.range(10).window(4, shift=3, drop_remainder=True).flat_map(lambda w: w.batch(4))
    yield D.from_tensor_slices((rows, labels)).batch(5).unbatch().batch(4, drop_remainder=True)
    yield D.from_tensor_slices({"a": rows, "b": labels}).filter(lambda d: d["b"] > 0).map(lambda d: d["a"] * 2)
    yield D.range(1, 6).map(lambda n: ltf.range(n) if D is Dataset else tf.range(n)).padded_batch(2, padding_values=np.int64(-1))
    yield D.range(5).repeat(2).skip(3).take(5).enumerate(10)
    yield D.zip((D.range(3), D.range(10, 20))).concatenate(D.zip((D.range(2), D.range(2))))
    yield D.range(8).batch(3).flat_map(lambda b: D.from_tensor_slices(b * 10))
    yield D.range(20).shard(3, 1)
    yield D.from_tensors(np.ones((2, 2))).repeat(2)
    for cycle, block in ((3, 2), (2, 2), (2, 3), (1, 2)):
        lengths = np.array([1, 2, 3, 4, 1], dtype="int64")
        yield D.range(5).interleave(lambda i: D.range(lengths[int(i)] if D is Dataset else tf.gather(lengths, i))
                                    .map(lambda v: i * 10 + v), cycle_length=cycle, block_length=block)


@pytest.mark.parametrize("index", range(14))
def test_dataset_pipelines_match_tf_data(index):
    ours = list(pipelines(Dataset))[index]
    theirs = list(pipelines(tf.data.Dataset))[index]

    def plain(elements):
        return [tuple(np.asarray(v).tolist() for v in e) if isinstance(e, tuple) else np.asarray(e).tolist()
                for e in elements]
    assert plain(ours.as_numpy_iterator()) == plain(theirs.as_numpy_iterator())
    assert int(ours.cardinality()) == int(theirs.cardinality())


def test_shuffle_is_a_bounded_permutation_reshuffled_each_pass_and_repeatable_with_a_seed():
    ds = Dataset.range(100).shuffle(10, seed=3)
    first, second = [int(v) for v in ds], [int(v) for v in ds]
    assert sorted(first) == list(range(100)) and first != second and first != list(range(100))
    assert all(value <= position + 9 for position, value in enumerate(first))  # a buffer of 10 reaches 9 ahead
    again = [int(v) for v in Dataset.range(100).shuffle(10, seed=3)]
    assert again == first
    fixed = Dataset.range(30).shuffle(30, seed=1, reshuffle_each_iteration=False)
    assert [int(v) for v in fixed] == [int(v) for v in fixed]


def test_a_pipeline_streams_from_a_generator_larger_than_it_reads():
    read = []

    def endless():
        n = 0
        while True:
            read.append(n)
            yield n
            n += 1
    ds = Dataset.from_generator(endless, output_signature=ltf.TensorSpec((), ltf.int64)).window(5, 1).flat_map(
        lambda w: w.batch(5)).batch(4).take(2)
    assert [b.shape for b in ds] == [(4, 5), (4, 5)]
    assert len(read) < 20


@pytest.mark.parametrize("settings", [
    dict(), dict(max_tokens=5), dict(split="character"), dict(ngrams=2, output_mode="multi_hot"),
    dict(output_mode="count", standardize="lower"), dict(ngrams=2, max_tokens=6, output_mode="tf_idf"),
    dict(output_sequence_length=3), dict(standardize=None, split=None),
])
def test_text_vectorization_matches_keras(settings):
    import keras

    texts = ["The cat sat.", "the dog, the CAT!", "zz yy xx", "a dog"]
    query = ["the cat and the dog", "unknown words"]
    ours = lstmkit.layers.TextVectorization(**settings)
    theirs = keras.layers.TextVectorization(**settings)
    ours.adapt(texts)
    theirs.adapt(texts)
    assert [str(t) for t in ours.get_vocabulary()] == [str(t) for t in theirs.get_vocabulary()]
    np.testing.assert_allclose(as_np(ours(query)), as_np(theirs(query)), rtol=1e-5)


def test_text_vectorization_refuses_what_it_cannot_give():
    with pytest.raises(ValueError, match="ragged=True.*dense"):
        lstmkit.layers.TextVectorization(ragged=True)
    with pytest.raises(ValueError, match="output_mode"):
        lstmkit.layers.TextVectorization(output_mode="one_hot")


def test_lookups_match_keras():
    import keras

    for ours, theirs, data, query in [
        (lstmkit.layers.StringLookup(), keras.layers.StringLookup(), ["a", "b", "b", "c"], ["b", "x"]),
        (lstmkit.layers.StringLookup(mask_token=""), keras.layers.StringLookup(mask_token=""), ["a", "b", "b"], ["b", "x", ""]),
        (lstmkit.layers.IntegerLookup(), keras.layers.IntegerLookup(), [5, 5, 7, 9], [5, 1]),
        (lstmkit.layers.StringLookup(output_mode="multi_hot"), keras.layers.StringLookup(output_mode="multi_hot"),
         ["a", "b", "b", "c"], [["a", "x"], ["c", "c"]]),
    ]:
        ours.adapt(np.array(data))
        theirs.adapt(np.array(data))
        assert [str(t) for t in ours.get_vocabulary()] == [str(t) for t in theirs.get_vocabulary()]
        np.testing.assert_array_equal(as_np(ours(np.array(query))), as_np(theirs(np.array(query))))
    invert = lstmkit.layers.StringLookup(vocabulary=["a", "b"], invert=True)
    assert invert(torch.tensor([2, 0, 1])).numpy().tolist() == [b"b", b"[UNK]", b"a"]


def test_gradient_tape_gives_torch_autograd_gradients_and_trains():
    w = ltf.Variable([1.0, -2.0])
    x = ltf.constant([3.0, 4.0])
    with ltf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ltf.reduce_sum(w * w * x)
    dw, dx = tape.gradient(y, [w, x])
    np.testing.assert_allclose(dw.numpy(), [6.0, -16.0])
    np.testing.assert_allclose(dx.numpy(), [1.0, 4.0])
    assert tape.gradient(y, ltf.Variable(1.0)) is None
    once = ltf.GradientTape()
    with once:
        z = ltf.reduce_sum(w)
    once.gradient(z, w)
    with pytest.raises(RuntimeError, match="persistent"):
        once.gradient(z, w)


def test_a_name_outside_the_subset_says_what_to_use():
    with pytest.raises(AttributeError, match=r"tensorflow.Session .*outside .* eagerly"):
        ltf.Session
    with lstmkit.install_keras_alias():
        import tensorflow as hooked
        assert hooked is ltf and hooked.keras.layers.LSTM is lstmkit.layers.LSTM
        from tensorflow.data import Dataset as HookedDataset
        assert HookedDataset is Dataset
        with pytest.raises(ModuleNotFoundError, match="tensorflow.python"):
            import tensorflow.python  # noqa: F401
    import tensorflow as real
    assert real is tf


# the oracle (Keras 2's code in Keras 3) imports SciPy's function from a namespace SciPy deprecates
@pytest.mark.filterwarnings("ignore:Please import `affine_transform`:DeprecationWarning")
def test_keras_image_functions_match_keras_2():
    pytest.importorskip("scipy")
    from keras.src.legacy.preprocessing import image as keras_image

    from lstmkit.preprocessing import image as ours

    rng = np.random.default_rng(0)
    for shape, axes in [((3, 9, 11), dict(row_axis=1, col_axis=2, channel_axis=0)),
                        ((9, 11, 3), dict(row_axis=0, col_axis=1, channel_axis=2))]:
        x = rng.random(shape).astype("float32")
        for order in (0, 1):
            for mode in ("nearest", "constant", "reflect", "wrap"):
                # a rotation, shifts far past the edge, and shifts of exact halves (where rounding decides)
                for theta, tx, ty in [(23, 1.5, -2.2), (170, 7.3, 9.1), (0, 4.5, 0), (0, -30.5, 22.5)]:
                    kw = dict(theta=theta, tx=tx, ty=ty, fill_mode=mode, cval=0.3, order=order, **axes)
                    np.testing.assert_allclose(ours.apply_affine_transform(x, **kw),
                                               keras_image.apply_affine_transform(x, **kw), atol=1e-5)


def test_keras2_leftovers(capsys):
    from lstmkit.layers import LSTM, Dense, Input
    with lstmkit.install_keras_alias():
        from keras.layers import convolutional, recurrent
        assert recurrent.LSTM is LSTM and convolutional.Conv1D is lstmkit.layers.Conv1D
    LSTM(3, implementation=0)
    unbuilt = lstmkit.Sequential([LSTM(4), Dense(1)])
    unbuilt.summary()
    assert "0 (unbuilt)" in capsys.readouterr().out
    encoder = lstmkit.Sequential([LSTM(4, input_shape=(3, 2))])
    decoder = lstmkit.Sequential([Dense(2, input_shape=(4,))])
    inputs = Input((3, 2))
    model = lstmkit.Model(inputs, decoder(encoder(inputs)))
    assert [layer.name for layer in model.layers][1:] == ["sequential", "sequential_1"]
    a = Input((2,), name="a")
    m = lstmkit.Model({"a": a}, Dense(1)(a))
    m.compile(loss="mse", optimizer="sgd")
    m.fit({"a": np.ones((4, 2)), "extra": np.zeros(4)}, np.ones(4), verbose=0)


def test_numpy_aliases_under_lstmkit_run(tmp_path):
    program = tmp_path / "old.py"
    program.write_text("import numpy as np\nx = np.zeros(2, dtype=np.float)\nprint(x.dtype, np.int(3.7))\n")
    done = subprocess.run([sys.executable, "-m", "lstmkit.cli", "run", str(program)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "float64 3" in done.stdout
    assert "old.py:2: NumpyAliasWarning: np.float was removed" in done.stderr
    with pytest.raises(AttributeError):
        np.float  # noqa: B018  (NumPy is as it was outside the run)
