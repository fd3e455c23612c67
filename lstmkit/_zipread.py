"""Reading one member of a zip file we did not write, within limits: its declared size under a
cap, a compression method we know, a compression ratio no real data reaches, and the bytes it
really holds equal to what it declares. Model archives, Keras's `.keras` files and `.npz` data
files are read through here.
"""

from __future__ import annotations

import collections
import zipfile
from typing import Callable

# what zipfile raises on a damaged archive: its own errors, and others for undecodable names,
# versions and methods it lacks, encryption, a stream cut short or a bad CRC
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError)

# deflate cannot shrink real weights or data by more than this; zeros shrink about 1000 times
MAX_RATIO = 200
# below this, a member may inflate beyond MAX_RATIO (small headers of a few bytes)
RATIO_SLACK = 1 << 20


def default_refuse(path: str, problem: str) -> ValueError:
    return ValueError(f"Cannot read {path!r}: {problem}")


def unique_names(path: str, zf: zipfile.ZipFile, refuse: Callable[[str, str], ValueError] = default_refuse) -> list[str]:
    """The members' names, refusing a zip that holds one name twice (zipfile reads the last)."""
    names = [info.filename for info in zf.infolist()]
    twice = sorted(name for name, n in collections.Counter(names).items() if n > 1)
    if twice:
        raise refuse(path, f"members appear twice: {twice[:10]}")
    return names


def read_member(path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int,
                refuse: Callable[[str, str], ValueError] = default_refuse) -> bytes:
    """The member's bytes, after checking what it declares; refused (by `refuse(path, why)`)
    above `limit` bytes, with another compression than stored or deflate, expanding more than
    MAX_RATIO times, damaged (CRC), encrypted, or holding another number of bytes than it says."""
    if info.file_size > limit:
        raise refuse(path, f"member {info.filename!r} declares {info.file_size:,} bytes, above the limit of {limit:,}")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise refuse(path, f"member {info.filename!r} uses compression method {info.compress_type}, which lstmkit does not read")
    if info.flag_bits & 0x1:
        raise refuse(path, f"member {info.filename!r} is encrypted")
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_RATIO * info.compress_size + RATIO_SLACK:
        raise refuse(path, f"member {info.filename!r} would expand {info.compress_size:,} bytes to {info.file_size:,} (a zip bomb?)")
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except ZIP_ERRORS as err:
        raise refuse(path, f"member {info.filename!r} is damaged ({err})") from None
    if len(data) != info.file_size:
        raise refuse(path, f"member {info.filename!r} holds {len(data):,} bytes, not the {info.file_size:,} it declares")
    return data
