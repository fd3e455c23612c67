"""The documentation site: it builds with `mkdocs build --strict` (a broken link, a missing page or
a docstring mkdocstrings cannot read fails it), and every object the API reference shows, with
each of its public members, has a docstring."""

from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def documented_objects() -> list[tuple[str, object]]:
    found = []
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        for name in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M):
            module, _, attribute = name.rpartition(".")
            try:
                found.append((name, getattr(importlib.import_module(module), attribute)))
            except (ImportError, AttributeError):
                found.append((name, importlib.import_module(name)))
    return found


def test_the_reference_pages_name_real_objects():
    names = [name for name, _ in documented_objects()]
    assert len(names) >= 30
    assert "lstmkit.cells.LSTMSettings" in names and "lstmkit.layers.LSTM" in names


def test_every_documented_object_and_its_public_members_have_docstrings():
    missing = []
    for name, obj in documented_objects():
        if not inspect.getdoc(obj):
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for member, value in vars(obj).items():
            if member.startswith("_"):
                continue
            function = value.fget if isinstance(value, property) else \
                value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            # a docstring inherited from the method it overrides counts (inspect.getdoc finds it)
            if inspect.isfunction(function) and not inspect.getdoc(getattr(obj, member)):
                missing.append(f"{name}.{member}")
    assert not missing, f"without a docstring: {missing}"


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    mkdocs = pytest.importorskip("mkdocs")
    assert mkdocs
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "cells" / "index.html").read_text().count("LSTMSettings") > 2
    assert (tmp_path / "site" / "design" / "cells-and-kernels" / "index.html").exists()
