"""The detector files in tests/data are unedited copies of the project's shared real outputs."""
import hashlib

from conftest import FORMATS


def _digests(folder):
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_detector_fixtures_are_the_shared_files_byte_for_byte(shared_dir):
    copied = {name: digest for name, digest in _digests(FORMATS).items()
              if not name.startswith("LICENSES/") and name != "README.md"}
    shared = _digests(shared_dir / "data" / "formats")
    assert copied and all(shared.get(name) == digest for name, digest in copied.items())


def test_every_fixture_folder_has_its_licence_named():
    readme = (FORMATS / "README.md").read_text()
    folders = [path.name for path in FORMATS.iterdir() if path.is_dir() and path.name != "LICENSES"]
    assert len(folders) == 5
    for folder in folders:
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{folder}/`"))
        licence = row.rsplit("`LICENSES/", 1)[1].split("`")[0]
        assert (FORMATS / "LICENSES" / licence).read_text().strip()
