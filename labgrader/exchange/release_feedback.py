"""``nbgrader release_feedback`` whose files only their student can read:
``c.ExchangeFactory.release_feedback = "labgrader.exchange.release_feedback.PrivateReleaseFeedback"``.

Stock nbgrader copies ``feedback/<student>/<assignment>/<notebook>.html`` to the exchange's
``feedback/<md5(secret + notebook)>.html`` with the instructor's mode (0644): the folder is not
listable, but anyone who learns the secret (it sits in the submission entry) reads the page
(nbgrader #1202). Here each page is written 0600 by descriptor, with a POSIX ACL entry that lets
its student (the unix user of the student id) read it and nobody else; a student id with no unix
user, a missing or malformed secret, or a feedback file that is not a regular file is skipped
with the reason. The instructor needs no privilege: a file's owner may set its ACL.
"""
import fnmatch
import os
import pwd
import re
import struct

from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.utils import notebook_hash

from ..safety import paths
from ..student_ids import printable

MAX_FEEDBACK_BYTES = 64 * paths.MiB
_ACL_XATTR = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF


def reader_of(path: str) -> int | None:
    """The one named user the ACL of ``path`` lets read it (None: no such file, or no named user)."""
    try:
        data = os.getxattr(path, _ACL_XATTR, follow_symlinks=False)
    except OSError:
        return None
    for offset in range(4, len(data) - 7, 8):
        tag, _perm, ident = struct.unpack_from("<HHI", data, offset)
        if tag == _USER:
            return ident
    return None


def readable_only_by(fd: int, uid: int) -> None:
    """Owner read-write, user ``uid`` read, nobody else anything (mode 0640 with the group bits
    standing for the ACL mask), set on an open file."""
    os.fchmod(fd, 0o600)
    entries = [(_USER_OBJ, 6, _UNDEFINED), (_USER, 4, uid), (_GROUP_OBJ, 0, _UNDEFINED),
               (_MASK, 4, _UNDEFINED), (_OTHER, 0, _UNDEFINED)]
    os.setxattr(fd, _ACL_XATTR, struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries))


def write_private(feedback_dir: str, checksum: str, data: bytes, uid: int) -> str:
    """Write ``<feedback_dir>/<checksum>.html`` readable by ``uid`` alone (and its owner), replacing
    any page of that name at once (a new file renamed over it); returns its path. Also the grading
    service's way of releasing a page (labgrader/service/)."""
    final = os.path.join(feedback_dir, f"{checksum}.html")
    tmp = os.path.join(feedback_dir, f".{checksum}-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        readable_only_by(fd, uid)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final)
    return final


class PrivateReleaseFeedback(ExchangeReleaseFeedback):

    def copy_files(self):
        excluded = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        feedback_root = os.path.join(self.coursedir.root, self.coursedir.feedback_directory)
        wanted = self.coursedir.student_id or "*"
        try:
            students = sorted(os.listdir(feedback_root))
        except FileNotFoundError:
            self.log.warning("No feedback to release (%s does not exist)", feedback_root)
            return
        pages = []
        for student in students:
            if student in excluded or not fnmatch.fnmatchcase(student, wanted):
                continue
            folder = os.path.join(feedback_root, student, self.coursedir.assignment_id)
            if os.path.isdir(folder) and not os.path.islink(folder):
                pages += self._pages_of(student, folder)
        # Another student's secret in a hand-in would put its page in the place of theirs (and
        # lock them out): a page name two students share is released to neither.
        by_name = {}
        for page in pages:
            by_name.setdefault(page[3], set()).add(page[0])
        for who, uid, folder, checksum, name in pages:
            if len(by_name[checksum]) > 1 or reader_of(self._final(checksum)) not in (None, uid):
                self.log.error("Not released for %s: %s has the page name of another student's feedback "
                               "(the same submission_secret.txt in two hand-ins)", who, printable(name))
                continue
            self._release_page(who, uid, folder, name, checksum)

    def _final(self, checksum):
        return os.path.join(self.dest_path, f"{checksum}.html")

    def _pages_of(self, student, folder):
        """(who, uid, folder, page name, file name) of each page of one student's feedback."""
        who = printable(student)
        try:
            uid = pwd.getpwnam(student).pw_uid
        except KeyError:
            self.log.error("Not released for %s: no unix user of that name, so the page could not be made "
                           "private to them", who)
            return []
        try:
            secret = paths.read_regular(os.path.join(folder, "submission_secret.txt"), 4096).decode().strip()
        except (OSError, paths.UnsafePath, UnicodeDecodeError) as exc:
            self.log.error("Not released for %s: no usable submission_secret.txt (%s)", who, exc)
            return []
        if not re.fullmatch(r"[0-9a-f]{16,256}", secret):
            self.log.error("Not released for %s: submission_secret.txt is not a secret nbgrader wrote", who)
            return []
        return [(who, uid, folder, notebook_hash(secret=secret, notebook_id=name[:-len(".html")]), name)
                for name in sorted(os.listdir(folder)) if name.endswith(".html")]

    def _release_page(self, who, uid, folder, name, checksum):
        try:
            data = paths.read_regular(os.path.join(folder, name), MAX_FEEDBACK_BYTES)
        except (OSError, paths.UnsafePath) as exc:
            self.log.error("Not released for %s: %s", who, exc)
            return
        write_private(self.dest_path, checksum, data, uid)
        self.log.info("Released feedback for %s on %s/%s (readable by %s only)", who,
                      self.coursedir.assignment_id, printable(name[:-len(".html")]), who)
