"""Issue 27's helpers held to Keras 3 and TensorFlow (the dev extra's oracles): the directory
reader, activations as functions, top-k accuracies, image files, vocabularies given, tf.random,
and Datasets in `fit` against the same data as arrays."""

import random

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.compat import tf as ltf
from lstmkit.data import Dataset

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


def pairs(ds):
    out = []
    for x, y in ds:
        texts = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
        for text, label in zip(np.asarray(texts).tolist(), np.asarray(y)):
            out.append((bytes(text), tuple(np.atleast_1d(label).tolist())))
    return sorted(out)


@pytest.mark.parametrize("settings", [
    dict(shuffle=False), dict(validation_split=0.3, subset="validation", seed=5),
    dict(validation_split=0.3, subset="training", seed=5, label_mode="categorical"),
    dict(shuffle=False, label_mode="binary", class_names=["neg", "pos"]), dict(max_length=3, shuffle=False),
])
def test_text_dataset_from_directory_matches_keras(tmp_path, settings):
    for name in ("pos", "neg", "neu"):
        (tmp_path / name).mkdir()
        for i in range(7):
            (tmp_path / name / f"{i}.txt").write_text(f"{name} review number {i}")
    (tmp_path / "pos" / "notes.md").write_text("not a .txt file")
    theirs = keras.utils.text_dataset_from_directory(str(tmp_path), batch_size=4, verbose=False, **settings)
    ours = lstmkit.utils.text_dataset_from_directory(tmp_path, batch_size=4, verbose=False, **settings)
    assert ours.class_names == theirs.class_names
    assert pairs(ours) == pairs(theirs)  # the same files on each side of a seeded split, the same labels
    both = lstmkit.utils.text_dataset_from_directory(tmp_path, validation_split=0.3, subset="both", seed=5,
                                                     verbose=False)
    assert sum(len(x) for x, _ in both[0]) + sum(len(x) for x, _ in both[1]) == 21
    with pytest.raises(ValueError, match="needs seed="):
        lstmkit.utils.text_dataset_from_directory(tmp_path, validation_split=0.3, subset="training")


def test_activations_as_functions_match_keras():
    x = np.array([-3.0, -0.5, 0.0, 0.2, 2.0, 7.0], dtype="float32")
    for name, kwargs in [("relu", {}), ("relu", dict(negative_slope=0.1, max_value=5.0, threshold=0.5)),
                         ("sigmoid", {}), ("tanh", {}), ("softplus", {}), ("exponential", {}), ("selu", {}),
                         ("elu", {}), ("gelu", {}), ("swish", {}), ("softsign", {})]:
        ours = getattr(lstmkit.activations, name)(torch.tensor(x) if not kwargs else x, **kwargs)
        theirs = getattr(keras.activations, name)(torch.tensor(x), **kwargs)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs.detach()), rtol=1e-5, atol=1e-6, err_msg=name)


def test_top_k_accuracies_match_keras():
    rng = np.random.default_rng(0)
    scores = rng.random((50, 6)).astype("float32")
    labels = rng.integers(0, 6, size=50)
    one_hot = np.eye(6, dtype="float32")[labels]
    for k in (1, 2, 5):
        np.testing.assert_array_equal(
            lstmkit.metrics.sparse_top_k_categorical_accuracy(labels, scores, k=k).numpy(),
            np.asarray(keras.metrics.sparse_top_k_categorical_accuracy(torch.tensor(labels), torch.tensor(scores), k=k)))
        np.testing.assert_array_equal(
            lstmkit.metrics.top_k_categorical_accuracy(one_hot, scores, k=k).numpy(),
            np.asarray(keras.metrics.top_k_categorical_accuracy(torch.tensor(one_hot), torch.tensor(scores), k=k)))
    ours, theirs = lstmkit.metrics.SparseTopKCategoricalAccuracy(k=2), keras.metrics.SparseTopKCategoricalAccuracy(k=2)
    for part in (slice(0, 20), slice(20, 50)):
        ours.update_state(labels[part], scores[part])
        theirs.update_state(torch.tensor(labels[part]), torch.tensor(scores[part]))
    assert float(ours.result()) == pytest.approx(float(theirs.result()), abs=1e-6)
    model = lstmkit.Sequential([lstmkit.layers.Input((3,)), lstmkit.layers.Dense(6, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd",
                  metrics=["sparse_top_k_categorical_accuracy"])
    logs = model.evaluate(rng.random((40, 3)), labels[:40], return_dict=True, verbose=0)
    assert 0.0 <= logs["sparse_top_k_categorical_accuracy"] <= 1.0


def test_image_files_as_keras_reads_them(tmp_path):
    from PIL import Image

    from lstmkit.preprocessing import image

    pixels = (np.arange(5 * 7 * 3) % 256).astype("uint8").reshape(5, 7, 3)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    for kwargs in [dict(), dict(color_mode="grayscale"), dict(target_size=(3, 4), interpolation="bilinear")]:
        ours = image.img_to_array(image.load_img(tmp_path / "a.png", **kwargs))
        theirs = keras.utils.img_to_array(keras.utils.load_img(tmp_path / "a.png", **kwargs))
        np.testing.assert_array_equal(ours, theirs)
    x = np.random.default_rng(1).random((4, 6, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(image.array_to_img(x)), np.asarray(keras.utils.array_to_img(x)))
    np.testing.assert_array_equal(image.img_to_array(image.array_to_img(x), data_format="channels_first"),
                                  keras.utils.img_to_array(keras.utils.array_to_img(x), data_format="channels_first"))


def test_a_given_vocabulary_as_keras_takes_it():
    for ours, theirs in [
        (lstmkit.layers.TextVectorization(vocabulary=["cat", "dog", "the"]),
         keras.layers.TextVectorization(vocabulary=["cat", "dog", "the"])),
        (lstmkit.layers.TextVectorization(vocabulary=["", "[UNK]", "cat", "dog"], output_sequence_length=5),
         keras.layers.TextVectorization(vocabulary=["", "[UNK]", "cat", "dog"], output_sequence_length=5)),
        (lstmkit.layers.TextVectorization(vocabulary=["cat", "dog"], output_mode="tf_idf", idf_weights=[0.5, 2.0]),
         keras.layers.TextVectorization(vocabulary=["cat", "dog"], output_mode="tf_idf", idf_weights=[0.5, 2.0])),
    ]:
        query = ["The dog, the CAT and a dog"]
        assert [str(t) for t in ours.get_vocabulary()] == [str(t) for t in theirs.get_vocabulary()]
        np.testing.assert_allclose(np.asarray(ours(query)), np.asarray(theirs(query)), rtol=1e-6)


def test_tf_random_seeds_every_generator_and_draws_with_tensorflows_shapes_and_ranges():
    ltf.random.set_seed(7)
    first = (torch.rand(3), np.random.rand(3), random.random(), [int(v) for v in Dataset.range(20).shuffle(20)])
    ltf.random.set_seed(7)
    again = (torch.rand(3), np.random.rand(3), random.random(), [int(v) for v in Dataset.range(20).shuffle(20)])
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2:] == again[2:]
    u = ltf.random.uniform([1000], minval=-2.0, maxval=3.0)
    assert u.dtype == torch.float32
    assert float(u.min()) >= -2.0 and float(u.max()) < 3.0 and abs(float(u.mean()) - 0.5) < 0.2
    ints = ltf.random.uniform([500], minval=0, maxval=4, dtype=ltf.int32)
    assert ints.dtype == torch.int32 and set(ints.tolist()) == {0, 1, 2, 3}
    n = ltf.random.normal([4000], mean=1.0, stddev=2.0)
    assert abs(float(n.mean()) - 1.0) < 0.15 and abs(float(n.std()) - 2.0) < 0.15
    draws = ltf.random.categorical(ltf.math.log([[0.1, 0.9], [1.0, 1e-9]]), 2000)
    assert draws.shape == tuple(tf.random.categorical(tf.math.log([[0.1, 0.9], [1.0, 1e-9]]), 2000).shape)
    assert abs(float(draws[0].double().mean()) - 0.9) < 0.05 and int(draws[1].sum()) == 0
    t = ltf.random.truncated_normal([2000], stddev=1.0)
    assert float(t.abs().max()) <= 2.0
    shuffled = ltf.random.shuffle(ltf.range(10))
    assert sorted(shuffled.tolist()) == list(range(10))


def test_fit_on_a_dataset_of_x_y_and_weights_is_fit_on_the_same_arrays():
    rng = np.random.default_rng(3)
    x = rng.random((24, 5, 2)).astype("float32")
    y = rng.random((24, 1)).astype("float32")
    w = rng.random(24).astype("float32")

    def model():
        lstmkit.utils.set_random_seed(0)
        m = lstmkit.Sequential([lstmkit.layers.Input((5, 2)), lstmkit.layers.LSTM(3), lstmkit.layers.Dense(1)])
        m.compile(loss="mse", optimizer="sgd")
        return m
    by_arrays, by_dataset = model(), model()
    by_arrays.fit(x, y, sample_weight=w, batch_size=8, epochs=2, shuffle=False, verbose=0)
    by_dataset.fit(Dataset.from_tensor_slices((x, y, w)).batch(8), epochs=2, verbose=0)
    for a, b in zip(by_arrays.get_weights(), by_dataset.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert by_dataset.evaluate(Dataset.from_tensor_slices((x, y)).batch(8), verbose=0) == pytest.approx(
        by_arrays.evaluate(x, y, batch_size=8, verbose=0), rel=1e-5)
    np.testing.assert_allclose(by_dataset.predict(Dataset.from_tensor_slices(x).batch(8), verbose=0),
                               by_arrays.predict(x, verbose=0), rtol=1e-5)
