"""Zip archives on the wire: packed by the nbgrader client, checked by the service as they arrive,
and checked again wherever files are made from them (the instructor's ``collect``, the student's
``fetch_assignment``).

Threat model: an uploaded archive is whatever a student's process sent (not necessarily made by
``pack``): names with ``..``, absolute, Windows, glob or control characters, links, devices,
duplicate names, a file and a folder of the same name, encrypted or exotic compression, sizes in
the headers that lie (zip bombs). ``inspect`` refuses all of these and streams every member
through the decompressor under caps, so an archive it accepts extracts to at most
``Limits.max_total_bytes`` of regular files at safe relative paths. The member rules are those of
``nbgrader zip_collect``'s ``SafeExtractor`` (``labgrader.exchange.zipcollect.member_problem``).
"""
from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from labgrader.errors import LabgraderError
from labgrader.exchange.zipcollect import member_problem
from labgrader.safety import paths

MiB = paths.MiB
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
MAX_NAME_BYTES = 255


class BadArchive(LabgraderError, ValueError):
    """An archive that is refused; the message says why (for the student or the instructor)."""


@dataclass(frozen=True)
class Limits:
    max_members: int = 1000
    max_file_bytes: int = paths.MAX_FILE_BYTES
    max_total_bytes: int = paths.MAX_TOTAL_BYTES


@dataclass(frozen=True)
class Member:
    name: str   # a relative path with "/" separators, checked
    size: int   # its real (decompressed) size


def inspect(source: str | IO[bytes], limits: Limits = Limits()) -> list[Member]:
    """The regular files of the zip ``source`` (a path or a binary file), or BadArchive.

    Every member is decompressed and counted (CRC checked by zipfile): the sizes in the headers
    are the sender's word, never trusted."""
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            _check_names(infos, limits)
            budget = limits.max_total_bytes
            members = []
            for info in infos:
                if info.is_dir():
                    continue
                size = _drain(archive, info, min(limits.max_file_bytes, budget))
                budget -= size
                members.append(Member(info.filename, size))
            return members
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError, NotImplementedError,
            ValueError) as exc:
        if isinstance(exc, BadArchive):
            raise
        raise BadArchive(f"not a readable zip archive ({exc})") from None


def _check_names(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_members:
        raise BadArchive(f"holds {len(infos)} members (at most {limits.max_members})")
    files: set[str] = set()
    folders: set[str] = set()
    for info in infos:
        problem = member_problem(info) or _length_problem(info.filename)
        if problem:
            raise BadArchive(f"{info.filename[:200]!r}: {problem}")
        if info.compress_type not in _METHODS:
            raise BadArchive(f"{info.filename!r}: compression method {info.compress_type} (only stored or deflated)")
        name = info.filename.rstrip("/")
        if info.is_dir():
            folders.add(name)
            continue
        if name in files:
            raise BadArchive(f"{name!r} appears twice")
        files.add(name)
        parts = name.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(files & folders)
    if clash:
        raise BadArchive(f"{clash[0]!r} is both a file and a folder")
    if not files:
        raise BadArchive("holds no file")


def _length_problem(name: str) -> str:
    """Names every file system takes: a part of at most 255 bytes, at most 16 parts (no file name
    too long for the instructor's collect to write)."""
    parts = name.rstrip("/").split("/")
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts):
        return f"a name longer than {MAX_NAME_BYTES} bytes"
    if len(parts) > paths.MAX_DEPTH:
        return f"nested more than {paths.MAX_DEPTH} folders deep"
    return ""


def _drain(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> int:
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(MiB):
            size += len(chunk)
            if size > cap:
                raise BadArchive(f"{info.filename!r} extracts to more than {cap} bytes (a zip bomb?)")
    return size


def extract(source: str, dest: str, limits: Limits = Limits(), skip_existing: bool = False) -> list[str]:
    """Extract the checked archive ``source`` into the folder ``dest`` (made if missing): regular
    files only, each created new (``O_EXCL | O_NOFOLLOW``, mode 0644), never written through a
    link. ``skip_existing``: leave files already in ``dest`` as they are (nbgrader's
    ``replace_missing_files``); otherwise an existing file is an error. Returns the names written."""
    members = inspect(source, limits)
    os.makedirs(dest, exist_ok=True)
    written = []
    with zipfile.ZipFile(source) as archive:
        for member in members:
            target = os.path.join(dest, *member.name.split("/"))
            _make_parents(dest, member.name)
            if skip_existing and os.path.lexists(target):
                continue
            fd = os.open(target, _WRITE_FLAGS, 0o644)
            with os.fdopen(fd, "wb") as out, archive.open(member.name) as src:
                copied = 0
                while chunk := src.read(MiB):
                    copied += len(chunk)
                    if copied > member.size:  # changed since inspect: never more than was checked
                        raise BadArchive(f"{member.name!r} grew while it was extracted")
                    out.write(chunk)
            written.append(member.name)
    return written


def _make_parents(dest: str, name: str) -> None:
    """The folders above ``name`` inside ``dest``, each a real folder (never a link)."""
    current = dest
    for part in name.split("/")[:-1]:
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise BadArchive(f"{name!r}: {part} is {paths.kind(st.st_mode)} where a folder is needed")


def pack(folder: str, out: IO[bytes], ignore: Callable[[str, list[str]], Iterable[str]] | None = None,
         limits: Limits = Limits()) -> list[str]:
    """Zip the regular files below ``folder`` into ``out`` (links and special files are left out,
    and so are the names ``ignore(dirpath, names)`` returns: nbgrader's ``ignore_patterns``).
    Returns the member names; BadArchive when the folder is over ``limits``."""
    names: list[str] = []
    total = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for dirpath, dirnames, filenames in os.walk(folder):
            skipped = set(ignore(dirpath, dirnames + filenames)) if ignore else set()
            dirnames[:] = sorted(d for d in dirnames if d not in skipped and not os.path.islink(os.path.join(dirpath, d)))
            for name in sorted(f for f in filenames if f not in skipped):
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    continue
                rel = os.path.relpath(path, folder).replace(os.sep, "/")
                total += st.st_size
                if st.st_size > limits.max_file_bytes or total > limits.max_total_bytes:
                    raise BadArchive(f"{rel} makes the folder larger than the exchange takes "
                                     f"({limits.max_file_bytes} bytes a file, {limits.max_total_bytes} in all)")
                if len(names) >= limits.max_members:
                    raise BadArchive(f"more than {limits.max_members} files")
                info = zipfile.ZipInfo.from_file(path, rel)
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                fd, _ = paths.open_regular(path, limits.max_file_bytes)
                with os.fdopen(fd, "rb") as src, archive.open(info, "w") as dst:
                    while chunk := src.read(MiB):
                        dst.write(chunk)
                names.append(rel)
    return names
