"""`text_dataset_from_directory`: a folder of text files, one sub-folder per class, as a Dataset
of `(texts, labels)` batches (Keras's `keras.utils.text_dataset_from_directory`).

    reviews/
        neg/  0001.txt 0002.txt ...
        pos/  0001.txt ...

Files are listed (and, for `validation_split`, split) up front and read as batches are asked
for, so a corpus larger than memory streams.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from .._checks import one_of, positive_int
from .dataset import Dataset
from .strings import StringTensor

LABEL_MODES = ("int", "categorical", "binary")


def _files(directory: str, class_names: Sequence[str] | None, follow_links: bool, labels: Any) -> tuple[list[str], list[int], list[str]]:
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"text_dataset_from_directory: no directory {directory!r}")
    if labels == "inferred":
        found = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        names = list(class_names) if class_names is not None else found
        missing = sorted(set(names) - set(found))
        if missing:
            raise ValueError(f"class_names {missing} are not sub-folders of {directory!r} (found {found})")
        paths, ids = [], []
        for i, name in enumerate(names):
            for root, _, files in sorted(os.walk(os.path.join(directory, name), followlinks=follow_links)):
                for f in sorted(files):
                    if f.lower().endswith(".txt"):
                        paths.append(os.path.join(root, f))
                        ids.append(i)
        return paths, ids, names
    paths = [os.path.join(root, f) for root, _, files in sorted(os.walk(directory, followlinks=follow_links))
             for f in sorted(files) if f.lower().endswith(".txt")]
    if labels is None:
        return paths, [0] * len(paths), []
    given = list(labels)
    if len(given) != len(paths):
        raise ValueError(f"labels has {len(given)} entries but {directory!r} holds {len(paths)} .txt files")
    return paths, [int(v) for v in given], [str(i) for i in sorted(set(given))]


def text_dataset_from_directory(directory: str | os.PathLike[str], labels: Any = "inferred", label_mode: str | None = "int",
                                class_names: Sequence[str] | None = None, batch_size: int | None = 32,
                                max_length: int | None = None, shuffle: bool = True, seed: int | None = None,
                                validation_split: float | None = None, subset: str | None = None,
                                follow_links: bool = False, verbose: bool = True, **kwargs: Any) -> Any:
    """The `.txt` files under `directory` as a Dataset of `(texts, labels)` batches; its
    `class_names` are the sub-folders in label order. `label_mode`: "int" (int32 ids),
    "categorical" (one-hot float32), "binary" (float32, shape (batch, 1)) or None (texts only).
    With `validation_split`, `subset` picks "training", "validation" or "both" (a pair)."""
    directory = os.fspath(directory)
    if label_mode is not None:
        label_mode = one_of("label_mode", label_mode, LABEL_MODES)
    paths, ids, names = _files(directory, class_names, follow_links, labels)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes, {directory!r} has {len(names)}: {names}")
    if validation_split is not None:
        if not 0 < float(validation_split) < 1:
            raise ValueError(f"validation_split must be between 0 and 1, got validation_split={validation_split!r}")
        subset = one_of("subset", subset, ("training", "validation", "both"))
        if shuffle and seed is None:
            raise ValueError("text_dataset_from_directory with validation_split and shuffle needs seed= (so that "
                             "the training and validation subsets are cut from the same order)")
    elif subset is not None:
        raise ValueError(f"subset={subset!r} needs validation_split=")
    if shuffle:
        order = np.random.RandomState(seed if seed is not None else np.random.randint(1_000_000)).permutation(len(paths))
        paths, ids = [paths[i] for i in order], [ids[i] for i in order]
    if verbose:
        print(f"Found {len(paths)} files belonging to {len(names)} classes.")

    def build(chosen: list[int], what: str | None) -> Dataset:
        if verbose and what is not None:
            print(f"Using {len(chosen)} files for {what}.")
        chosen_paths, chosen_ids = [paths[i] for i in chosen], [ids[i] for i in chosen]

        def make() -> Iterator[Any]:
            for path, label in zip(chosen_paths, chosen_ids):
                with open(path, "rb") as f:
                    text = f.read()
                if max_length is not None:
                    text = text.decode("utf-8", "replace")[:int(max_length)].encode("utf-8")
                element: Any = StringTensor.of(text)
                if label_mode == "int":
                    element = (element, torch.tensor(label, dtype=torch.int32))
                elif label_mode == "categorical":
                    element = (element, torch.nn.functional.one_hot(torch.tensor(label), len(names)).float())
                elif label_mode == "binary":
                    element = (element, torch.tensor([float(label)]))
                yield element
        ds = Dataset(make, len(chosen_paths))
        if shuffle and what != "validation":
            ds = ds.shuffle(buffer_size=(batch_size or 1) * 8, seed=seed)
        if batch_size is not None:
            ds = ds.batch(positive_int("batch_size", batch_size))
        ds.class_names = names  # type: ignore[attr-defined]
        ds.file_paths = chosen_paths  # type: ignore[attr-defined]
        return ds

    everything = list(range(len(paths)))
    if validation_split is None:
        return build(everything, None)
    cut = len(paths) - int(float(validation_split) * len(paths))
    training, validation = everything[:cut], everything[cut:]
    if subset == "training":
        return build(training, "training")
    if subset == "validation":
        return build(validation, "validation")
    return build(training, "training"), build(validation, "validation")
