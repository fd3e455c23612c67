"""Custom training loops: `tf.GradientTape` on torch's autograd, `tf.Variable`, and
`tf.TensorArray`.

    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

torch records every operation on tensors that need gradients (a model's weights, a Variable,
a tensor the tape `watch`es), so the tape's part is to ask for the gradients: `gradient(target,
sources)` is `torch.autograd.grad`, with None for a source the target does not depend on. A tape
that is not `persistent` gives gradients once, as in TensorFlow.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ...data.strings import flatten, map_structure
from ._tensors import dtype_of, t

__all__ = ["GradientTape", "Variable", "TensorArray"]

_open_tapes: list["GradientTape"] = []


class GradientTape:
    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self._used = False
        self._watched: list[torch.Tensor] = []
        self._grad_mode: Any = None

    def __enter__(self) -> "GradientTape":
        self._grad_mode = torch.enable_grad()
        self._grad_mode.__enter__()
        _open_tapes.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _open_tapes.remove(self)
        self._grad_mode.__exit__(*exc)

    def watch(self, tensor: Any) -> None:
        """Records operations on `tensor` (a float tensor, or a tuple / list of them) from now on."""
        for leaf in flatten(tuple(tensor) if isinstance(tensor, list) else tensor):
            if not isinstance(leaf, torch.Tensor) or not leaf.is_floating_point():
                raise TypeError(f"GradientTape.watch takes float tensors, got {type(leaf).__name__}"
                                + (f" of dtype {leaf.dtype}" if isinstance(leaf, torch.Tensor) else ""))
            if leaf.is_leaf and not leaf.requires_grad:
                leaf.requires_grad_(True)
            self._watched.append(leaf)

    def watched_variables(self) -> list[torch.Tensor]:
        return list(self._watched)

    def stop_recording(self) -> Any:
        return torch.no_grad()

    def reset(self) -> None:
        self._used = False

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: Any = "none") -> Any:
        """d(sum of target) / d(each source), in the structure of `sources` (a list, dict or one
        tensor); None where the target does not depend on a source (zeros with
        `unconnected_gradients="zero"`)."""
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape gives gradients once: use "
                               "tf.GradientTape(persistent=True) to call gradient() again")
        self._used = True
        if isinstance(sources, (list, tuple)) and not isinstance(sources, torch.Tensor):
            structure: Any = tuple(sources)
            back = list
        else:
            structure, back = sources, None
        leaves = flatten(structure)
        targets = [v for v in flatten(tuple(target) if isinstance(target, list) else target)]
        wanted = [i for i, s in enumerate(leaves) if isinstance(s, torch.Tensor) and s.requires_grad]
        grads: list[Any] = [None] * len(leaves)
        connected = [tt for tt in targets if isinstance(tt, torch.Tensor) and tt.requires_grad]
        if wanted and connected:
            given = None
            if output_gradients is not None:
                given = [t(g) for g in (output_gradients if isinstance(output_gradients, (list, tuple))
                                        else [output_gradients])]
            found = torch.autograd.grad(
                [tt if given else tt.sum() for tt in connected], [leaves[i] for i in wanted], grad_outputs=given,
                retain_graph=self.persistent or len(_open_tapes) > 0, create_graph=len(_open_tapes) > 0,
                allow_unused=True)
            for i, g in zip(wanted, found):
                grads[i] = g
        if str(unconnected_gradients).lower().endswith("zero"):
            grads = [torch.zeros_like(s) if g is None and isinstance(s, torch.Tensor) else g for g, s in zip(grads, leaves)]
        it = iter(grads)
        packed = map_structure(lambda _: next(it), structure)
        return back(packed) if back is not None else packed

    def jacobian(self, target: Any, sources: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("GradientTape.jacobian is outside lstmkit's TensorFlow subset: use "
                                  "torch.autograd.functional.jacobian")


class Variable(torch.nn.Parameter):
    """A tensor that holds its value between steps: a torch Parameter (float ones are trained
    by the tape and optimizers when `trainable`), with TensorFlow's `assign`, `assign_add`,
    `assign_sub`, `numpy()`, `value()`, `name`."""

    _name: str
    _trainable: bool

    def __new__(cls, initial_value: Any = None, trainable: bool = True, name: str | None = None, dtype: Any = None,
                **kwargs: Any) -> "Variable":
        value = initial_value() if callable(initial_value) else initial_value
        data = t(value, dtype).detach().clone()
        made = torch.Tensor._make_subclass(cls, data, bool(trainable) and data.is_floating_point())
        made._name = name or "Variable"
        made._trainable = bool(trainable)
        return made

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    @property
    def name(self) -> str:
        return f"{self._name}:0"

    @property
    def trainable(self) -> bool:
        return self._trainable

    def assign(self, value: Any, read_value: bool = True, **kwargs: Any) -> "Variable":
        with torch.no_grad():
            self.copy_(t(value).to(self.dtype))
        return self

    def assign_add(self, delta: Any, read_value: bool = True, **kwargs: Any) -> "Variable":
        with torch.no_grad():
            self.add_(t(delta).to(self.dtype))
        return self

    def assign_sub(self, delta: Any, read_value: bool = True, **kwargs: Any) -> "Variable":
        with torch.no_grad():
            self.sub_(t(delta).to(self.dtype))
        return self

    def value(self) -> torch.Tensor:
        return self * 1 if self.requires_grad else self.detach().clone()

    read_value = value

    def numpy(self, *, force: bool = False) -> np.ndarray:
        return self.detach().cpu().numpy()

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        return f"<tf.Variable {self._name!r} shape={tuple(self.shape)} dtype={self.dtype} numpy={self.numpy()!r}>"


class TensorArray:
    """A list of tensors written by index (in loops), read back one by one or `stack`ed."""

    def __init__(self, dtype: Any, size: Any = 0, dynamic_size: bool = False, clear_after_read: bool = True,
                 element_shape: Any = None, infer_shape: bool = True, name: str | None = None, **kwargs: Any) -> None:
        self.dtype = dtype_of(dtype)
        self._items: list[Any] = [None] * int(t(size).item() if isinstance(size, torch.Tensor) else size)
        self.dynamic_size = dynamic_size

    def write(self, index: Any, value: Any, name: str | None = None) -> "TensorArray":
        i = int(index.item() if isinstance(index, torch.Tensor) else index)
        if i >= len(self._items):
            if not self.dynamic_size:
                raise IndexError(f"TensorArray of size {len(self._items)}: cannot write index {i} "
                                 "(make it with dynamic_size=True to grow)")
            self._items.extend([None] * (i + 1 - len(self._items)))
        self._items[i] = t(value, self.dtype)
        return self

    def read(self, index: Any, name: str | None = None) -> Any:
        item = self._items[int(index.item() if isinstance(index, torch.Tensor) else index)]
        if item is None:
            raise ValueError(f"TensorArray: index {index} was never written")
        return item

    def stack(self, name: str | None = None) -> torch.Tensor:
        missing = [i for i, v in enumerate(self._items) if v is None]
        if missing:
            raise ValueError(f"TensorArray.stack: indices {missing[:5]} were never written")
        return torch.stack(self._items) if self._items else torch.zeros(0, dtype=self.dtype)

    def gather(self, indices: Any, name: str | None = None) -> torch.Tensor:
        return torch.stack([self.read(i) for i in (indices.tolist() if isinstance(indices, torch.Tensor) else indices)])

    def concat(self, name: str | None = None) -> torch.Tensor:
        return torch.cat(self._items)

    def unstack(self, value: Any, name: str | None = None) -> "TensorArray":
        self._items = list(torch.unbind(t(value, self.dtype)))
        return self

    def size(self, name: str | None = None) -> torch.Tensor:
        return torch.tensor(len(self._items), dtype=torch.int32)
