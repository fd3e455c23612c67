"""`get_file(extract=True)` on hostile and broken archives: each is refused by name (a
ValueError naming the archive and the member) before anything is written, in bounded time and
memory, and leaves nothing behind; processes extracting one archive at once see it whole.
Oracle for good archives: Python's own tarfile/zipfile reading of the same members."""

import io
import os
import stat
import struct
import subprocess
import sys
import tarfile
import zipfile

import pytest

from hostile import attack
from lstmkit.datasets.cache import get_file

ORIGIN = "https://example.org/data"


def cache(tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir(exist_ok=True)
    return folder


def tar_of(path, members, mode="w"):
    """members: (name, bytes for a file | None for a folder)."""
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def octal(n, width):
    return b"%0*o" % (width - 1, n) + b"\0"


def sparse_tar(path, real_size=20 << 30, stored=b"x" * 10240):
    """A GNU sparse member: 10 KB stored, 20 GiB once its holes are written out."""
    info = tarfile.TarInfo("big.bin")
    info.size = len(stored)
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[386:398], header[398:410] = octal(real_size - len(stored), 12), octal(len(stored), 12)
    header[482] = 0
    header[483:495] = octal(real_size, 12)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header[:512])
    path.write_bytes(bytes(header) + stored + b"\0" * (-len(stored) % 512) + b"\0" * 1024)


def zip_with_flag(path, flag=0, method=None, mode=None):
    """A zip of one member whose flags, compression method or Unix mode are patched."""
    info = zipfile.ZipInfo("data/a.txt")
    if mode is not None:
        info.external_attr = mode << 16
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, b"hello")
    raw = bytearray(path.read_bytes())
    local, central = raw.index(b"PK\x03\x04"), raw.index(b"PK\x01\x02")
    raw[local + 6] |= flag
    raw[central + 8] |= flag
    if method is not None:
        raw[local + 8:local + 10] = raw[central + 10:central + 12] = struct.pack("<H", method)
    path.write_bytes(bytes(raw))


def zeros_tar_gz(path, size):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size

        class Zeros(io.RawIOBase):
            left = size

            def readable(self):
                return True

            def readinto(self, buffer):
                n = min(len(buffer), self.left)
                buffer[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros()))


def truncated_tar_gz(path):
    tar_of(path, [(f"data/{i}.txt", os.urandom(20_000)) for i in range(20)], mode="w:gz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


ATTACKS = {
    "a GNU sparse member of 20 GiB": ("big.tar", sparse_tar, r"big\.bin.*sparse"),
    "a member named '.'": ("dot.tar", lambda p: tar_of(p, [(".", b"x")]), r"'\.'"),
    "a file and a folder of one name": ("clash.tar", lambda p: tar_of(p, [("data", b"x"), ("data/b.txt", b"y")]),
                                        r"'data' is both a file and a folder"),
    "a folder then a file of its name": ("clash2.tar", lambda p: tar_of(p, [("data/", None), ("data", b"y")]),
                                         r"'data' is both a file and a folder"),
    "a truncated .tar.gz": ("cut.tar.gz", truncated_tar_gz, r"damaged or cut short|damaged tar"),
    "an encrypted zip member": ("enc.zip", lambda p: zip_with_flag(p, flag=1), r"data/a\.txt.*encrypted"),
    "an unknown compression method": ("m.zip", lambda p: zip_with_flag(p, method=9), r"data/a\.txt.*compression method 9"),
    "a symlink in a zip": ("link.zip", lambda p: zip_with_flag(p, mode=0o120777), r"link or special file 'data/a\.txt'"),
    "a symlink in a tar": ("link.tar", lambda p: _tar_link(p), r"link 'data/l'"),
    "a FIFO in a tar": ("fifo.tar", lambda p: _tar_fifo(p), r"device or FIFO 'data/f'"),
    "a path leaving the folder": ("up.tar", lambda p: tar_of(p, [("data/../../x", b"x")]), r"outside the folder"),
    "an absolute path": ("abs.tar", lambda p: tar_of(p, [("/etc/x", b"x")]), r"absolute path"),
    "1 GiB of zeros in a 1 MB .tar.gz": ("bomb.tar.gz", lambda p: zeros_tar_gz(p, 1 << 30), r"more than [\d,]+ bytes"),
}


def _tar_link(path):
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("data/l")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)


def _tar_fifo(path):
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("data/f")
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_hostile_archive_is_refused_by_name_and_leaves_nothing(tmp_path, name):
    fname, make, message = ATTACKS[name]
    folder = cache(tmp_path)
    make(folder / fname)
    result = attack(f"get_file({fname!r}, origin={ORIGIN!r}, extract=True, cache_dir={str(tmp_path)!r})",
                    setup="from lstmkit.datasets.cache import get_file", seconds=60, megabytes=300)
    assert result.refused("ValueError") and fname in result.outcome, (name, result)
    import re
    assert re.search(message, result.outcome), (name, result.outcome)
    assert result.seconds < 5 and result.megabytes < 200, (name, result)
    left = sorted(p.name for p in folder.iterdir() if p.name != fname and not p.name.endswith(".lock"))
    assert left == [], left  # no extraction folder, no partial one
    assert not (tmp_path / "x").exists()


def test_a_sparse_member_is_what_the_attack_says():
    """The crafted member is read by tarfile as a sparse file of 20 GiB (the attack is real)."""
    buffer = io.BytesIO()
    path = type("P", (), {"write_bytes": lambda self, data: buffer.write(data)})()
    sparse_tar(path)
    buffer.seek(0)
    member = tarfile.open(fileobj=buffer).getmembers()[0]
    assert member.issparse() and member.size == 20 << 30


GOOD = [("data/", None), ("data/a.txt", b"first"), ("data/sub/b.txt", b"second" * 1000), ("top.txt", b"")]


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.bz2", "zip"])
def test_good_archives_extract_as_tarfile_and_zipfile_read_them(tmp_path, kind):
    folder = cache(tmp_path)
    archive = folder / f"good.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in GOOD:
                z.writestr(name, data) if data is not None else z.mkdir(name.rstrip("/"))
        with zipfile.ZipFile(archive) as z:
            expected = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    else:
        tar_of(archive, GOOD, mode="w" + kind[3:].replace(".", ":"))
        with tarfile.open(archive) as t:
            expected = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    out = get_file(archive.name, origin=ORIGIN, extract=True, cache_dir=str(tmp_path))
    found = {os.path.relpath(os.path.join(r, f), out).replace(os.sep, "/"): open(os.path.join(r, f), "rb").read()
             for r, _, fs in os.walk(out) for f in fs}
    assert found == expected
    # a second call uses the extraction as it is; a changed archive is extracted again
    os.utime(os.path.join(out, "top.txt"), (0, 0))
    assert get_file(archive.name, origin=ORIGIN, extract=True, cache_dir=str(tmp_path)) == out
    assert os.stat(os.path.join(out, "top.txt")).st_mtime == 0
    leftover = folder / f".{os.path.basename(out)}.999-dead.partial"  # from an extraction killed part-way
    leftover.mkdir()
    os.utime(archive, (1, 1))
    get_file(archive.name, origin=ORIGIN, extract=True, cache_dir=str(tmp_path))
    assert os.stat(os.path.join(out, "top.txt")).st_mtime != 0
    assert not leftover.exists()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o777 & ~umask  # as a folder made by hand, not 0o700


READER = """
import hashlib, os, sys
from lstmkit.datasets.cache import get_file
out = get_file("many.tar.gz", origin="https://example.org/many.tar.gz", extract=True, cache_dir=sys.argv[1])
for i in range(int(sys.argv[2])):
    data = open(os.path.join(out, "data", f"{i}.bin"), "rb").read()
    if len(data) != 200_000 or data != bytes([i % 251]) * 200_000:
        print("partial", i, len(data)); sys.exit(1)
print("whole")
"""


@pytest.mark.slow
def test_four_processes_extracting_one_archive_each_see_it_whole(tmp_path):
    folder = cache(tmp_path)
    n = 60
    tar_of(folder / "many.tar.gz", [(f"data/{i}.bin", bytes([i % 251]) * 200_000) for i in range(n)], mode="w:gz")
    runs = [subprocess.Popen([sys.executable, "-c", READER, str(tmp_path), str(n)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 and "whole" in out for run, (out, _) in zip(runs, outputs)), outputs
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith((".partial", ".old"))) == []
