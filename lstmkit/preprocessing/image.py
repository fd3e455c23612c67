"""The array functions of Keras 2's `keras.preprocessing.image` that programs call: images as
NumPy arrays, moved by random rotations and shifts (`random_rotation`, `random_shift`,
`apply_affine_transform`), and converted to and from PIL images (`img_to_array`, `array_to_img`,
`load_img`, `save_img`).

As in Keras 2, the random functions take one image with its channels on `channel_axis` (0 by
default) and rows and columns on `row_axis` / `col_axis`; the output pixel at (r, c) is read from
the input at the transformed place, by nearest neighbour (`interpolation_order=0`) or bilinearly
(1), with `fill_mode` "nearest", "constant" (`cval`), "reflect" or "wrap" outside the image, each as
SciPy's `affine_transform` (which Keras 2 calls) does it, halfway cases included.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._checks import one_of
from .. import config

FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def _inside(index: np.ndarray, size: int, mode: str) -> np.ndarray:
    if mode == "nearest" or mode == "constant":
        return np.clip(index, 0, size - 1)
    if mode == "wrap":  # coordinates were wrapped already (_wrapped); a neighbour past the edge is clamped
        return np.clip(index, 0, size - 1)
    period = 2 * size  # reflect: ... 2 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...
    folded = np.mod(index, period)
    return np.where(folded < size, folded, period - 1 - folded)


def _wrapped(coordinate: np.ndarray, size: int) -> np.ndarray:
    """SciPy's "wrap" (what Keras 2 asks for): a coordinate outside [0, size - 1] moves by whole
    periods of size - 1, the first and last pixels standing at the same place; the count of
    periods is truncated toward zero, as SciPy's C code does."""
    if size <= 1:
        return np.zeros_like(coordinate)
    period = size - 1
    below = coordinate + period * (np.trunc(-coordinate / period) + 1)
    above = coordinate - period * np.trunc(coordinate / period)
    return np.where(coordinate < 0, below, np.where(coordinate > size - 1, above, coordinate))


def _reflected(coordinate: np.ndarray, size: int) -> np.ndarray:
    """SciPy's "reflect" of a coordinate outside the image, before it is rounded to a pixel (what
    decides a coordinate exactly halfway between two)."""
    if size <= 1:
        return np.zeros_like(coordinate)
    twice = 2 * size
    low = np.where(coordinate < -twice, twice * np.trunc(-coordinate / twice) + coordinate, coordinate)
    low = np.where(low < -size, low + twice, -low - 1)
    high = coordinate - twice * np.trunc(coordinate / twice)
    high = np.where(high >= size, twice - high - 1, high)
    return np.where(coordinate < 0, low, np.where(coordinate > size - 1, high, coordinate))


def apply_affine_transform(x: np.ndarray, theta: float = 0, tx: float = 0, ty: float = 0, shear: float = 0,
                           zx: float = 1, zy: float = 1, row_axis: int = 1, col_axis: int = 2, channel_axis: int = 0,
                           fill_mode: str = "nearest", cval: float = 0.0, order: int = 1) -> np.ndarray:
    """`x` rotated by `theta` degrees about its centre, then shifted by `tx` rows and `ty`
    columns (zoom `zx`, `zy` and `shear` degrees as in Keras 2)."""
    fill_mode = one_of("fill_mode", fill_mode, FILL_MODES)
    if order not in (0, 1):
        raise ValueError(f"interpolation order must be 0 (nearest) or 1 (bilinear), got order={order!r}")
    image = np.moveaxis(np.asarray(x, dtype=np.float64), (row_axis, col_axis, channel_axis), (0, 1, 2))
    h, w = image.shape[:2]
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    matrix = (np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
              @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
              @ np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
              @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]))
    oy, ox = (h - 1) / 2.0, (w - 1) / 2.0  # the centre Keras transforms about
    centred = np.array([[1, 0, oy], [0, 1, ox], [0, 0, 1]]) @ matrix @ np.array([[1, 0, -oy], [0, 1, -ox], [0, 0, 1]])
    if col_axis > row_axis:  # Keras 2's matrix then reads its first coordinate as the column
        centred[:, [0, 1]] = centred[:, [1, 0]]
        centred[[0, 1]] = centred[[1, 0]]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    src_r = centred[0, 0] * rows + centred[0, 1] * cols + centred[0, 2]
    src_c = centred[1, 0] * rows + centred[1, 1] * cols + centred[1, 2]
    if fill_mode == "wrap":
        src_r, src_c = _wrapped(src_r, h), _wrapped(src_c, w)
    elif fill_mode == "reflect" and order == 0:
        src_r, src_c = _reflected(src_r, h), _reflected(src_c, w)
    if order == 0:
        r0, c0 = np.floor(src_r + 0.5).astype(int), np.floor(src_c + 0.5).astype(int)  # halves up, as SciPy
        out = image[_inside(r0, h, fill_mode), _inside(c0, w, fill_mode)]
    else:
        r0, c0 = np.floor(src_r).astype(int), np.floor(src_c).astype(int)
        fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]
        out = 0.0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                out = out + wr * wc * image[_inside(r0 + dr, h, fill_mode), _inside(c0 + dc, w, fill_mode)]
    if fill_mode == "constant":
        outside = (src_r < 0) | (src_r > h - 1) | (src_c < 0) | (src_c > w - 1)  # no interpolation past the edge
        out = np.where(outside[..., None], cval, out)
    return np.moveaxis(np.asarray(out), (0, 1, 2), (row_axis, col_axis, channel_axis)).astype(np.asarray(x).dtype
                                                                                               if np.asarray(x).dtype.kind == "f"
                                                                                               else np.float32)


def random_rotation(x: np.ndarray, rg: float, row_axis: int = 1, col_axis: int = 2, channel_axis: int = 0,
                    fill_mode: str = "nearest", cval: float = 0.0, interpolation_order: int = 1) -> np.ndarray:
    """`x` rotated by an angle drawn uniformly from [-rg, rg] degrees (NumPy's global generator)."""
    theta = np.random.uniform(-rg, rg)
    return apply_affine_transform(x, theta=theta, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_shift(x: np.ndarray, wrg: float, hrg: float, row_axis: int = 1, col_axis: int = 2, channel_axis: int = 0,
                 fill_mode: str = "nearest", cval: float = 0.0, interpolation_order: int = 1) -> np.ndarray:
    """`x` shifted by up to `hrg` of its height and `wrg` of its width, each drawn uniformly."""
    h, w = x.shape[row_axis], x.shape[col_axis]
    tx = np.random.uniform(-hrg, hrg) * h
    ty = np.random.uniform(-wrg, wrg) * w
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """A PIL image as a float32 array (height, width, channels), channels first for
    data_format="channels_first"."""
    data_format = config.image_data_format() if data_format is None else one_of(
        "data_format", data_format, ("channels_last", "channels_first"))
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ValueError(f"img_to_array takes a 2-D or 3-D image, got shape {x.shape}")
    return np.moveaxis(x, -1, 0) if data_format == "channels_first" else x


def array_to_img(x: Any, data_format: str | None = None, scale: bool = True, dtype: Any = None) -> Any:
    """An array (height, width, 1 / 3 / 4 channels) as a PIL image; `scale` stretches its values
    to 0-255."""
    from PIL import Image

    data_format = config.image_data_format() if data_format is None else data_format
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"array_to_img takes a 3-D array (height, width, channels), got shape {a.shape}")
    if data_format == "channels_first":
        a = np.moveaxis(a, 0, -1)
    if scale:
        a = a - a.min()
        top = a.max()
        if top:
            a = a / top
        a = a * 255
    channels = a.shape[-1]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None:
        raise ValueError(f"array_to_img takes 1, 3 or 4 channels, got {channels}")
    pixels = a.astype(np.uint8)
    return Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)


def load_img(path: str | os.PathLike[str], color_mode: str = "rgb", target_size: tuple[int, int] | None = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False, grayscale: bool = False) -> Any:
    """The image file at `path` as a PIL image in `color_mode` ("grayscale", "rgb", "rgba"),
    resized to `target_size` (height, width) if given."""
    from PIL import Image

    color_mode = "grayscale" if grayscale else one_of("color_mode", color_mode, ("grayscale", "rgb", "rgba"))
    with open(path, "rb") as f:
        img: Any = Image.open(f)
        img.load()
    img = img.convert({"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[color_mode])
    if target_size is not None:
        methods = {name: getattr(Image.Resampling, name.upper())
                   for name in ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")}
        method = methods[one_of("interpolation", interpolation, tuple(methods))]
        img = img.resize((int(target_size[1]), int(target_size[0])), method)
    return img


def save_img(path: str | os.PathLike[str], x: Any, data_format: str | None = None, file_format: str | None = None,
             scale: bool = True, **kwargs: Any) -> None:
    array_to_img(x, data_format=data_format, scale=scale).save(path, format=file_format, **kwargs)
