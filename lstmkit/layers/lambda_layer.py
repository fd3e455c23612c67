"""`Lambda`: a Python function of tensors, as a layer (no weights).

The function takes the input (a tensor, or a list of tensors) and returns a tensor (or a list).
Its output shape is `output_shape` when given, else found by running the function on zeros
twice, with unknown sizes set to 2 and then 3: the axes whose size changes are unknown (None).

A model file keeps a Lambda's function by name only, never its code: a `def` function by its
`__name__`, a `lambda` by the layer's name. Loading such a file needs the function back in
`custom_objects={name: function}`; without it `load_model` refuses the file and says which name.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .base import Layer


class NamedFunction:
    """A function with the name a model file keeps it by (for a `lambda`, whose own name is
    "<lambda>")."""

    def __init__(self, function: Callable[..., Any], name: str) -> None:
        self.function, self.__name__ = function, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


class Lambda(Layer):
    """Wraps `function(inputs, **arguments)` as a layer.

    Args:
        function: The function.
        output_shape: The output's shape without the batch (a tuple), or a function from the
            input shape (batch first) to the output shape; default: found by running it.
        mask: A function `(inputs, mask) -> mask`, or a fixed mask; default: no mask.
        arguments: Keyword arguments passed to the function.

    >>> import torch
    >>> tuple(Lambda(lambda x: x[:, -1])(torch.zeros(2, 5, 3)).shape)
    (2, 3)
    """

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, mask: Any = None,
                 arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda takes a callable, got function={function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise ValueError(f"Lambda's arguments must be a dict of keyword arguments, got arguments={arguments!r}")
        name = getattr(function, "__name__", None)
        self.function = function if isinstance(name, str) and name != "<lambda>" else NamedFunction(function, self.name)
        self.output_shape_given = output_shape
        self.mask_given = mask
        self.arguments = dict(arguments or {})

    def as_input(self, x: Any) -> Any:
        if isinstance(x, (list, tuple)):
            return [t if isinstance(t, torch.Tensor) else super(Lambda, self).as_input(t) for t in x]
        return super().as_input(x)

    def call(self, x: Any, *, mask: Any = None, training: bool = False, **kwargs: Any) -> Any:
        return self.function(x, **self.arguments)

    def compute_output_shape(self, input_shape: Any) -> Any:
        given = self.output_shape_given
        if callable(given):
            return given(input_shape)
        if given is not None:
            batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
            return (batch, *tuple(given))
        return self.probe_shape(lambda x: self.function(x, **self.arguments), input_shape, "its function",
                                "pass output_shape=...")

    def compute_mask(self, x: Any, mask: Any) -> Any:
        if callable(self.mask_given):
            return self.mask_given(x, mask)
        return self.mask_given

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if isinstance(self.function, NamedFunction):
            self.function.__name__ = self.name  # the name it is saved by follows the layer's
        config.update(function=self.function, arguments=self.arguments)
        if self.output_shape_given is not None:
            config["output_shape"] = self.output_shape_given if callable(self.output_shape_given) else list(self.output_shape_given)
        if self.mask_given is not None:
            config["mask"] = self.mask_given
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, function={getattr(self.function, '__name__', '?')}"
