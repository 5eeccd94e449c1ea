"""Property-based tests of every keypoint reader (issue 27): whatever a file's fields hold -- frame
numbers, ids, coordinates, confidences, counts, headers -- reading it gives finite, sensible
sequences or one UaoError line, never another exception."""
import io
import json
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile_files
from uao_deploy.data.keypoints import read_keypoints
from uao_deploy.errors import UaoError
from uao_deploy.io import budget

WIDTH = HEIGHT = hostile_files.WIDTH  # the image of hostile_files.person
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any JSON value a field may hold; numbers skewed to the ones that break readers.
hostile_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 1e308, -1e308, 10 ** 12, 10 ** 40]),
    st.integers(-10 ** 6, 10 ** 6))
hostile_values = st.one_of(hostile_numbers, st.none(), st.booleans(), st.text(max_size=4),
                           st.lists(st.integers(-2, 2), max_size=2))


def rarely(common, rare, one_in: int = 8):
    """``common``, and one time in ``one_in`` ``rare``."""
    return st.integers(1, one_in).flatmap(lambda draw: rare if draw == 1 else common)


# Frame numbers: mostly a short clip's, sometimes absurdly far apart.
frame_numbers = rarely(st.integers(0, 40), st.integers(0, 10 ** 13))


@st.composite
def damaged(draw, values, damage=st.one_of(hostile_numbers, st.none())):
    """``values`` (a list) with up to three of them replaced by ``damage``."""
    values = list(values)
    for _ in range(draw(rarely(st.just(0), st.integers(1, 3), one_in=2))):
        values[draw(st.integers(0, len(values) - 1))] = draw(damage)
    return values


def field(valid, hostile=hostile_values):
    """Mostly a valid value, sometimes any other."""
    return rarely(valid, hostile)


def person_values(layout: str, frame: int, number: int) -> list:
    return hostile_files.person(layout, frame, shift=250.0 * number).ravel().tolist()


def check_read(path, **options):
    """Read ``path``: finite, sensible sequences or one UaoError line; nothing else, no warning.
    Returns "read" or the error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            sequences = read_keypoints(path, width=WIDTH, height=HEIGHT, **options)
        except UaoError as exc:
            assert str(exc) and "\n" not in str(exc)
            return str(exc)
    assert sequences
    for sequence in sequences:
        seen = sequence.confidence > 0
        assert 1 <= len(sequence) <= budget.FRAMES_PER_RECORD * 64 + budget.GAP_SLACK_FRAMES
        assert sequence.pixels.shape == (len(sequence), 17, 2) and sequence.confidence.shape == (len(sequence), 17)
        assert np.isfinite(sequence.confidence).all() and (sequence.confidence >= 0).all()
        assert np.isfinite(sequence.pixels[seen]).all() and np.isnan(sequence.pixels[~seen]).all()
        if sequence.format != "keypoints":  # detector files: a point beyond 1e6 px is a missing joint
            assert (np.abs(sequence.pixels[seen]) <= 1e6).all()
    return "read"


def check_written(files: dict[str, str | bytes], read: str = "") -> str:
    """Write ``files`` (name -> text or bytes) into a fresh folder, then :func:`check_read` the folder
    (or its file ``read``)."""
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            path = Path(folder, name)
            path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        return check_read(Path(folder, read))


def frames_of_people(draw, person) -> list:
    """[(frame number, [person(frame, number) for 0-2 people])] for 1-4 distinct frame numbers."""
    return [(frame, [person(frame, number) for number in range(draw(st.integers(0, 2)))])
            for frame in draw(st.lists(frame_numbers, min_size=1, max_size=4, unique=True))]


@st.composite
def openpose_frames(draw):
    return frames_of_people(draw, lambda frame, number: {
        "person_id": draw(field(st.just([-1]))),
        "pose_keypoints_2d": draw(field(damaged(person_values("coco18", frame, number))))})


@PROPERTY
@given(frames=openpose_frames())
def test_openpose_fields(frames):
    check_written({f"v_{number:012d}_keypoints.json": json.dumps({"people": people}) for number, people in frames})


@st.composite
def alphapose_entries(draw):
    return [{"image_id": draw(field(st.just(f"{frame}.jpg"))), "idx": draw(field(st.just([0.0]))),
             "keypoints": draw(field(damaged(person_values("halpe26", frame, number))))}
            for frame in draw(st.lists(frame_numbers, min_size=1, max_size=4, unique=True))
            for number in range(draw(st.integers(1, 2)))]


@PROPERTY
@given(entries=alphapose_entries())
def test_alphapose_fields(entries):
    check_written({"alphapose-results.json": json.dumps(entries)}, "alphapose-results.json")


@st.composite
def mmpose_frames(draw):
    def instance(frame, number):
        values = np.reshape(person_values("coco", frame, number), (17, 3))
        fields = {"keypoints": draw(field(damaged(values[:, :2].tolist(), st.lists(hostile_numbers, max_size=3)))),
                  "keypoint_scores": draw(field(damaged(values[:, 2].tolist())))}
        if draw(st.booleans()):
            fields["track_id"] = draw(field(st.just(number)))
        return fields

    return [{"frame_id": draw(field(st.just(frame))), "instances": draw(field(st.just(instances)))}
            for frame, instances in frames_of_people(draw, instance)]


@PROPERTY
@given(frames=mmpose_frames())
def test_mmpose_fields(frames):
    check_written({"predictions.json": json.dumps(frames)}, "predictions.json")


yolo_tokens = st.sampled_from(["nan", "inf", "-inf", "1e308", "7", "x", "0", "-0.5"])


@st.composite
def yolo_files(draw):
    def line(frame, number):
        keypoints = (np.reshape(person_values("coco", frame, number), (17, 3)) / [WIDTH, HEIGHT, 1]).ravel()
        values = [f"{v:.6f}" for v in [0, 0.5, 0.4, 0.2, 0.6, *keypoints]]
        values += draw(st.sampled_from([[], ["0.87"], ["0.87", str(number + 1)], [str(number + 1)]]))
        values = draw(damaged(values, yolo_tokens))
        if draw(st.integers(0, 4)) == 0:  # a stray or a lost value
            values = values[:-1] if draw(st.booleans()) else values + [draw(yolo_tokens)]
        return " ".join(values)

    return frames_of_people(draw, line)


@PROPERTY
@given(files=yolo_files())
def test_yolo_fields(files):
    check_written({f"clip_{number}.txt": "".join(line + "\n" for line in lines) for number, lines in files})


csv_damage = st.one_of(st.sampled_from(["", "nan", "inf", "1e308", "-1", "NOSE", "99", "1e12", "0.5"]),
                       st.text(alphabet="0123456789.e-,\"x", max_size=6))


@st.composite
def mediapipe_text(draw):
    path = Path(tempfile.mkdtemp()) / "x.csv"
    try:
        hostile_files.mediapipe_file(path, draw(st.lists(frame_numbers, min_size=1, max_size=3, unique=True)))
        lines = path.read_text().splitlines()
    finally:
        path.unlink()
        path.parent.rmdir()
    for _ in range(draw(st.integers(0, 4))):
        row = draw(st.integers(1, len(lines) - 1))
        cells = lines[row].split(",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(csv_damage)
        lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


@PROPERTY
@given(text=mediapipe_text(), bom=st.booleans())
def test_mediapipe_fields(text, bom):
    check_written({"landmarks.csv": (b"\xef\xbb\xbf" if bom else b"") + text.encode()}, "landmarks.csv")


def _npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.stack([hostile_files.person("coco", f) for f in range(3)]).astype(np.float32))
    return buffer.getvalue()


GOOD_NPY = _npy_bytes()


@PROPERTY
@given(changes=st.lists(st.tuples(st.integers(0, 127), st.sampled_from(list(b"(),:'0123456789{}[]<>fiuObVUS-e. \n")
                                                                       + [0, 0x93, 0xff])), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, len(GOOD_NPY))))
def test_npz_headers(changes, cut):
    """A plain npz whose one array's header (its first 128 bytes) or length is damaged."""
    data = bytearray(GOOD_NPY)
    for index, value in changes:
        data[index] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "keypoints.npz")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("keypoints.npy", bytes(data[:cut]))
        check_read(path, layout="coco")


@pytest.mark.parametrize("reader", ["openpose", "alphapose", "mmpose", "yolo", "mediapipe"])
def test_the_writers_of_these_properties_read_back(tmp_path, reader):
    """The strategies' well-formed end: each detector's own file reads to one upright person."""
    path = {"openpose": lambda: hostile_files.openpose_folder(tmp_path / "clip"),
            "alphapose": lambda: hostile_files.alphapose_file(tmp_path / "ap.json"),
            "mmpose": lambda: hostile_files.mmpose_file(tmp_path / "mm.json"),
            "yolo": lambda: hostile_files.yolo_folder(tmp_path / "labels"),
            "mediapipe": lambda: hostile_files.mediapipe_file(tmp_path / "mp.csv")}[reader]()
    sequence, = read_keypoints(path, width=1000, height=1000)
    assert sequence.format == reader and len(sequence) == hostile_files.FRAMES
    assert (sequence.confidence > 0).all()
    head, pelvis, ankle = (sequence.pixels[:, j, 1] for j in (10, 0, 3))
    assert (head < pelvis).all() and (pelvis < ankle).all()
