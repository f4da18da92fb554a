"""Submit -> feedback available, with the grading service (python -m labgrader serve); CPU per
submission against the batch command's.

    sudo .venv/bin/python benchmarks/service_latency.py [--alone 5] [--burst 30]

As root, it runs the hub recipe (``deploy/hub-setup.sh``, on a copy of the project's environment:
grader_tests/hub/deployment.py), without the hub itself: throw-away unix users (``lgbinst``, the
instructor, and ``lgb000``... the students, removed afterwards), the machine-wide environment
(labgrader installed as a wheel), the exchange, the course in the instructor's home (released, due
in 14 days; no per-hour cap), and the service started as the instructor. Then:

  alone  one student submits, waits for the graded page, ``--alone`` times;
  burst  ``--burst`` students submit at once.

Each submission's latency runs from its entry's last change in inbound (the trusted time the
service records: the moment Submit finished writing) to the release of its graded page in the
exchange (the journal's "released" event; the page is written just before). The students submit
from processes that imported nbgrader beforehand, as the Assignments tab's Submit runs in the
student's already-running server (a cold ``nbgrader submit`` would add seconds of CPU per student
to the burst). CPU: the service's process tree (service, workers, fork server, and the kernels it
reaped), sampled before and after each phase; the batch: ``python -m labgrader autograde`` on the
burst's submissions, the whole command (its start-up included, as the README's batch figures).
"""
import argparse
import os
import platform
import resource
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "grader_tests"))
sys.path.insert(0, str(REPO / "grader_tests" / "hub"))
import snippets  # noqa: E402  (the corpus's notebook builder)
import deployment  # noqa: E402
from users import grant_traverse, kill_processes_of  # noqa: E402
from labgrader.service import journal as J  # noqa: E402

ASSIGNMENT, COURSE_ID = "embeddings", "categorical-embeddings"
GROUP, MARK = "lgb-bench", "labgrader benchmark user"
ANSWER = "correct/list_and_flatten"
SUBMIT = ("import sys\nfrom nbgrader.apps.submitapp import SubmitApp\nprint('ready', flush=True)\n"
          "sys.stdin.readline()\nSubmitApp.launch_instance(argv=['embeddings'])\n")


class Bench:
    def __init__(self, base):
        self.base = Path(base)
        self.users, self.saved_acls = {}, []
        self.config_dir, self.exchange = self.base / "jconf", self.base / "exchange"
        self.venv = None  # the machine-wide environment the recipe makes (make_course)

    @property
    def python(self):
        return self.venv / "bin" / "python"

    # -- set-up -------------------------------------------------------------------------------

    def make_users(self, students):
        if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode:
            subprocess.run(["groupadd", GROUP], check=True)
        import pwd
        for name in ["lgbinst"] + [f"lgb{i:03d}" for i in range(students)]:
            try:
                entry = pwd.getpwnam(name)
                if entry.pw_gecos != MARK:
                    raise SystemExit(f"a user {name} exists and is not a benchmark user: not touching it")
            except KeyError:
                subprocess.run(["useradd", "--create-home", "--home-dir", str(self.base / "home" / name), "--user-group",
                                "--comment", MARK, "--groups", GROUP, name], check=True, capture_output=True)
                entry = pwd.getpwnam(name)
            self.users[name] = entry
        grant_traverse(self.saved_acls, GROUP, [Path(sys.executable).resolve().parent.parent])  # the interpreter

    def env(self, name, **extra):
        user = self.users[name]
        return {"PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": user.pw_dir, "USER": name, "LOGNAME": name,
                "LANG": "C.UTF-8", "TZ": "UTC", "JUPYTER_CONFIG_PATH": str(self.config_dir), **extra}

    def command(self, name, cmd):
        return ["runuser", "-u", name, "--", "env", "-i", *(f"{k}={v}" for k, v in self.env(name).items()), *map(str, cmd)]

    def run(self, name, cmd, cwd=None, check=True):
        result = subprocess.run(self.command(name, cmd), cwd=cwd or self.users[name].pw_dir, capture_output=True, text=True)
        if check and result.returncode:
            raise SystemExit(f"{name}: {' '.join(map(str, cmd))} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result

    def make_course(self):
        self.venv = deployment.clone_venv()
        self.course = Path(self.users["lgbinst"].pw_dir) / "course"
        deployment.run_recipe(self.venv, instructor="lgbinst", course=self.course, exchange=self.exchange,
                              config_dir=self.config_dir, group=GROUP, release=ASSIGNMENT)
        with open(self.course / "nbgrader_config.py", "a") as fh:
            fh.write("\nc.GradingService.max_per_hour = 0  # the benchmark submits more often than a student may\n")
        release = snippets.nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
        text = snippets.nbformat.writes(snippets.build_notebook(release, snippets.load(
            REPO / "grader_tests" / "submissions" / f"{ANSWER}.py")))
        for name, user in self.users.items():
            if name != "lgbinst":  # what Fetch leaves in the student's home, answered
                folder = Path(user.pw_dir) / ASSIGNMENT
                folder.mkdir(exist_ok=True)
                (folder / snippets.NOTEBOOK).write_text(text)
                subprocess.run(["chown", "-R", f"{name}:{name}", str(folder)], check=True)

    # -- the service --------------------------------------------------------------------------

    def start_service(self):
        self.service = subprocess.Popen(self.command("lgbinst", [self.python, "-m", "labgrader", "serve", "--course",
                                                                 self.course]),
                                        cwd=self.course, stdout=open(self.base / "service.log", "w"), stderr=subprocess.STDOUT)
        started = time.monotonic()
        self.receiving = self.wait_meta("heartbeat", started)  # receipts: the intake runs before the pool
        self.grading = self.wait_meta("pool_ready", started)  # the fork server and the readiness check

    def wait_meta(self, name, started):
        deadline = started + 600
        while not self.meta().get(name):
            if self.service.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the service did not start:\n" + (self.base / "service.log").read_text()[-3000:])
            time.sleep(0.2)
        return time.monotonic() - started

    def journal(self):
        path = J.journal_path(self.course)
        return J.Journal(path, readonly=True) if os.path.exists(path) else None

    def meta(self):
        db = self.journal()
        if db is None:
            return {}
        try:
            return db.meta()
        except sqlite3.OperationalError:  # (being made)
            return {}
        finally:
            db.close()

    def tree_cpu(self):
        """CPU seconds of the service's process tree so far, reaped children (the kernels) included."""
        root = psutil.Process(self.meta()["pid"])
        total = 0.0
        for proc in [root] + root.children(recursive=True):
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
        return total

    def released(self, entries, timeout=1800):
        """Wait until every entry's graded page is out; {entry: seconds from its trusted time}."""
        deadline, latency = time.monotonic() + timeout, {}
        while len(latency) < len(entries):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {len(latency)} of {len(entries)} graded pages released")
            db = self.journal()
            try:
                rows = {r["entry"]: r for r in db.rows()}
                for entry in entries:
                    row = rows.get(entry)
                    if entry in latency or row is None or row["state"] not in (J.GRADED, J.FAILED):
                        continue
                    out = [e["at"] for e in db.events(row["key"]) if e["event"] == "released"
                           and e["detail"].startswith(("graded", "failed"))]
                    if out:
                        latency[entry] = out[0] - row["time_ns"] / 1e9
                        if row["state"] != J.GRADED:
                            print(f"  warning: {entry} was not graded: {row['reason']}")
            finally:
                db.close()
            time.sleep(0.1)
        return latency

    def inbound(self):
        return set(os.listdir(self.exchange / COURSE_ID / "inbound"))

    def submit_at_once(self, names):
        """Each student's Submit, all at once (nbgrader imported beforehand); returns the new entries."""
        before = self.inbound()
        ready = [subprocess.Popen(self.command(n, [self.python, "-c", SUBMIT]), cwd=self.users[n].pw_dir,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in names]
        for proc in ready:  # every process has imported nbgrader
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"a submitting process did not start: {proc.stderr.read()[-2000:]}")
        time.sleep(2)  # and the machine is quiet again
        for proc in ready:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in ready:
            _, err = proc.communicate(timeout=600)
            if proc.returncode:
                raise SystemExit(f"a submit failed: {err[-2000:]}")
        return sorted(self.inbound() - before)

    def stop_service(self):
        os.kill(self.meta()["pid"], signal.SIGTERM)
        self.service.wait(120)

    def batch(self):
        """The batch command on the same class (the burst's submissions, as the service left them)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = self.run("lgbinst", [self.python, "-m", "labgrader", "autograde", ASSIGNMENT], cwd=self.course,
                          check=False)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode not in (0, 1):
            raise SystemExit(f"the batch failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    # -- tear-down ----------------------------------------------------------------------------

    def cleanup(self):
        uids = {u.pw_uid for u in self.users.values()}
        kill_processes_of(uids)
        for acl in reversed(self.saved_acls):
            subprocess.run(["setfacl", "--restore=-"], input=acl, text=True, cwd="/")
        for name in self.users:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        if self.venv:
            deployment.remove_venv(self.venv)


def summary(values):
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, min {ordered[0]:.2f} s, max {ordered[-1]:.2f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alone", type=int, default=5, help="submissions of one student alone (default 5)")
    parser.add_argument("--burst", type=int, default=30, help="students submitting at once (default 30)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: it makes throw-away unix users (students and an instructor)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}; load average at start {os.getloadavg()}")
    base = tempfile.mkdtemp(prefix="labgrader-bench-")
    os.chmod(base, 0o755)
    bench = Bench(base)
    try:
        bench.make_users(max(args.burst, 1))
        bench.make_course()
        bench.start_service()
        print(f"service receiving after {bench.receiving:.1f} s, grading after {bench.grading:.1f} s "
              "(fork server, readiness check)")
        alone, cpu0 = [], bench.tree_cpu()
        for _ in range(args.alone):
            entries = bench.submit_at_once(["lgb000"])
            alone += list(bench.released(entries).values())
            time.sleep(1)
        alone_cpu = (bench.tree_cpu() - cpu0) / max(1, args.alone)
        print(f"alone ({args.alone} submissions, one at a time): {summary(alone)}; "
              f"CPU {alone_cpu:.2f} s per submission (load {os.getloadavg()[0]:.1f})")
        students = [f"lgb{i:03d}" for i in range(args.burst)]
        cpu0 = bench.tree_cpu()
        entries = bench.submit_at_once(students)
        burst = bench.released(entries)
        burst_cpu = (bench.tree_cpu() - cpu0) / len(entries)
        times = {e: bench_time(bench, e) for e in entries}
        drain = max(burst[e] + times[e] for e in entries) - min(times.values())
        print(f"burst ({len(entries)} students at once, their entries written within "
              f"{max(times.values()) - min(times.values()):.1f} s): {summary(list(burst.values()))}; all released "
              f"{drain:.1f} s after the first Submit; CPU {burst_cpu:.2f} s per submission "
              f"(load {os.getloadavg()[0]:.1f})")
        bench.stop_service()
        wall, cpu = bench.batch()
        print(f"batch (python -m labgrader autograde, the same {len(entries)} students): {wall:.1f} s, "
              f"CPU {cpu / len(entries):.2f} s per submission, start-up included (load {os.getloadavg()[0]:.1f})")
    finally:
        bench.cleanup()


def bench_time(bench, entry):
    """The entry's trusted time (epoch seconds)."""
    db = bench.journal()
    try:
        return next(r["time_ns"] for r in db.rows() if r["entry"] == entry) / 1e9
    finally:
        db.close()


if __name__ == "__main__":
    main()
