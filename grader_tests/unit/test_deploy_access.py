"""Who can reach a file (labgrader/deploy/access.py): the evaluation from modes, ACLs and groups
agrees with the kernel's own answer, asked as each account in a child process, on a tree of
random modes and ACLs; and the walk finds what an account reaches, only that."""
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from labgrader.deploy import access
from labgrader.deploy.access import ANYONE, Account, Evaluator

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="files of several owners, tried as each: needs root")

# Bare uids and gids no account uses (no pwd entry is needed to become one in a child).
OWNER, FRIEND, STRANGER, MEMBER = 1_930_001, 1_930_002, 1_930_003, 1_930_004
TEAM, CLASS = 1_930_101, 1_930_102
ACCOUNTS = [Account("owner", OWNER, frozenset({OWNER})), Account("friend", FRIEND, frozenset({FRIEND})),
            Account("stranger", STRANGER, frozenset({STRANGER})),
            Account("member", MEMBER, frozenset({MEMBER, TEAM, CLASS}))]


@pytest.fixture
def base():
    folder = Path(tempfile.mkdtemp(prefix="labgrader-access-"))
    os.chmod(folder, 0o755)  # /tmp: every account can reach it
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def random_acl(rng, path):
    """Named entries for FRIEND, TEAM or CLASS (and a mask, sometimes none at all: Linux then ignores
    the named entries), or none."""
    entries = []
    if rng.random() < 0.5:
        entries.append(f"u:{FRIEND}:{rng.choice(['r', 'rw', 'rx', 'rwx', '-', 'x'])}")
    if rng.random() < 0.4:
        entries.append(f"g:{rng.choice([TEAM, CLASS])}:{rng.choice(['r', 'rx', '-', 'w'])}")
    if entries and rng.random() < 0.5:
        entries.append(f"m::{rng.choice(['r', 'rx', 'rwx', '-', '-'])}")
    if entries:
        subprocess.run(["setfacl", "-m", ",".join(entries), str(path)], check=True)


def random_tree(rng, root, depth=3):
    paths = []
    for i in range(rng.randint(2, 4)):
        path = root / f"d{i}" if depth and rng.random() < 0.6 else root / f"f{i}"
        if path.name.startswith("d"):
            path.mkdir()
            paths += random_tree(rng, path, depth - 1)
        else:
            path.write_text("x")
        os.chown(path, OWNER, rng.choice([OWNER, TEAM, CLASS]))
        os.chmod(path, rng.choice([0o700, 0o711, 0o750, 0o755, 0o751, 0o705, 0o600, 0o640, 0o644, 0o604, 0o660, 0o666,
                                   0o777, 0o070, 0o007, 0o000]))
        random_acl(rng, path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("seed", range(12))
def test_the_evaluation_agrees_with_the_kernel(base, seed):
    rng = random.Random(seed)
    top = base / "top"
    top.mkdir()
    os.chown(top, OWNER, rng.choice([OWNER, TEAM]))
    os.chmod(top, rng.choice([0o755, 0o711, 0o750, 0o700]))
    random_acl(rng, top)
    paths = [str(top)] + random_tree(rng, top)
    evaluator = Evaluator()
    for who in ACCOUNTS:
        kernel = access.tried(who, paths)
        evaluated = {p: (evaluator.may(who, p, access.READ), evaluator.may(who, p, access.WRITE),
                         evaluator.may(who, p, access.SEARCH)) for p in paths}
        assert evaluated == kernel, (who, [(p, oct(os.stat(p).st_mode), evaluated[p], kernel[p])
                                           for p in paths if evaluated[p] != kernel[p]])


def test_anyone_is_the_other_bits(base):
    private, shared = base / "private", base / "shared"
    private.mkdir(mode=0o700)
    shared.mkdir()
    os.chmod(shared, 0o755)
    (shared / "open").write_text("x")
    os.chmod(shared / "open", 0o644)
    (private / "inside").write_text("x")
    os.chmod(private / "inside", 0o644)
    subprocess.run(["setfacl", "-m", f"u:{FRIEND}:rx", str(private)], check=True)
    evaluator = Evaluator()
    assert evaluator.may(ANYONE, str(shared / "open"), access.READ)
    assert not evaluator.may(ANYONE, str(private / "inside"), access.READ)  # the folder above stops it
    friend = ACCOUNTS[1]
    assert evaluator.may(friend, str(private / "inside"), access.READ)  # the named entry lets this one through
    assert access.tried(friend, [str(private / "inside")]) == {str(private / "inside"): (True, False, False)}


def test_the_walk_finds_what_an_account_reaches_and_stops_where_it_cannot_search(base):
    course = base / "course"
    course.mkdir()
    os.chmod(course, 0o711)  # searchable, not listable
    for name, mode in (("gradebook.db", 0o644), ("secret", 0o600)):
        (course / name).write_text("x")
        os.chmod(course / name, mode)
    (course / "submitted" / "alice").mkdir(parents=True)
    os.chmod(course / "submitted", 0o755)
    (course / "submitted" / "alice" / "nb.ipynb").write_text("{}")
    (course / "locked").mkdir(mode=0o700)
    (course / "locked" / "open.txt").write_text("x")
    os.chmod(course / "locked" / "open.txt", 0o666)
    found = {r.path: (r.read, r.write) for r in access.walk(str(course), ANYONE, Evaluator())}
    assert found == {str(course / "gradebook.db"): (True, False), str(course / "submitted"): (True, False),
                     str(course / "submitted" / "alice"): (True, False),
                     str(course / "submitted" / "alice" / "nb.ipynb"): (True, False)}
    os.chmod(course, 0o700)
    assert list(access.walk(str(course), ANYONE, Evaluator())) == []


def test_the_acl_of_a_file_is_read_from_its_xattr(base):
    path = base / "f"
    path.write_text("x")
    os.chmod(path, 0o640)
    subprocess.run(["setfacl", "-m", f"u:{FRIEND}:rw,g:{TEAM}:r,m::r", str(path)], check=True)
    acl = access.acl_of(str(path))
    assert (acl.user_obj, acl.group_obj, acl.other, acl.mask) == (6, 4, 0, 4)
    assert acl.users == ((FRIEND, 6),) and acl.groups == ((TEAM, 4),)
    assert acl.allows(ACCOUNTS[1], access.READ) and not acl.allows(ACCOUNTS[1], access.WRITE)  # the mask
    assert access.has_named_entries(str(path))
