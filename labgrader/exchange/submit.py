"""``nbgrader submit`` (and the Assignments tab's Submit) with an entry only its student and the
instructor can read: ``c.ExchangeFactory.submit = "labgrader.exchange.submit.PrivateSubmit"``
(written machine-wide by ``python -m labgrader.exchange setup``).

Stock nbgrader makes each entry 0777 ("so the instructor can delete later"): anyone who learns its
name can replace its files. Here the entry's folders are 0750 in the instructor's group (inbound is
setgid, so the entry is created in that group; the files stay 0644 because the ones nbgrader writes
after its copy lose that group), so only the student and the instructor can reach the files and
only the student can change them. This runs in the student's own process, so it protects honest
students only: the instructor's collector (``TrustedCollect``) trusts none of it.
"""
import os

from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import get_username

ENTRY_MODE = 0o750
FILE_MODE = 0o644  # unreachable for others: the folders above are 0750


class PrivateSubmit(ExchangeSubmit):

    def init_dest(self):
        me = get_username()
        claimed = self.coursedir.student_id
        if claimed not in ("*", "", me):
            self.fail(f"You are logged in as {me}: a submission as {claimed!r} would never be graded "
                      "(the instructor's collector takes the student from the files' owner). Submit without --student.")
        super().init_dest()

    def copy_files(self):
        super().copy_files()
        entry = os.path.join(self.inbound_path, self.assignment_filename)
        if os.stat(entry).st_gid != os.stat(self.inbound_path).st_gid:
            self.log.warning("The entry is not in the instructor's group (inbound is not setgid): "
                             "left readable by everyone, as stock nbgrader does")
            os.chmod(entry, 0o755)
            return
        self.set_perms(entry, fileperms=FILE_MODE, dirperms=ENTRY_MODE)
