"""An Embedding's ids are checked where data enters `fit`, `evaluate` and `predict`, all at once in
host memory, and not again by the layer in each step: on a GPU that check waits for the device
every batch. The layer's own check (a direct call, data it was not handed through those entries)
stays, and both give the same error. Which layers read an input as given comes from the graph
(`Model.input_readers`)."""

import numpy as np
import pytest
import torch

from lstmkit import callbacks
from lstmkit.layers import LSTM, Dense, Embedding, Input, Concatenate
from lstmkit.layers import embedding as embedding_module
from lstmkit.models import Model, Sequential
from lstmkit.utils import set_random_seed

rng = np.random.default_rng(4)
VOCAB = 20
IDS = rng.integers(1, VOCAB, size=(24, 6))
Y = rng.integers(0, 2, size=24)
OUT_OF_RANGE = "Embedding layer 'words' got id 20, outside \\[0, input_dim=20\\)"


def text_model():
    set_random_seed(0)
    m = Sequential([Input(shape=(6,), dtype="int64"), Embedding(VOCAB, 4, name="words"), LSTM(5),
                    Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.fixture
def layer_checks(monkeypatch):
    """Counts the checks of ids and where they ran: the whole data (in `check_input_ids`) or a
    batch inside a step (the layer's own)."""
    seen = {"whole": 0, "step": 0}
    check = embedding_module.Embedding.check_ids

    def counted(self, x):
        seen["whole" if x.shape[0] == len(IDS) else "step"] += 1
        return check(self, x)

    monkeypatch.setattr(embedding_module.Embedding, "check_ids", counted)
    return seen


def test_fit_evaluate_predict_check_the_whole_data_once_and_no_batch(layer_checks):
    m = text_model()
    m.fit(IDS, Y, batch_size=4, epochs=2, verbose=0)
    m.evaluate(IDS, Y, batch_size=4, verbose=0)
    m.predict(IDS, batch_size=4)
    assert layer_checks == {"whole": 3, "step": 0}
    m(torch.as_tensor(IDS[:4]))  # a direct call checks its ids itself
    assert layer_checks == {"whole": 3, "step": 1}


def test_a_loader_batch_is_checked_where_it_enters(layer_checks):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(IDS), torch.as_tensor(Y)),
                                         batch_size=8)
    text_model().fit(loader, epochs=1, verbose=0)
    assert layer_checks == {"whole": 0, "step": 3}  # each of the 3 batches once, before its step


@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict", "validation"])
def test_an_id_out_of_range_is_refused_before_any_step(entry):
    bad = IDS.copy()
    bad[-1, -1] = VOCAB  # in the last batch
    m = text_model()
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        if entry == "fit":
            m.fit(bad, Y, batch_size=4, epochs=1, verbose=0)
        elif entry == "evaluate":
            m.evaluate(bad, Y, batch_size=4, verbose=0)
        elif entry == "predict":
            m.predict(bad, batch_size=4)
        else:
            m.fit(IDS, Y, batch_size=4, epochs=1, verbose=0, validation_data=(bad, Y))
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))  # not a step was taken


def test_a_direct_call_and_a_negative_id_keep_the_layers_own_error():
    m = text_model()
    bad = torch.as_tensor(IDS[:2]).clone()
    bad[0, 0] = VOCAB
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        m(bad)
    with pytest.raises(ValueError, match="got id -1"):
        m.predict(-np.ones((2, 6), dtype=np.int64))


def test_a_callback_calling_the_model_inside_fit_gets_the_check():
    """The steps of fit skip the layer's check; code between them (a callback) does not."""
    m = text_model()
    bad = torch.full((1, 6), VOCAB)
    probe = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: m(bad))
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        m.fit(IDS, Y, batch_size=4, epochs=1, verbose=0, callbacks=[probe])


def test_float_ids_follow_the_inputs_dtype():
    """Float ids: refused when not whole for an Input of floats (the layer sees them as they are),
    cut to integers first for an Input declared int64, as the model converts them."""
    floats = IDS.astype("float32") + 0.5
    set_random_seed(0)
    m = Sequential([Input(shape=(6,)), Embedding(VOCAB, 4), LSTM(5), Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="expects integer ids, got non-integer values"):
        m.fit(floats, Y, epochs=1, verbose=0)
    m.fit(IDS.astype("float32"), Y, epochs=1, verbose=0)
    declared = text_model()
    declared.fit(floats, Y, epochs=1, verbose=0)  # int64 input: 1.5 is 1, as in every step before
    np.testing.assert_array_equal(declared.predict(floats), declared.predict(IDS))


def test_the_layers_that_read_an_input_as_given():
    words, tags = Input(shape=(6,), dtype="int64"), Input(shape=(6,), dtype="int64")
    word_table, tag_table, shared = Embedding(VOCAB, 4), Embedding(5, 2), Embedding(VOCAB, 3)
    lstm = LSTM(3)
    merged = Concatenate()([word_table(words), tag_table(tags), shared(words), shared(tags)])
    m = Model([words, tags], Dense(1)(lstm(merged)))
    readers = m.input_readers()
    assert readers[0] == [word_table] and readers[1] == [tag_table]  # `shared` reads both: checked per call
    assert m.id_readers() == [word_table, tag_table]
    s = Sequential([Input(shape=(6,), dtype="int64"), Embedding(VOCAB, 4), LSTM(2)])
    assert s.input_readers() == [[s.layers[0]]]
    again = Sequential([Input(shape=(6,), dtype="int64"), s.layers[0]])
    assert s.layers[0] in again.input_readers()[0]


def test_a_shared_embedding_on_two_inputs_still_refuses_a_bad_id():
    words, tags = Input(shape=(6,), dtype="int64"), Input(shape=(6,), dtype="int64")
    shared = Embedding(VOCAB, 3, name="words")
    m = Model([words, tags], Dense(1)(LSTM(2)(Concatenate()([shared(words), shared(tags)]))))
    m.compile(optimizer="adam", loss="mse")
    bad = IDS.copy()
    bad[0, 0] = VOCAB
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        m.fit([IDS, bad], Y.astype("float32"), epochs=1, verbose=0)


def test_a_sequential_built_by_its_first_loader_batch(layer_checks):
    """No input shape: the first batch builds the model (tf.data tutorials write it so); its
    ids are checked as it arrives, and the steps skip the layer's check once the model is built."""
    set_random_seed(0)
    m = Sequential([Embedding(VOCAB, 4), LSTM(5), Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(IDS), torch.as_tensor(Y)),
                                         batch_size=8)
    m.fit(loader, epochs=1, verbose=0)
    m.evaluate(loader, verbose=0)
    assert layer_checks["step"] == 2 * 3  # each loader batch where it enters (prepare), nothing in the steps
