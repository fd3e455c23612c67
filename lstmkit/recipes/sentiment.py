"""Sentence sentiment: is a movie-review sentence positive? Embedding + LSTM on the shipped reviews.

Words are numbered by a `Tokenizer` fitted on the training sentences (the `num_words - 1` most
frequent kept, the rest one out-of-vocabulary id), sentences padded in front to `maxlen` ids with
0, which the embedding masks out. The model: Embedding(num_words, 64, mask_zero=True), LSTM(64),
Dropout(0.5), Dense(1, sigmoid), trained with Adam on binary cross-entropy. A tenth of the
training sentences (a fixed random choice, the same for every seed) is held out to pick the
epoch: training stops when validation accuracy has not improved for `patience` epochs and keeps
the best epoch's weights. The test set (the dataset's fixed split) is used once, at the end,
next to the majority-class baseline (the training set's more common label, for every sentence).
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .._checks import positive_int
from ..callbacks import EarlyStopping
from ..datasets import movie_reviews
from ..layers import LSTM, Dense, Dropout, Embedding
from ..models import Sequential, load_extras, load_model
from ..optimizers import Adam
from ..preprocessing.sequence import pad_sequences
from ..preprocessing.text import Tokenizer, tokenizer_from_json

RECIPE = "sentiment"
VALIDATION_FRACTION = 0.1
OOV_TOKEN = "<unk>"


@dataclass
class Result:
    test_accuracy: float
    majority_accuracy: float
    test_loss: float
    tokenizer: Tokenizer
    maxlen: int
    epochs_run: int
    best_epoch: int  # 1-based: the epoch whose weights the model keeps
    history: dict[str, list[float]] = field(default_factory=dict)


def build_model(num_words: int, embedding_dim: int = 64, units: int = 64, learning_rate: float = 0.001) -> Sequential:
    model = Sequential([
        Embedding(num_words, embedding_dim, mask_zero=True),
        LSTM(units),
        Dropout(0.5),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=Adam(learning_rate=learning_rate), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def encode(tokenizer: Tokenizer, texts: Iterable[str], maxlen: int) -> np.ndarray:
    """Sentences to (N, maxlen) word ids, padded and cut in front."""
    return pad_sequences(tokenizer.texts_to_sequences(list(texts)), maxlen=maxlen)


def train(
    num_words: int = 10_000,
    maxlen: int = 50,
    embedding_dim: int = 64,
    units: int = 64,
    epochs: int = 10,
    patience: int = 2,
    batch_size: int = 32,
    learning_rate: float = 0.001,
    limit: int | None = None,
    verbose: int | str = "auto",
    fit_options: dict[str, Any] | None = None,
) -> tuple[Sequential, Result]:
    """Trains on the training sentences and reports accuracy on the test sentences.

    Args:
        num_words: Vocabulary size, the out-of-vocabulary id included.
        maxlen: Words read per sentence (longer ones keep their last `maxlen`).
        embedding_dim, units: Sizes of the word vectors and the LSTM.
        epochs, patience: At most `epochs` passes; stop after `patience` without a better
            validation accuracy.
        batch_size, learning_rate: `fit`'s batch and Adam's step.
        limit: Use only the first `limit` training and test sentences of a shuffled order (a quick check).
        verbose: The progress display, as in `fit`.
        fit_options: More keyword arguments for `fit`, e.g. {"checkpoint_dir": "ckpt", "resume": True}.
    """
    for name, value in (("num_words", num_words), ("maxlen", maxlen), ("embedding_dim", embedding_dim),
                        ("units", units), ("epochs", epochs), ("patience", patience), ("batch_size", batch_size)):
        positive_int(name, value)
    if num_words < 3:
        raise ValueError(f"num_words must be at least 3 (padding, out-of-vocabulary, one word), got num_words={num_words}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 20):
        raise ValueError(f"limit must be an integer of at least 20 or None, got limit={limit!r}")
    (x_train, y_train), (x_test, y_test) = movie_reviews.load_data(binary=True)
    fixed = np.random.default_rng(0)  # the validation choice does not follow the run's seed
    order = fixed.permutation(len(x_train))
    if limit is not None:
        order = order[:limit]
        test_rows = fixed.permutation(len(x_test))[:limit]
        x_test, y_test = x_test[test_rows], y_test[test_rows]
    n_val = max(1, int(len(order) * VALIDATION_FRACTION))
    val_rows, fit_rows = order[:n_val], order[n_val:]
    tokenizer = Tokenizer(num_words=num_words, oov_token=OOV_TOKEN)
    tokenizer.fit_on_texts(list(x_train[fit_rows]))
    x_fit, x_val, x_tst = (encode(tokenizer, x, maxlen) for x in (x_train[fit_rows], x_train[val_rows], x_test))
    y_fit, y_val = y_train[fit_rows].astype(np.float32), y_train[val_rows].astype(np.float32)
    model = build_model(num_words, embedding_dim, units, learning_rate)
    stop = EarlyStopping(monitor="val_accuracy", patience=patience, restore_best_weights=True)
    history = model.fit(x_fit, y_fit, batch_size=batch_size, epochs=epochs, validation_data=(x_val, y_val),
                        callbacks=[stop], verbose=verbose, **(fit_options or {}))
    test_loss, test_accuracy = model.evaluate(x_tst, y_test.astype(np.float32), batch_size=256, verbose=0)
    majority = int(y_fit.mean() >= 0.5)
    result = Result(test_accuracy=float(test_accuracy), majority_accuracy=float(np.mean(y_test == majority)),
                    test_loss=float(test_loss), tokenizer=tokenizer, maxlen=maxlen,
                    epochs_run=len(history.history["loss"]),
                    best_epoch=stop.best_epoch + 1, history=history.history)
    return model, result


def save(model: Sequential, tokenizer: Tokenizer, maxlen: int, path: str | os.PathLike[str]) -> None:
    """One file: the model, its tokenizer and `maxlen` (`load` reads them)."""
    model.save(path, extras={"recipe": RECIPE, "tokenizer": tokenizer.to_json(), "maxlen": maxlen})


# the most words per sentence a saved model may ask `predict` to read (a bound on what a file can
# make it allocate: 8 bytes a word per sentence)
MAX_WORDS_READ = 100_000


def load(path: str | os.PathLike[str]) -> tuple[Sequential, Tokenizer, int]:
    """The model, tokenizer and maxlen written by `save` (or `lstmkit sentiment --save`)."""
    extras = load_extras(path)
    if extras.get("recipe") != RECIPE or "tokenizer" not in extras:
        raise ValueError(f"{os.fspath(path)!r} holds no sentiment model with its tokenizer (saved by "
                         f"`lstmkit sentiment` / lstmkit.recipes.sentiment.save); found recipe={extras.get('recipe')!r}")
    model = load_model(path, compile=False)
    if not isinstance(model, Sequential):
        raise ValueError(f"{os.fspath(path)!r} holds a {type(model).__name__}, not the Sequential model of the sentiment recipe")
    maxlen = extras.get("maxlen")
    steps = model.input_layer.shape[1] if model.input_layer is not None and len(model.input_layer.shape) > 1 else None
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or not 0 < maxlen <= MAX_WORDS_READ or (
            steps is not None and maxlen != steps):
        want = f"the model's {steps} input steps" if steps is not None else f"1 to {MAX_WORDS_READ:,} words"
        raise ValueError(f"{os.fspath(path)!r} holds maxlen={maxlen!r} beside its sentiment model; expected {want}")
    return model, tokenizer_from_json(extras["tokenizer"]), maxlen


def predict(model: Sequential, tokenizer: Tokenizer, maxlen: int, texts: Sequence[str]) -> np.ndarray:
    """The probability that each text is positive, (N,)."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts) or not len(texts):
        raise ValueError(f"texts must be a non-empty list of strings, got texts={texts!r:.100}")
    return np.asarray(model.predict(encode(tokenizer, texts, maxlen), verbose=0)).reshape(-1)
