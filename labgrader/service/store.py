"""The grading service's own copy of what it received: content-addressed, private to the
instructor, bounded per student.

Why a copy: what is graded must be what was received, and what a student still owns can change
afterwards without moving any time (writes through a shared memory mapping leave ctime alone:
docs/service.md, "What holds for the time of a file-system hand-in"). So the intake
(labgrader/service/intake.py) reads a hand-in once, at receipt, by descriptor and within caps, and
keeps its files here; grading, the instructor's ``nbgrader collect`` and every page read this copy,
never the original again.

Layout: ``<course>/.labgrader/service/store/`` (0700, the instructor's), one file per distinct
content under ``blobs/<first two hex digits>/<sha256>`` (0400): a notebook handed in ten times,
or the same data file in every entry, is kept once. What a submission holds is its ``Manifest``
(relative path -> digest, size), kept in the journal; a blob is deleted once nothing in the
journal refers to it (``Journal.unreferenced``).
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from labgrader.errors import LabgraderError
from labgrader.exchange.entries import name_problem
from labgrader.safety import paths
from labgrader.text import printable

STORE_DIR = os.path.join(".labgrader", "service", "store")
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = paths.MiB
SKIPPED = ("timestamp.txt",)  # top-level names never kept: the student's clock (the trusted time replaces it)


class ContentRefused(LabgraderError):
    """The content cannot be kept (a link, a special file, a name, a cap): ``reasons`` say why."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Limits:
    """What one hand-in may hold (the collector's caps: ``c.TrustedCollect``)."""
    max_file_bytes: int = paths.MAX_FILE_BYTES
    max_total_bytes: int = paths.MAX_TOTAL_BYTES
    max_files: int = 1000
    max_depth: int = paths.MAX_DEPTH


@dataclass(frozen=True)
class FileRef:
    path: str    # relative, "/"-separated
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The files of one hand-in, by content. ``digest`` names the whole (``content_digest``)."""
    files: tuple[FileRef, ...] = ()

    @property
    def digest(self) -> str:
        return manifest_digest((f.path, f.sha256) for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def names(self) -> list[str]:
        return [f.path for f in self.files]


def manifest_digest(items: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> str:
    """SHA-256 over ``path\\0sha256\\n`` lines sorted by path: what two copies of the same files share."""
    digest = hashlib.sha256()
    for path, sha in sorted(items):
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0" + sha.encode() + b"\n")
    return digest.hexdigest()


class Store:
    """The blobs of one course (made on first use)."""

    def __init__(self, course_root: str | os.PathLike[str]):
        self.root = os.path.join(os.fspath(course_root), STORE_DIR)
        self.blobs = os.path.join(self.root, "blobs")
        self.tmp = os.path.join(self.root, "tmp")

    def _ready(self) -> None:
        for folder in (self.root, self.blobs, self.tmp):
            os.makedirs(folder, mode=0o700, exist_ok=True)

    def tmp_dir(self) -> str:
        """Where copies are staged before they are kept (inside the store: one file system)."""
        self._ready()
        return self.tmp

    def path(self, sha256: str) -> str:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 digest: {printable(sha256)[:80]!r}")
        return os.path.join(self.blobs, sha256[:2], sha256)

    def has(self, sha256: str) -> bool:
        return os.path.isfile(self.path(sha256))

    # -- in ------------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> FileRef:
        """Keep ``data`` (a page, a feedback file); its digest names it."""
        self._ready()
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return FileRef("", self._adopt(tmp, hashlib.sha256(data).hexdigest()), len(data))

    def ingest(self, source: str, limits: Limits = Limits()) -> tuple[Manifest, str]:
        """Keep the files of the folder or zip archive ``source`` (never following a link; regular
        files and folders only, names and sizes within ``limits``; a top-level ``timestamp.txt``,
        the student's clock, is left out). Returns the manifest and the digest of ``source`` as
        it was read (``content_digest``). Raises ContentRefused with every reason."""
        self._ready()
        st = os.stat(source, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            found = _Walk(self, limits, SKIPPED)
            fd = os.open(source, _DIR_FLAGS)
            try:
                found.folder(fd, "", 0)
            finally:
                os.close(fd)
            manifest = found.manifest()
            return manifest, manifest.digest
        if stat.S_ISREG(st.st_mode):
            return _unzip(self, source, limits, SKIPPED)
        raise ContentRefused([f"the content is {paths.kind(st.st_mode)}, not a folder or a zip archive"])

    def _copy_in(self, src_fd: int, limit: int) -> FileRef:
        """Copy an open regular file into a blob, hashing on the way (at most ``limit`` bytes)."""
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := os.read(src_fd, min(_CHUNK, limit + 1 - size)):
                    size += len(chunk)
                    if size > limit:
                        raise ContentRefused([f"more than {limit} bytes"])
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            os.unlink(tmp)
            raise
        return FileRef("", self._adopt(tmp, digest.hexdigest()), size)

    def _adopt(self, tmp: str, sha256: str) -> str:
        """Move a written temporary file into its blob (or drop it: that content is kept already)."""
        final = self.path(sha256)
        os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
        os.chmod(tmp, 0o400)
        try:
            os.link(tmp, final)  # never replaces a blob another submission refers to
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return sha256

    # -- out -----------------------------------------------------------------------------------

    def read(self, sha256: str, limit: int = paths.MAX_FILE_BYTES) -> bytes:
        return paths.read_regular(self.path(sha256), limit)

    def materialize(self, manifest: Manifest, dest: str) -> None:
        """Write the manifest's files into the new folder ``dest`` (0755 folders, 0644 files)."""
        os.makedirs(dest, mode=0o755)
        for ref in manifest.files:
            parts = ref.path.split("/")
            folder = os.path.join(dest, *parts[:-1])
            os.makedirs(folder, mode=0o755, exist_ok=True)
            target = os.path.join(folder, parts[-1])
            paths.copy_regular(self.path(ref.sha256), target, max(ref.size, 1))
            os.chmod(target, 0o644)

    def delete(self, digests: list[str]) -> int:
        """Remove blobs (those no submission or page refers to any more); returns the bytes freed."""
        freed = 0
        for sha in digests:
            try:
                path = self.path(sha)
                freed += os.stat(path).st_size
                os.unlink(path)
            except FileNotFoundError:
                continue
        return freed

    def older_than(self, seconds: float) -> list[str]:
        """Blobs written more than ``seconds`` ago (a killed intake may have left some that nothing
        refers to: ``Journal.forget`` deletes those)."""
        limit = time.time() - seconds
        found = []
        for folder in glob.glob(os.path.join(self.blobs, "??")):
            for name in os.listdir(folder):
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(os.path.join(folder, name)).st_mtime < limit:
                        found.append(name)
        return found

    def clear_tmp(self, older_than: float = 3600.0) -> None:
        """Leftovers of copies a killed intake never finished (not those of an intake at work now:
        another process may be receiving meanwhile)."""
        limit = time.time() - older_than
        for name in os.listdir(self.tmp) if os.path.isdir(self.tmp) else []:
            path = os.path.join(self.tmp, name)
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_mtime < limit:
                    shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)


@dataclass
class _Walk:
    """One folder's files copied into the store, with every reason it cannot be kept."""
    store: Store
    limits: Limits
    skip_top: tuple[str, ...]
    files: list[FileRef] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    total: int = 0

    def folder(self, dfd: int, rel: str, depth: int) -> None:
        for item in sorted(os.scandir(dfd), key=lambda e: e.name):
            if len(self.reasons) > 20 or len(self.files) > self.limits.max_files:
                return
            path = f"{rel}/{item.name}" if rel else item.name
            if depth == 0 and item.name in self.skip_top:
                continue
            problem = name_problem(item.name)
            if problem:
                self.reasons.append(f"{printable(path)}: {problem}")
                continue
            st = item.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if depth + 1 > self.limits.max_depth:
                    self.reasons.append(f"{printable(path)} is nested more than {self.limits.max_depth} folders deep")
                    continue
                sub = os.open(item.name, _DIR_FLAGS, dir_fd=dfd)
                try:
                    self.folder(sub, path, depth + 1)
                finally:
                    os.close(sub)
            elif not stat.S_ISREG(st.st_mode):
                self.reasons.append(f"{printable(path)} is {paths.kind(st.st_mode)}: only regular files are kept")
            else:
                self.file(dfd, item.name, path)

    def file(self, dfd: int, name: str, path: str) -> None:
        try:
            fd, _ = paths.open_regular(name, self.limits.max_file_bytes, dir_fd=dfd)
        except (paths.UnsafePath, OSError) as exc:
            self.reasons.append(f"{printable(path)}: {printable(exc)}")
            return
        try:
            ref = self.store._copy_in(fd, min(self.limits.max_file_bytes, self.limits.max_total_bytes - self.total))
        except ContentRefused:
            self.reasons.append(f"{printable(path)}: the hand-in holds more than {self.limits.max_total_bytes} bytes "
                                f"or the file more than {self.limits.max_file_bytes}")
            return
        finally:
            os.close(fd)
        self.add(path, ref)

    def add(self, path: str, ref: FileRef) -> None:
        self.total += ref.size
        self.files.append(FileRef(path, ref.sha256, ref.size))
        if len(self.files) == self.limits.max_files + 1:
            self.reasons.append(f"the hand-in holds more than {self.limits.max_files} files")

    def manifest(self) -> Manifest:
        if self.reasons:
            raise ContentRefused(self.reasons[:20] + ([f"and {len(self.reasons) - 20} more"] if len(self.reasons) > 20 else []))
        return Manifest(tuple(sorted(self.files, key=lambda f: f.path)))


def _unzip(store: Store, source: str, limits: Limits, skip_top: tuple[str, ...]) -> tuple[Manifest, str]:
    """A zip archive's members as a hand-in (links, special files, absolute or ``..`` names
    refused; sizes counted as read, never as the archive declares them), and the archive's digest."""
    walk = _Walk(store, limits, skip_top)
    try:
        fd, _ = paths.open_regular(source, limits.max_total_bytes)
    except paths.UnsafePath as exc:
        raise ContentRefused([printable(exc)]) from None
    with os.fdopen(fd, "rb") as fh:
        whole = hashlib.file_digest(fh, "sha256").hexdigest()
        fh.seek(0)
        try:
            archive = zipfile.ZipFile(fh)
        except zipfile.BadZipFile as exc:
            raise ContentRefused([f"not a folder or a readable zip archive ({printable(exc)})"]) from None
        with archive:
            _members(store, archive, walk, limits, skip_top)
    return walk.manifest(), whole


def _members(store: Store, archive: zipfile.ZipFile, walk: _Walk, limits: Limits, skip_top: tuple[str, ...]) -> None:
    members = archive.infolist()
    if len(members) > limits.max_files * 2:
        raise ContentRefused([f"the archive holds {len(members)} members (more than {limits.max_files} files)"])
    for member in members:
        name = member.filename.rstrip("/")
        problem = _member_problem(member, name, limits)
        if problem:
            walk.reasons.append(f"{printable(name)}: {problem}")
        elif not (member.is_dir() or name in skip_top):
            ref = _member(store, archive, member, min(limits.max_file_bytes, limits.max_total_bytes - walk.total),
                          walk.reasons)
            if ref.sha256:
                walk.add(name, ref)
        if len(walk.reasons) > 20:
            return


def _member_problem(member: zipfile.ZipInfo, name: str, limits: Limits) -> str:
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        return "an absolute path or a path with '..' (zip-slip)"
    named = next(filter(None, map(name_problem, parts)), "")
    if named:
        return named
    kind = (member.external_attr >> 16) & 0o170000
    if kind and not member.is_dir() and kind != stat.S_IFREG:
        return f"{paths.kind(kind)} in the archive: only regular files are kept"
    if member.flag_bits & 0x1:
        return "encrypted"
    if len(parts) > limits.max_depth + 1:
        return f"nested more than {limits.max_depth} folders deep"
    return ""


def _member(store: Store, archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, reasons: list[str]) -> FileRef:
    fd, tmp = tempfile.mkstemp(dir=store.tmp)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out, archive.open(member) as src:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ContentRefused([f"{printable(member.filename)}: more than {limit} bytes once extracted"])
                digest.update(chunk)
                out.write(chunk)
    except (ContentRefused, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as exc:
        os.unlink(tmp)
        reasons.append(exc.reasons[0] if isinstance(exc, ContentRefused) else
                       f"{printable(member.filename)}: cannot be read ({printable(exc)})")
        return FileRef("", "", 0)
    return FileRef("", store._adopt(tmp, digest.hexdigest()), size)


def content_digest(source: str) -> str:
    """The digest a caller of ``intake.accept`` gives for its content: SHA-256 of the bytes of an
    archive file, or ``manifest_digest`` of a folder's regular files (relative "/" paths; a
    top-level ``timestamp.txt`` left out; the folder holds nothing but regular files and folders)."""
    st = os.stat(source, follow_symlinks=False)
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        with open(source, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()
    items = []
    for folder, dirs, files in os.walk(source):
        dirs.sort()
        for name in sorted(files):
            if folder == source and name in SKIPPED:
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, source).replace(os.sep, "/")
            with open(path, "rb") as fh:
                items.append((rel, hashlib.file_digest(fh, "sha256").hexdigest()))
    return manifest_digest(items)


def manifest_from_rows(rows: list[tuple[str, str, int]]) -> Manifest:
    return Manifest(tuple(sorted((FileRef(p, s, n) for p, s, n in rows), key=lambda f: f.path)))


__all__ = ["ContentRefused", "FileRef", "Limits", "Manifest", "STORE_DIR", "Store", "content_digest", "manifest_digest",
           "manifest_from_rows"]
