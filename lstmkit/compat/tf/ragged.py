"""`tf.RaggedTensor`, as far as text tutorials use it: rows of different lengths that
`tf.strings.split` / `unicode_split` give for several strings, read back with `.numpy()`,
`.to_list()`, `to_tensor()` (padded) or by row; `StringLookup` and `reduce_join` take them."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch

from ...data.strings import StringTensor, as_leaf


class RaggedTensor:
    """Rows of values of different lengths (one ragged axis, the second)."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows  # each a StringTensor or a torch tensor (1-D)

    @staticmethod
    def from_row_lengths(values: Any, row_lengths: Any) -> "RaggedTensor":
        values = as_leaf(values)
        lengths = [int(n) for n in np.asarray(row_lengths).reshape(-1)]
        starts = np.cumsum([0, *lengths])
        return RaggedTensor([values[starts[i]:starts[i + 1]] for i in range(len(lengths))])

    @property
    def shape(self) -> tuple[Any, ...]:
        return (len(self.rows), None)

    @property
    def dtype(self) -> Any:
        return self.rows[0].dtype if self.rows else torch.float32

    def row_lengths(self) -> torch.Tensor:
        return torch.tensor([len(r) for r in self.rows], dtype=torch.int64)

    def map_rows(self, fn: Callable[[Any], Any]) -> "RaggedTensor":
        return RaggedTensor([fn(r) for r in self.rows])

    def to_list(self) -> list[Any]:
        return [r.numpy().tolist() if isinstance(r, StringTensor) else r.tolist() for r in self.rows]

    def numpy(self) -> np.ndarray:
        out = np.empty(len(self.rows), dtype=object)
        for i, r in enumerate(self.rows):
            out[i] = r.numpy() if isinstance(r, StringTensor) else r.detach().cpu().numpy()
        return out

    def to_tensor(self, default_value: Any = None, shape: Any = None) -> Any:
        width = max((len(r) for r in self.rows), default=0)
        if shape is not None and shape[-1] is not None:
            width = int(shape[-1])
        if self.rows and isinstance(self.rows[0], StringTensor):
            out = np.full((len(self.rows), width), b"" if default_value is None else default_value, dtype=object)
            for i, r in enumerate(self.rows):
                out[i, :min(len(r), width)] = r.view(np.ndarray)[:width]
            return out.view(StringTensor)
        dtype = self.rows[0].dtype if self.rows else torch.float32
        out_t = torch.full((len(self.rows), width), 0 if default_value is None else default_value, dtype=dtype)
        for i, r in enumerate(self.rows):
            out_t[i, :min(len(r), width)] = r[:width]
        return out_t

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return RaggedTensor(self.rows[index])
        return self.rows[int(index)]

    def __repr__(self) -> str:
        return f"<tf.RaggedTensor {self.to_list()!r:.300}>"
