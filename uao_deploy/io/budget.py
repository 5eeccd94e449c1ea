"""Every input read within a budget: what a file may cost is bounded by what it can hold.

* Only regular files are read (a link is followed to one): a FIFO, device, socket or a link to
  ``/dev/zero`` would block or never end, so it is refused before anything is opened.
* One file is read, and an ``.npz`` inflated, up to :func:`max_input_bytes` (256 MiB, or
  ``UAO_MAX_INPUT_MB``): its size comes from the file system or the zip directory, never from
  reading it, so a sparse 2 GB file or a zip bomb is refused at once. An ``.npz`` holds at most
  ``NPZ_MEMBERS`` arrays, counted from its end record before its directory is parsed (:func:`check_members`).
* JSON deeper than Python's parser can nest is one error, not a ``RecursionError``.
* Frame numbers: a sequence may have at most ``FRAMES_PER_RECORD`` frames per frame that holds a
  record, plus ``GAP_SLACK_FRAMES`` (:func:`frame_count`): a gap of 10^7 frames between two
  detections is an error naming it, not 10^7 frames allocated and lifted.
* Decoded tracks (people x frames) stay within four such budgets (:func:`check_tracks`).
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from ..errors import UaoError

MIB = 1 << 20
DEFAULT_MAX_INPUT_MIB = 256
GAP_SLACK_FRAMES = 3000  # two minutes at 25 fps with nobody detected is still one video
FRAMES_PER_RECORD = 10
NPZ_MEMBERS = 1024  # a keypoint or result npz holds tens of arrays; each costs a parsed directory entry
TRACK_BUDGET_FACTOR = 4  # decoded tracks may take this many input budgets (1 GiB by default)
UTF8_BOM = b"\xef\xbb\xbf"
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def max_input_bytes() -> int:
    """The most bytes one input may hold, read or inflated (``UAO_MAX_INPUT_MB`` overrides 256 MiB)."""
    value = os.environ.get("UAO_MAX_INPUT_MB", "")
    try:
        mib = float(value) if value else DEFAULT_MAX_INPUT_MIB
    except ValueError:
        raise UaoError(f"UAO_MAX_INPUT_MB must be a number of MiB; got {value!r}") from None
    if not math.isfinite(mib) or mib <= 0:
        raise UaoError(f"UAO_MAX_INPUT_MB must be a positive number of MiB; got {value!r}")
    return int(mib * MIB)


def too_large(path, size: int, what: str = "") -> UaoError:
    limit = max_input_bytes()
    return UaoError(f"{path}{what} holds {size / MIB:,.0f} MiB, more than the {limit / MIB:,.0f} MiB uao reads "
                    "from one input (split it, or raise UAO_MAX_INPUT_MB)")


def regular_file(path, budget: bool = True) -> int:
    """The size of ``path`` once it is known to be a regular file within the budget (a link is
    followed; ``budget`` False: of any size, as a video); anything else is refused before it is opened."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UaoError(f"{path} does not exist" + (" (a broken link)" if os.path.islink(path) else "")) from None
    except OSError as exc:  # a loop of links (ELOOP), a name too long, no permission
        raise UaoError(f"{path} cannot be read: {exc.strerror or exc}") from None
    for test, kind in _KINDS:
        if test(info.st_mode):
            raise UaoError(f"{path} is {kind}, not a file; uao reads regular files only")
    if budget and info.st_size > max_input_bytes():
        raise too_large(path, info.st_size)
    return info.st_size


def check_members(path, members: int) -> None:
    """Refuse an archive (an ``.npz``) that declares more than ``NPZ_MEMBERS`` members."""
    if members > NPZ_MEMBERS:
        raise UaoError(f"{path} holds {members:,} arrays (zip members), more than the {NPZ_MEMBERS:,} uao reads "
                       "from one .npz (a keypoint file holds a few)")


def read_bytes(path, limit: int | None = None) -> bytes:
    """The bytes of a regular file (at most ``limit``: the start of it), within the budget. Files
    whose size the file system does not tell (``/proc``) are cut at the budget and refused."""
    regular_file(path)
    budget = max_input_bytes()
    try:
        with open(path, "rb") as handle:
            data = handle.read(budget + 1 if limit is None else limit)
    except OSError as exc:
        raise UaoError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if limit is None and len(data) > budget:
        raise too_large(path, len(data))
    return data


def read_text(path, errors: str = "strict") -> str:
    """A text file within the budget, UTF-8, its byte order mark (Excel writes one) dropped."""
    try:
        return read_bytes(path).decode("utf-8-sig", errors=errors)
    except UnicodeDecodeError:
        raise UaoError(f"{path} is not a text (UTF-8) file") from None


def first_bytes(path, count: int = 64) -> bytes:
    """The first ``count`` bytes of a regular file, without a byte order mark or leading white space."""
    return read_bytes(path, count + len(UTF8_BOM)).removeprefix(UTF8_BOM).lstrip()[:count]


def load_json(path):
    """A JSON file within the budget; damaged, non-UTF-8 or too deeply nested JSON is one error."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UaoError(f"{path} is not valid JSON (truncated or damaged? {exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise UaoError(f"{path} nests its JSON deeper than any keypoint file does (hundreds of levels)") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise UaoError(f"{path} is not JSON uao reads ({exc})") from None


def load_json_object(path, what: str) -> dict:
    """A JSON file within the budget that must hold an object (``what`` it is, for the error)."""
    value = load_json(path)
    if not isinstance(value, dict):
        raise UaoError(f"{path} holds a JSON {type(value).__name__}, not the object {what} is")
    return value


def frame_count(numbers, source) -> int:
    """The frames of a sequence whose records (files, entries, rows) carry these frame numbers
    (the first is frame 0), refused when its gaps make it longer than its records justify: more
    than ``FRAMES_PER_RECORD`` frames per record plus ``GAP_SLACK_FRAMES``."""
    present = sorted(set(numbers))
    span = present[-1] - present[0] + 1
    if span > FRAMES_PER_RECORD * len(present) + GAP_SLACK_FRAMES:
        jump = max(range(1, len(present)), key=lambda i: present[i] - present[i - 1])
        raise UaoError(f"{source}: its frame numbers jump from {_number(present[jump - 1])} to "
                       f"{_number(present[jump])}, {_number(span)} frames for {len(present):,} that hold detections; "
                       "frames that far apart are not one video (renumber them, or split the input)")
    return span


def _number(value: int) -> str:
    """1,234,567 -- or about 10^300 for a number too long to read."""
    return f"{value:,}" if abs(value) < 10 ** 15 else f"about 10^{int(abs(value).bit_length() * math.log10(2))}"


def whole_number(value, where: str) -> int:
    """A frame number or track id read from a file: a whole number, never NaN, inf or text."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UaoError(f"{where}: {value!r} is not a whole number")
    try:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, float):
            if not number.is_integer():  # also NaN and inf
                raise ValueError
            number = int(number)
    except ValueError:
        raise UaoError(f"{where}: {value!r} is not a whole number") from None
    return number


def check_tracks(source, tracks: int, frames: int) -> None:
    """Refuse more people x frames than ``TRACK_BUDGET_FACTOR`` input budgets hold once decoded: each
    person becomes a whole-video Human3.6M-17 track (x, y, confidence as float32), kept until the
    people are chosen. Many short tracks over a long video (a detection that jumps every frame)
    would otherwise take gigabytes."""
    size = tracks * frames * 17 * 12
    limit = TRACK_BUDGET_FACTOR * max_input_bytes()
    if size > limit:
        raise UaoError(f"{source}: {tracks:,} people (tracks) over {frames:,} frames would take {size / MIB:,.0f} MiB, "
                       f"more than the {limit / MIB:,.0f} MiB uao holds for one input (raise UAO_MAX_INPUT_MB, or "
                       "track the people with the detector)")
