"""labgrader.safety.paths on real files (no kernels): links, FIFOs, sockets, folders, sparse files."""
import os
import socket
import stat
import time

import pytest

from labgrader.batch.preflight import check_submission
from labgrader.safety import paths


@pytest.fixture
def handin(tmp_path):
    folder = tmp_path / "submitted" / "alice" / "embeddings"
    folder.mkdir(parents=True)
    (folder / "embeddings.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    return folder


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret"
    path.write_text("root only")
    path.chmod(0o600)
    return path


def test_a_plain_handin_has_no_problem(handin):
    (handin / ".ipynb_checkpoints").mkdir()
    (handin / ".ipynb_checkpoints" / "embeddings-checkpoint.ipynb").write_text("{}")
    assert paths.handin_problems(handin, notebook="embeddings.ipynb") == []


@pytest.mark.parametrize("make, words", [
    (lambda p, s: (p.unlink(), p.symlink_to(s)), "is a symbolic link (to "),
    (lambda p, s: (p.unlink(), os.mkfifo(p)), "is a named pipe (FIFO)"),
    (lambda p, s: (p.unlink(), p.mkdir()), "is a directory, not a notebook file"),
    (lambda p, s: (p.unlink(), os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 5))), "is a character device"),
])
def test_the_notebook_must_be_a_regular_file(handin, secret, make, words):
    make(handin / "embeddings.ipynb", secret)
    problems = paths.handin_problems(handin, notebook="embeddings.ipynb")
    assert len(problems) == 1 and problems[0].startswith("embeddings.ipynb " + words), problems


def test_extra_files_links_sockets_and_sparse_files_are_reported(handin, secret, tmp_path):
    (handin / "data").mkdir()
    (handin / "data" / "solutions.ipynb").symlink_to(secret)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(handin / "sock"))
    with open(handin / "sparse.bin", "wb") as f:
        f.truncate(2 * 1024 ** 3)
    (handin / "big.bin").write_bytes(b"x" * 2048)
    problems = paths.handin_problems(handin, max_file_bytes=1024, max_total_bytes=10 ** 12)
    assert any(p.startswith("data/solutions.ipynb is a symbolic link") for p in problems), problems
    assert any(p.startswith("sock is a socket") for p in problems), problems
    assert any(p.startswith("sparse.bin is") for p in problems), problems
    assert any(p.startswith("big.bin is 2048 bytes") for p in problems), problems
    assert paths.is_sparse(os.lstat(handin / "sparse.bin"))
    assert not paths.is_sparse(os.lstat(handin / "big.bin"))


def test_a_linked_handin_or_student_folder_is_refused(tmp_path, handin):
    other = tmp_path / "submitted" / "mallory"
    other.mkdir()
    (other / "embeddings").symlink_to(handin)
    assert "is a symbolic link" in paths.handin_problems(other / "embeddings")[0]
    (tmp_path / "submitted" / "eve").symlink_to(handin.parent)
    assert "is a symbolic link" in paths.handin_problems(tmp_path / "submitted" / "eve" / "embeddings")[0]


def test_read_and_copy_refuse_links_fifos_and_big_files(handin, secret, tmp_path):
    os.mkfifo(handin / "fifo.ipynb")
    (handin / "link.ipynb").symlink_to(secret)
    started = time.monotonic()
    for name in ("fifo.ipynb", "link.ipynb"):
        with pytest.raises(paths.UnsafePath):
            paths.read_regular(handin / name)
        with pytest.raises(paths.UnsafePath):
            paths.copy_regular(handin / name, tmp_path / f"copy-{name}")
        assert not (tmp_path / f"copy-{name}").exists()
    assert time.monotonic() - started < 5  # the FIFO was never waited on
    with pytest.raises(paths.UnsafePath):
        paths.read_regular(handin / "embeddings.ipynb", max_bytes=10)
    # the destination is never written through: an existing link there is an error, its target untouched
    (tmp_path / "dest").symlink_to(secret)
    with pytest.raises(FileExistsError):
        paths.copy_regular(handin / "embeddings.ipynb", tmp_path / "dest")
    assert secret.read_text() == "root only" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    paths.copy_regular(handin / "embeddings.ipynb", tmp_path / "copy.ipynb")
    assert (tmp_path / "copy.ipynb").read_bytes() == (handin / "embeddings.ipynb").read_bytes()


def test_reclaim_leaves_only_regular_files_owned_by_the_grader(tmp_path, secret):
    work = tmp_path / "autograded" / "alice" / "embeddings"
    (work / "sub").mkdir(parents=True)
    (work / "embeddings.ipynb").symlink_to(tmp_path / "gradebook.db")
    (work / "key").symlink_to(secret)
    (work / "sub" / "dir-link").symlink_to(tmp_path)
    os.mkfifo(work / "sub" / "fifo")
    with open(work / "sparse.bin", "wb") as f:
        f.truncate(1024 ** 3)
    (work / "kept.txt").write_text("kept")
    os.chmod(work / "kept.txt", 0o4777)
    for path in (work, work / "sub", work / "kept.txt"):
        os.lchown(path, 65534, 65534)
    notes = paths.reclaim(work, remove=["embeddings.ipynb"])
    assert sorted(os.listdir(work)) == ["kept.txt", "sub"] and os.listdir(work / "sub") == []
    assert any("key is a symbolic link" in n for n in notes) and any("sub/fifo is a named pipe" in n for n in notes)
    assert any(n.startswith("removed from the working copy: sparse.bin") for n in notes), notes
    for path in (work, work / "sub", work / "kept.txt"):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (0, 0) and not st.st_mode & 0o7022, path
    assert secret.read_text() == "root only" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert not (tmp_path / "gradebook.db").exists()
    assert paths.reclaim(tmp_path / "missing") == []


def test_preflight_refuses_unsafe_handins_without_touching_them(handin, secret):
    (handin / "embeddings.ipynb").unlink()
    os.mkdir(handin / "embeddings.ipynb")
    result = check_submission(handin, "embeddings.ipynb")
    assert "embeddings.ipynb is a directory, not a notebook file" in result.error
    os.rmdir(handin / "embeddings.ipynb")
    (handin / "Embeddings (1).ipynb").symlink_to(secret)
    result = check_submission(handin, "embeddings.ipynb")
    assert "Embeddings (1).ipynb is a symbolic link" in result.error
    assert sorted(os.listdir(handin)) == ["Embeddings (1).ipynb"]
