"""The exchange service's archives (labgrader/hubexchange/archives.py): what a student's process may
send instead of what ``pack`` makes, each refused before anything is stored or extracted."""
import io
import os
import stat
import struct
import zipfile

import pytest

from labgrader.hubexchange import archives

SMALL = archives.Limits(max_members=20, max_file_bytes=64 * 1024, max_total_bytes=256 * 1024)


def zipped(*members, mode=None):
    """A zip of (name, bytes) members; ``mode``: the unix file type and mode bits of each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (mode if mode is not None else stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def refused(data, limits=SMALL):
    with pytest.raises(archives.BadArchive) as caught:
        archives.inspect(io.BytesIO(data), limits)
    return str(caught.value)


@pytest.mark.parametrize("name", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "C:/x.txt", "a\\b.txt",
                                  "a//b.txt", "./a.txt", "star*.ipynb", "q?.ipynb", "[ab].ipynb", "ctl\x1b[2J.txt",
                                  "nl\n.txt"])
def test_path_tricks_are_refused(name):
    assert refused(zipped((name, b"x"), ("embeddings.ipynb", b"{}")))


def test_names_no_file_system_takes_are_refused():
    assert "longer than 255 bytes" in refused(zipped(("x" * 256 + ".ipynb", b"{}")))
    assert "nested more than" in refused(zipped(("/".join("d" * 17) + "/a.ipynb", b"{}")))


def test_links_and_devices_are_refused():
    assert "symbolic link" in refused(zipped(("embeddings.ipynb", b"/home/instructor/course/gradebook.db"),
                                             mode=stat.S_IFLNK | 0o777))
    assert "device" in refused(zipped(("dev", b""), mode=stat.S_IFCHR | 0o644))


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns as it writes the hostile archive
def test_duplicates_and_file_folder_clashes_are_refused():
    assert "twice" in refused(zipped(("a.ipynb", b"1"), ("a.ipynb", b"2")))
    assert "both a file and a folder" in refused(zipped(("a", b"1"), ("a/b.ipynb", b"2")))


def test_bombs_are_refused_while_streaming():
    bomb = zipped(("embeddings.ipynb", b"\0" * (8 * 1024 * 1024)))
    assert len(bomb) < 64 * 1024  # small on the wire
    assert "more than" in refused(bomb)
    many = zipped(*[(f"f{i}.txt", b"x") for i in range(21)])
    assert "at most 20" in refused(many)
    spread = zipped(*[(f"f{i}.txt", b"\0" * 60 * 1024) for i in range(5)])  # each under the file cap, too much in all
    assert "more than" in refused(spread)


def test_headers_that_lie_about_sizes_are_refused():
    data = bytearray(zipped(("embeddings.ipynb", b"\0" * 200_000)))
    # make the central directory (and the local header) claim 10 bytes
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        struct.pack_into("<I", data, at + offset, 10)
    assert refused(bytes(data), archives.Limits())


def test_not_a_zip_and_empty_are_refused():
    assert "not a readable zip" in refused(b"{\"cells\": []}")
    assert "no file" in refused(zipped())


def test_encrypted_and_exotic_compression_are_refused():
    data = bytearray(zipped(("embeddings.ipynb", b"{}")))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        flags = struct.unpack_from("<H", data, at + offset)[0]
        struct.pack_into("<H", data, at + offset, flags | 0x1)
    assert "encrypted" in refused(bytes(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("embeddings.ipynb", b"{}")
    assert "compression method" in refused(buffer.getvalue())


def test_pack_then_extract_keeps_regular_files_only(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "embeddings.ipynb").write_text("{}")
    (src / "sub" / "data.csv").write_text("1,2")
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    os.symlink("/etc/passwd", src / "link.txt")
    os.mkfifo(src / "pipe")
    from nbgrader.utils import ignore_patterns
    out = io.BytesIO()
    names = archives.pack(str(src), out, ignore_patterns(exclude=[".ipynb_checkpoints"], include=["*"], max_file_size=100000))
    assert names == ["embeddings.ipynb", "sub/data.csv"]
    archive = tmp_path / "a.zip"
    archive.write_bytes(out.getvalue())
    assert [m.name for m in archives.inspect(str(archive))] == names
    dest = tmp_path / "dest"
    assert archives.extract(str(archive), str(dest)) == names
    assert (dest / "sub" / "data.csv").read_text() == "1,2"
    assert oct((dest / "embeddings.ipynb").stat().st_mode & 0o777) == "0o644"


def test_extract_never_writes_through_a_link_or_over_a_file(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zipped(("sub/embeddings.ipynb", b"new"), ("b.txt", b"new")))
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, dest / "sub")
    with pytest.raises(archives.BadArchive, match="symbolic link"):
        archives.extract(str(archive), str(dest))
    assert list(outside.iterdir()) == []
    (dest / "sub").unlink()
    (dest / "b.txt").write_text("mine")
    assert archives.extract(str(archive), str(dest), skip_existing=True) == ["sub/embeddings.ipynb"]
    assert (dest / "b.txt").read_text() == "mine"
    (dest / "sub" / "embeddings.ipynb").unlink()
    with pytest.raises(FileExistsError):
        archives.extract(str(archive), str(dest))
