"""Reading .npz archives of numeric arrays without trusting them: anything that is not a regular
file and a zip, more members than the budget allows (counted from the zip's end record before its
directory is parsed), members that inflate past the input budget (:mod:`uao_deploy.io.budget`, read from
the zip directory before anything is inflated), a malformed or truncated member, a header claiming
more data than the member holds, or an object array (pickled Python objects) is one clear UaoError
naming the file and the array."""
from __future__ import annotations

import math
import struct
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from ..errors import UaoError, first_line, one_line
from . import budget

# What numpy raises on a damaged npy header: numpy 2 tokenizes it (tokenize.TokenError) before
# evaluating it (SyntaxError, ValueError).
HEADER_ERRORS = (OSError, ValueError, EOFError, SyntaxError, TypeError, KeyError, zipfile.BadZipFile,
                 tokenize.TokenError, RecursionError, MemoryError)

NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def is_zip(path) -> bool:
    """Whether ``path`` is a file that starts as a zip archive (an .npz) does."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def open_npz(path, what: str = ".npz file", allow_pickle: bool = False):
    """The ``np.load`` archive of ``path`` (use it as a context manager), refused unless it is a zip."""
    path = Path(path)
    magic = budget.read_bytes(path, 6)
    # Only zip archives reach np.load: given anything else it would try to unpickle the file.
    if magic == b"\x93NUMPY":
        raise UaoError(f"{path} is a single .npy array, not an {what}")
    if not magic.startswith(b"PK\x03\x04"):
        raise UaoError(f"{path} is not an .npz file (a zip archive of numpy arrays)")
    budget.check_members(path, declared_members(path))
    try:
        archive = np.load(path, allow_pickle=allow_pickle)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UaoError(f"{path} is not a readable {what} ({one_line(exc)})") from None
    inflated = sum(member.file_size for member in archive.zip.infolist())
    if inflated > budget.max_input_bytes():
        archive.close()
        raise budget.too_large(path, inflated, " (its arrays, inflated)")
    return archive


END_RECORD, ZIP64_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"


def declared_members(path) -> int:
    """How many members the zip's end-of-central-directory record (zip64's, where it has one) says it
    holds; 0 where no record is found (``np.load`` then names the damage)."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - (1 << 16) - 22))  # the record (22 bytes) ends with a comment of < 64 KiB
        tail = handle.read()
        at = tail.rfind(END_RECORD)
        if at < 0 or len(tail) < at + 22:
            return 0
        members = struct.unpack_from("<H", tail, at + 10)[0]
        locator = tail.rfind(ZIP64_LOCATOR, 0, at)
        if members == 0xFFFF and locator >= 0 and len(tail) >= locator + 20:
            handle.seek(struct.unpack_from("<Q", tail, locator + 8)[0])
            record = handle.read(56)
            if len(record) == 56 and record.startswith(b"PK\x06\x06"):
                members = struct.unpack_from("<Q", record, 32)[0]
        return members


def read_array(path, archive, key: str, pickle_hint: str | None = None) -> np.ndarray:
    """``archive[key]`` once its npy header is checked: well formed, and no larger than the data
    stored. An object array is refused; ``pickle_hint`` says how to opt in to reading it (from
    files one trusts), when the caller offers a way."""
    member = key if key in archive.zip.namelist() else f"{key}.npy"
    try:
        stored = archive.zip.getinfo(member).file_size
        with archive.zip.open(member) as handle:
            version = np.lib.format.read_magic(handle)
            if version not in NPY_HEADER_READERS:
                raise ValueError(f"unsupported npy format version {version}")
            shape, _, dtype = NPY_HEADER_READERS[version](handle)
            data_bytes = stored - handle.tell()
    except HEADER_ERRORS as exc:
        raise UaoError(f"{path}: {key!r} is not a readable numpy array ({_reason(exc)})") from None
    if dtype.hasobject:
        if not archive.allow_pickle:
            hint = f"; {pickle_hint}" if pickle_hint else ""
            raise UaoError(f"{path}: {key!r} holds pickled Python objects, which can run code when loaded{hint}")
    elif math.prod(shape) * dtype.itemsize > data_bytes:
        raise UaoError(f"{path}: {key!r} is truncated: its header claims {math.prod(shape) * dtype.itemsize:,} bytes "
                       f"of {dtype} {shape} but it holds {max(data_bytes, 0):,}")
    try:
        return archive[key]
    except HEADER_ERRORS as exc:
        raise UaoError(f"{path}: {key!r} cannot be read ({first_line(exc)})") from None
    except Exception as exc:  # unpickling (allowed above) can fail in any way the pickle chooses
        if not dtype.hasobject:
            raise
        raise UaoError(f"{path}: {key!r} cannot be unpickled ({type(exc).__name__}: {first_line(exc)})") from None


def _reason(exc: BaseException) -> str:
    """One line saying why numpy refused a header (TokenError's message is its first argument)."""
    return str(exc.args[0]) if isinstance(exc, tokenize.TokenError) and exc.args else first_line(exc)


def numbers(path, value: np.ndarray, key: str) -> np.ndarray:
    """``value`` as float64, refused unless it holds real numbers (not strings, objects or complex)."""
    value = np.asarray(value)
    if value.dtype.kind not in "fiu":
        raise UaoError(f"{path}: {key!r} must hold numbers; it holds {value.dtype} values")
    return value.astype(np.float64)
