"""An encoder-decoder LSTM that learns to add: "57+8" -> "65", written as Keras's functional API
writes it (run it as it is, or with `keras` imports through `lstmkit run`).

Training uses teacher forcing: the encoder reads the question and hands its last state (h, c)
to the decoder, which reads the answer shifted right by one step (a start mark first) and
learns to predict each next character. Decoding then uses two models built from the same
trained layers: the encoder, question -> state; and the decoder, one character and a state ->
the next character's probabilities and the new state, run greedily until the end mark.

    python examples/seq2seq_addition.py            # about 2 minutes on 2 cores
    python examples/seq2seq_addition.py --digits 3 --epochs 40

The data is made here: every question is two random numbers of up to `--digits` digits.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lstmkit import Input
from lstmkit.layers import LSTM, Dense
from lstmkit.models import Model
from lstmkit.optimizers import Adam
from lstmkit.utils import set_random_seed

START, END = "\t", "\n"
CHARS = "0123456789+ " + START + END
INDEX = {c: i for i, c in enumerate(CHARS)}


def make_questions(count: int, digits: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """`count` distinct questions "a+b" (padded with spaces) and their answers "a+b" as text."""
    seen: set[tuple[int, int]] = set()
    questions, answers = [], []
    while len(questions) < count:
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, digits + 1)))) for _ in range(2))
        if (a, b) in seen:
            continue
        seen.add((a, b))
        questions.append(f"{a}+{b}".ljust(2 * digits + 1))
        answers.append(str(a + b))
    return questions, answers


def one_hot(texts: list[str], length: int) -> np.ndarray:
    """(len(texts), length, len(CHARS)) one-hot characters; shorter texts are padded with spaces."""
    out = np.zeros((len(texts), length, len(CHARS)), dtype="float32")
    for i, text in enumerate(texts):
        for t, char in enumerate(text.ljust(length)):
            out[i, t, INDEX[char]] = 1.0
    return out


def build(units: int) -> tuple[Model, Model, Model]:
    """The training model and the two inference models, sharing their layers."""
    encoder_inputs = Input(shape=(None, len(CHARS)), name="question")
    _, state_h, state_c = LSTM(units, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = Input(shape=(None, len(CHARS)), name="answer_so_far")
    decoder_lstm = LSTM(units, return_sequences=True, return_state=True, name="decoder")
    decoder_dense = Dense(len(CHARS), activation="softmax", name="next_char")
    decoded, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    model = Model([encoder_inputs, decoder_inputs], decoder_dense(decoded), name="seq2seq")

    encoder = Model(encoder_inputs, [state_h, state_c], name="encoder_model")
    h_in, c_in = Input(shape=(units,), name="h"), Input(shape=(units,), name="c")
    step_out, h_out, c_out = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
    decoder = Model([decoder_inputs, h_in, c_in], [decoder_dense(step_out), h_out, c_out], name="decoder_model")
    return model, encoder, decoder


def decode(encoder: Model, decoder: Model, questions: np.ndarray, max_length: int) -> list[str]:
    """Greedy decoding of a batch of one-hot questions."""
    h, c = encoder.predict(questions, batch_size=len(questions))
    char = one_hot([START] * len(questions), 1)
    answers = [""] * len(questions)
    done = np.zeros(len(questions), dtype=bool)
    for _ in range(max_length):
        probabilities, h, c = decoder.predict([char, h, c], batch_size=len(questions))
        ids = probabilities[:, -1].argmax(axis=-1)
        for i, index in enumerate(ids):
            if not done[i]:
                if CHARS[index] == END:
                    done[i] = True
                else:
                    answers[i] += CHARS[index]
        char = np.eye(len(CHARS), dtype="float32")[ids][:, None]
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=2)
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    questions, answers = make_questions(args.samples + 1000, args.digits, rng)
    answer_length = args.digits + 2  # the longest sum, then the end mark
    x_question = one_hot(questions, 2 * args.digits + 1)
    x_answer = one_hot([START + a for a in answers], answer_length)  # the decoder's input: shifted right
    y = np.array([[INDEX[ch] for ch in (a + END).ljust(answer_length)] for a in answers])  # the next characters

    model, encoder, decoder = build(args.units)
    model.summary()
    model.compile(optimizer=Adam(learning_rate=0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train, test = slice(0, args.samples), slice(args.samples, None)
    start = time.perf_counter()
    model.fit([x_question[train], x_answer[train]], y[train], batch_size=64, epochs=args.epochs,
              validation_data=([x_question[test], x_answer[test]], y[test]), verbose=2)
    seconds = time.perf_counter() - start

    guesses = decode(encoder, decoder, x_question[test], answer_length)
    right = sum(g == a for g, a in zip(guesses, answers[test]))
    for q, g, a in list(zip(questions[test], guesses, answers[test]))[:5]:
        print(f"{q.strip():>9} = {g:<5} {'ok' if g == a else 'expected ' + a}")
    print(f"greedy decoding, held-out questions: {right}/{len(guesses)} exactly right "
          f"({100 * right / len(guesses):.1f}%) after {args.epochs} epochs, {seconds:.0f} s of training")


if __name__ == "__main__":
    main()
