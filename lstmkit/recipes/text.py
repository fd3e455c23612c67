"""Character-level text generation with the seed tutorial's second model.

The model reads a window of characters, one-hot encoded, and gives the probabilities of the
next one: LSTM(256), Dropout(0.2), Dense(vocabulary, softmax), as the tutorial writes it. Its
time axis is left open (input shape (None, vocabulary)) so `generate` can start from a prompt
shorter than the training windows.

Data: the first `chars` characters of the corpus (the Shakespeare plays shipped with the package,
or a UTF-8 text file). The first 90 % is the training part, read as windows starting at every
character, in random order; the last 10 % is the validation part, read as (at most 2,000)
windows spread evenly over it. The score is the validation loss in bits per character, next to
the entropy of the training part's character frequencies (the unigram entropy): what a model
that ignores the context would score at best on text like it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import positive_float, positive_int
from ..datasets import shakespeare
from ..layers import LSTM, Dense, Dropout
from ..models import Sequential, load_extras, load_model
from ..optimizers import Adam
from ..preprocessing.text import CharVocabulary, OneHotCharWindows

RECIPE = "text"
VALIDATION_FRACTION = 0.1
VALIDATION_WINDOWS = 2000


@dataclass
class Result:
    corpus: str
    bits_per_char: float  # on the validation part
    unigram_bits: float  # entropy of the training part's character frequencies
    vocabulary: CharVocabulary
    train_chars: int
    validation_chars: int
    history: dict[str, list[float]] = field(default_factory=dict)


def load_corpus(corpus: str, chars: int | None = None) -> str:
    """The first `chars` characters (all when None) of "shakespeare" or of a UTF-8 text file."""
    if corpus == "shakespeare":
        text = shakespeare.load_text()
    elif os.path.isfile(corpus):
        try:
            with open(corpus, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as err:
            raise ValueError(f"corpus {corpus!r} is not UTF-8 text ({err})") from None
    else:
        raise ValueError(f"corpus must be 'shakespeare' or a text file, got {corpus!r} (no such file)")
    return text if chars is None else text[:chars]


def unigram_bits(codes: np.ndarray, vocabulary_size: int) -> float:
    """Entropy in bits of the characters' frequencies in `codes`."""
    p = np.bincount(codes, minlength=vocabulary_size) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def build_model(vocabulary_size: int, units: int = 256, learning_rate: float = 0.006) -> Sequential:
    model = Sequential([LSTM(units, input_shape=(None, vocabulary_size)), Dropout(0.2),
                        Dense(vocabulary_size, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=learning_rate, clipnorm=1.0))
    return model


def train(
    corpus: str = "shakespeare",
    chars: int | None = 500_000,
    length: int = 100,
    units: int = 256,
    epochs: int = 12,
    steps_per_epoch: int = 100,
    batch_size: int = 64,
    learning_rate: float = 0.006,
    verbose: int | str = "auto",
    fit_options: dict[str, Any] | None = None,
) -> tuple[Sequential, Result]:
    """Trains the model on windows of `length` characters and scores it on the validation part.

    Args:
        corpus: "shakespeare" or the path of a UTF-8 text file.
        chars: Use the first `chars` characters of the corpus (None: all of it).
        length: Characters per window (the context the model reads).
        units: The LSTM's size.
        epochs, steps_per_epoch, batch_size: `fit`'s settings: `epochs` x `steps_per_epoch`
            batches of random training windows.
        learning_rate: Adam's (gradients clipped to norm 1).
        verbose: The progress display, as in `fit`.
        fit_options: More keyword arguments for `fit`, e.g. {"checkpoint_dir": "ckpt", "resume": True}.
    """
    for name, value in (("length", length), ("units", units), ("epochs", epochs),
                        ("steps_per_epoch", steps_per_epoch), ("batch_size", batch_size)):
        positive_int(name, value)
    if chars is not None:
        positive_int("chars", chars)
    positive_float("learning_rate", learning_rate)
    text = load_corpus(corpus, chars)
    cut = int(len(text) * (1 - VALIDATION_FRACTION))
    if len(text) - cut <= length + 1:
        raise ValueError(f"the text has {len(text)} characters: its last 10 % is too short for one validation "
                         f"window of length={length} (needs more than {10 * (length + 1)} characters)")
    vocabulary = CharVocabulary(text)
    codes = vocabulary.encode(text)
    training = OneHotCharWindows(codes[:cut], length, vocabulary.size)
    spread = max(1, (len(text) - cut - length) // VALIDATION_WINDOWS)
    validation = OneHotCharWindows(codes[cut:], length, vocabulary.size, step=spread)
    model = build_model(vocabulary.size, units, learning_rate)
    history = model.fit(training, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                        validation_data=validation, validation_batch_size=256, verbose=verbose,
                        **(fit_options or {}))
    bits = history.history["val_loss"][-1] / math.log(2)
    result = Result(corpus=corpus, bits_per_char=bits, unigram_bits=unigram_bits(codes[:cut], vocabulary.size),
                    vocabulary=vocabulary, train_chars=cut, validation_chars=len(text) - cut,
                    history=history.history)
    return model, result


def save(model: Sequential, vocabulary: CharVocabulary, path: str | os.PathLike[str], length: int = 100) -> None:
    """One file: the model, its character vocabulary and its window `length` (`load` reads them)."""
    model.save(path, extras={"recipe": RECIPE, "chars": vocabulary.chars, "length": length})


def load(path: str | os.PathLike[str]) -> tuple[Sequential, CharVocabulary, int]:
    """The model, vocabulary and window length written by `save` (or `lstmkit text --save`)."""
    extras = load_extras(path)
    if extras.get("recipe") != RECIPE or "chars" not in extras:
        raise ValueError(f"{os.fspath(path)!r} holds no text model with its vocabulary (saved by "
                         f"`lstmkit text` / lstmkit.recipes.text.save); found recipe={extras.get('recipe')!r}")
    model = load_model(path, compile=False)
    if not isinstance(model, Sequential):
        raise ValueError(f"{os.fspath(path)!r} holds a {type(model).__name__}, not the Sequential model of the text recipe")
    return model, CharVocabulary.from_chars(extras["chars"]), int(extras.get("length", 100))


@torch.no_grad()
def generate(
    model: Sequential,
    vocabulary: CharVocabulary,
    prompt: str,
    length: int = 400,
    temperature: float = 1.0,
    seed: int | None = None,
    window: int = 100,
) -> str:
    """`length` characters sampled one at a time after `prompt`, each from the model's
    probabilities given the last `window` characters, sharpened (temperature < 1) or flattened
    (> 1) as p ** (1 / temperature). The same seed gives the same text.
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string, got prompt={prompt!r}")
    positive_int("length", length)
    positive_int("window", window)
    positive_float("temperature", temperature)
    unknown = sorted(set(prompt) - set(vocabulary.chars))
    if unknown:
        raise ValueError(f"prompt has characters the model never saw: {''.join(unknown)!r}")
    rng = np.random.default_rng(seed)
    codes: list[int] = vocabulary.encode(prompt).tolist()
    out: list[int] = []
    for _ in range(length):
        context = torch.tensor(codes[-window:])
        x: Any = F.one_hot(context, vocabulary.size).to(model.compute_dtype)[None]  # (1, T, V)
        p = model(x, training=False)[0].double().clamp_min(0).cpu().numpy()  # (V,)
        logp = np.log(np.maximum(p, 1e-300)) / temperature
        q = np.exp(logp - logp.max())
        code = int(rng.choice(vocabulary.size, p=q / q.sum()))
        codes.append(code)
        out.append(code)
    return vocabulary.decode(out)
