"""Library-wide settings the layers read: where convolution and pooling layers expect channels.

Keras keeps this in `keras.backend` (`image_data_format()`, `set_image_data_format()`); lstmkit's
`keras.backend` (`lstmkit.compat.backend`) reads and writes it here, so that the layers below it
need no compatibility module.
"""

from __future__ import annotations

from ._checks import one_of

_image_data_format = ["channels_last"]


def image_data_format() -> str:
    """"channels_last" (Keras's default) or "channels_first": where convolution and pooling
    layers built without `data_format=` expect the channels."""
    return _image_data_format[0]


def set_image_data_format(data_format: str) -> None:
    _image_data_format[0] = one_of("data_format", data_format, ("channels_last", "channels_first"))
