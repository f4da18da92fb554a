"""Submit -> graded page through the exchange service on the hub (uploads, graded on upload), and a
burst of submissions against the grading service's fairness bound; CPU per submission.

    sudo .venv/bin/python benchmarks/exchange_latency.py [--alone 5] [--burst 60] [--window 10] [--slow 3]

As root, it runs the Kubernetes-style recipe (labgrader/hubexchange/jupyterhub_config.py: every
student's server as one uid under bubblewrap, the exchange service and the grading service as the
course's owner) on free ports of 127.0.0.1, with throw-away accounts (``lgxinst``, the course's
owner; ``lgxpod``, the pods' uid; removed afterwards) and hub-only students (the dummy
authenticator: no unix account per student, as on Kubernetes). Then:

  alone  one student in Chromium (the Assignments tab, in their pod): Submit, then Fetch Feedback
         until the graded page is in their folder, ``--alone`` times; each time from the click on
         Submit to the page fetched;
  burst  ``--burst`` uploads within ``--window`` seconds, through the service's API with each
         student's token (what the tab's Submit sends): ``--slow`` students hand in a correct notebook
         that also sleeps 12 s, three times each; every other student hands in once. Each
         well-behaved submission's time from receipt (the server's time) to its graded page
         (the journal's release) is compared with the fairness bound of the grading service
         (docs: a student within budget, first in line, waits at most ``long_grading_seconds`` T for
         a worker; being first in line takes one grading per student ahead of them):
         bound = T + own grading + (gradings of well-behaved submissions received before it) / W.

CPU: the exchange service's and the grading service's process trees (workers, fork server and the
kernels they reaped), sampled before and after each phase. The machine is shared: the load average
is printed with every figure.
"""
import argparse
import contextlib
import io
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "grader_tests"), str(REPO / "grader_tests" / "hub"),
                str(REPO / "grader_tests" / "jupyterlab")]
import nbformat  # noqa: E402
import acl  # noqa: E402
import snippets  # noqa: E402
from users import grant_traverse, kill_processes_of  # noqa: E402
from labgrader.hubexchange import archives  # noqa: E402
from labgrader.service import journal as J  # noqa: E402

ASSIGNMENT, COURSE_ID = "embeddings", "categorical-embeddings"
GROUP, MARK = "lgx-bench", "labgrader exchange benchmark user"
OWNER, POD = "lgxinst", "lgxpod"
BIN = Path(sys.executable).parent
STAGES = ("upload", "queue", "grading", "publish", "fetch")  # Bench.stages
PASSWORD = secrets.token_urlsafe(12)
ADMIN = secrets.token_hex(32)
SLEEP_CELL = "import time\ntime.sleep(12)  # a slow, honest notebook (within the cell limit)\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer_text(slow=False):
    release = nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    nb = snippets.build_notebook(release, snippets.load(REPO / "grader_tests" / "submissions" / "correct" / "list_and_flatten.py"))
    if slow:
        nb.cells.append(nbformat.v4.new_code_cell(SLEEP_CELL))
    return nbformat.writes(nb)


class Bench:
    def __init__(self, base, students):
        self.base = Path(base)
        self.students = [f"s{i:03d}" for i in range(students)]
        self.saved_acls, self.accounts = [], {}
        self.port, self.exchange_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    # -- set-up -------------------------------------------------------------------------------

    def make_accounts(self):
        import pwd
        if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode:
            subprocess.run(["groupadd", GROUP], check=True)
        for name in (OWNER, POD):
            try:
                entry = pwd.getpwnam(name)
                if entry.pw_gecos != MARK:
                    raise SystemExit(f"a user {name} exists and is not a benchmark user: not touching it")
            except KeyError:
                subprocess.run(["useradd", "--create-home", "--home-dir", str(self.base / "home" / name), "--user-group",
                                "--comment", MARK, "--groups", GROUP, name], check=True, capture_output=True)
                entry = pwd.getpwnam(name)
            self.accounts[name] = entry
        grant_traverse(self.saved_acls, GROUP, [Path(sys.executable).resolve().parent.parent, Path(sys.prefix), REPO])

    def as_owner(self, *cmd, **env):
        entry = self.accounts[OWNER]
        environment = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": entry.pw_dir, "USER": OWNER, "TZ": "UTC",
                       "LANG": "C.UTF-8", **env}
        result = subprocess.run(["runuser", "-u", OWNER, "--", "env", "-i", *(f"{k}={v}" for k, v in environment.items()),
                                 *map(str, cmd)], cwd=self.course, capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result

    def make_course(self):
        """The course made by the recipe's own command (the owner's, 0700: the grading service refuses to
        serve a course another account can read), switched to the exchange service."""
        self.course = Path(self.accounts[OWNER].pw_dir) / "course"
        subprocess.run([BIN / "python", "-m", "labgrader", "setup", "--instructor", OWNER, "--course-dir", self.course,
                        "--from", REPO, "--exchange", self.base / "exchange-unused"], check=True, capture_output=True, cwd="/")
        service = f"{self.url}/services/labgrader-exchange/"
        with open(self.course / "nbgrader_config.py", "a") as fh:
            fh.write("\n# the benchmark: no per-hour caps (it submits more often than a student may)\n"
                     "c.GradingService.max_per_hour = 0\nc.HubExchangeService.max_uploads_per_hour = 0\n"
                     "c.GradingService.before_due = 'full'\n"
                     "from labgrader.hubexchange.client import configure  # noqa: E402\n"
                     f"configure(c, {service!r}, course_root=c.CourseDirectory.root)\n")
        self.config_dir = self.base / "pod-config"
        self.config_dir.mkdir(mode=0o755)
        (self.config_dir / "nbgrader_config.py").write_text(
            f"c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"from labgrader.hubexchange.client import configure  # noqa: E402\nconfigure(c, {service!r})\n")
        subprocess.run(["chown", "-R", f"{OWNER}:{OWNER}", str(self.course)], check=True)
        self.as_owner(BIN / "nbgrader", "generate_assignment", ASSIGNMENT, "--force")

    # -- the hub ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def hub(self):
        overlay = self.base / "jupyterhub_config.py"
        overlay.write_text(
            f"load_subconfig({str(REPO / 'labgrader' / 'hubexchange' / 'jupyterhub_config.py')!r})  # noqa: F821\n"
            "c.JupyterHub.authenticator_class = 'dummy'\n"
            f"c.DummyAuthenticator.password = {PASSWORD!r}\n"
            "c.Authenticator.allow_all = True\n"
            f"c.JupyterHub.services.append({{'name': 'bench-admin', 'api_token': {ADMIN!r}}})\n"
            "c.JupyterHub.load_roles.append({'name': 'bench-admin', 'services': ['bench-admin'], "
            "'scopes': ['admin:users', 'tokens', 'admin:servers']})\n")
        env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", LABGRADER_HUB_URL=self.url,
                   LABGRADER_HUB_STATE=str(self.base / "hub-state"), LABGRADER_HUB_PORTS=f"{free_port()},{free_port()}",
                   LABGRADER_JUPYTER_CONFIG=str(self.config_dir), LABGRADER_COURSE=str(self.course),
                   LABGRADER_COURSE_ID=COURSE_ID, LABGRADER_INSTRUCTOR=OWNER, LABGRADER_EXCHANGE_PORT=str(self.exchange_port),
                   LABGRADER_POD_USER=POD, LABGRADER_POD_HOMES=str(self.base / "pods"),
                   LABGRADER_STUDENTS=",".join(self.students), LABGRADER_INSTRUCTORS=OWNER)
        log = open(self.base / "hub.log", "w")
        hub = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(overlay)], cwd=self.base, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait(lambda: requests.get(self.api("whoami"), timeout=5).status_code == 403, 300, "the exchange service")
            yield
        finally:
            hub.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                hub.wait(60)
            if hub.poll() is None:
                hub.kill()

    def wait(self, ready, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(requests.RequestException):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not come up:\n" + (self.base / "hub.log").read_text()[-3000:])
            time.sleep(0.5)

    def api(self, *parts):
        return f"{self.url}/services/labgrader-exchange/api/courses/{COURSE_ID}/" + "/".join(parts)

    def token(self, user):
        response = requests.post(f"{self.url}/hub/api/users/{user}/tokens", headers={"Authorization": f"token {ADMIN}"},
                                 json={"note": "bench"}, timeout=60)
        response.raise_for_status()
        return response.json()["token"]

    # -- the services -------------------------------------------------------------------------

    def journal(self):
        path = J.journal_path(self.course)
        return J.Journal(path, readonly=True) if os.path.exists(path) else None

    def service_cpu(self):
        """CPU seconds so far of the owner's two services, each with everything it started (the
        grader's workers, fork server and the kernels they reaped): {"exchange": s, "grader": s}."""
        totals = {"exchange": 0.0, "grader": 0.0}
        for proc in psutil.process_iter(["uids", "cmdline"]):
            try:
                if proc.info["uids"].real != self.accounts[OWNER].pw_uid or proc.parent().uids().real == proc.info["uids"].real:
                    continue  # only the roots of the owner's trees (the hub started them as root)
                which = "exchange" if "labgrader.hubexchange" in " ".join(proc.info["cmdline"] or []) else "grader"
                for member in [proc] + proc.children(recursive=True):
                    t = member.cpu_times()
                    totals[which] += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        return totals

    def graded(self, keys, timeout=1800):
        """{key: (received, released, grading seconds)} once every key's graded page is out."""
        deadline, out = time.monotonic() + timeout, {}
        while len(out) < len(keys):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {len(out)} of {len(keys)} graded pages released")
            db = self.journal()
            try:
                for key in keys:
                    if key in out or not db or not db.has(key):
                        continue
                    row = db.get(key)
                    if row["state"] not in (J.GRADED, J.FAILED, J.FLAGGED):
                        continue
                    events = db.events(key)
                    released = [e["at"] for e in events if e["event"] == "released" and e["detail"].startswith(("graded", "failed"))]
                    started = [e["at"] for e in events if e["event"] == "started"]
                    done = [e["at"] for e in events if e["event"] in ("graded", "failed", "flagged")]
                    if released:
                        out[key] = (row["time_ns"] / 1e9, released[0], (done[-1] - started[-1]) if started and done else 0.0)
            finally:
                if db:
                    db.close()
            time.sleep(0.2)
        return out

    def stages(self, key, clicked, fetched):
        """Where one Submit's time went, from the journal (the service's clock, this machine's):
        click -> received, -> grading started, -> graded, -> page released, -> page in the student's folder."""
        db = self.journal()
        try:
            row, events = db.get(key), db.events(key)
        finally:
            db.close()
        at = {e["event"]: e["at"] for e in events if e["event"] != "released"}
        released = [e["at"] for e in events if e["event"] == "released" and e["detail"].startswith(("graded", "failed"))]
        marks = [clicked, row["seen"], at.get("started", row["seen"]), at.get("graded", at.get("flagged", row["seen"])),
                 released[0] if released else fetched, fetched]
        return dict(zip(STAGES, (b - a for a, b in zip(marks, marks[1:]))))

    def meta(self):
        db = self.journal()
        if db is None:
            return {}
        try:
            return db.meta()
        finally:
            db.close()

    def fairness(self):
        """(T: long_grading_seconds, W: the pool's workers) of the running grading service."""
        from labgrader.course import Course
        from labgrader.service.policy import GradingService
        return Course(self.course).configured(GradingService).long_grading_seconds, self.meta()["workers"]


def upload(bench, token, text):
    buffer = io.BytesIO()
    folder = tempfile.mkdtemp(prefix="lgx-up-")
    try:
        Path(folder, snippets.NOTEBOOK).write_text(text)
        archives.pack(folder, buffer)
    finally:
        shutil.rmtree(folder)
    response = requests.post(bench.api("assignments", ASSIGNMENT, "submissions"), data=buffer.getvalue(), timeout=300,
                             headers={"Authorization": f"token {token}", "Upload-Id": secrets.token_urlsafe(24),
                                      "Content-Type": "application/zip"})
    response.raise_for_status()
    return "upload:" + response.json()["id"]


def receipts(bench, token):
    """A student's submissions as the service lists them, oldest first."""
    return requests.get(bench.api("assignments", ASSIGNMENT, "submissions"), headers={"Authorization": f"token {token}"},
                        timeout=60).json()


def per_submission(before, after, count):
    parts = {k: (after[k] - before[k]) / count for k in after}
    return (f"CPU per submission {sum(parts.values()):.2f} s (grading service with its kernels {parts['grader']:.2f} s, "
            f"exchange {parts['exchange']:.2f} s)")


def summary(values):
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, min {ordered[0]:.2f} s, max {ordered[-1]:.2f} s"


def alone_in_chromium(bench, times):
    """One student in their pod: Submit in the Assignments tab, then Fetch Feedback until graded.
    Returns each Submit's time to the page and where it went (``Bench.stages``)."""
    from lab import browser_page
    from hub import login
    from test_round_trip import open_assignments, row, save_through_server
    who = bench.students[0]
    home = bench.base / "pods" / who
    with browser_page() as page:
        login(page, bench.url, who, PASSWORD)
        page.wait_for_selector("#jp-main-dock-panel", timeout=300_000)
        open_assignments(page)
        row(page, "released_assignments_list").locator("button:text-is('Fetch')").click()
        row(page, "fetched_assignments_list").wait_for()
        results, stages = [], []
        token = bench.token(who)
        for n in range(times):
            save_through_server(page, bench.url, who, f"{ASSIGNMENT}/{snippets.NOTEBOOK}", answer_text() + " " * n)
            open_assignments(page)
            known = len(receipts(bench, token))
            time.sleep(2)  # the machine quiet again after the save
            started, clicked = time.monotonic(), time.time()
            row(page, "fetched_assignments_list").locator("button:text-is('Submit')").click()
            while len(receipts(bench, token)) == known:
                time.sleep(0.05)
            stamp = receipts(bench, token)[-1]["timestamp"]  # this Submit's (the service's time)
            graded = home / ASSIGNMENT / "feedback" / stamp / snippets.NOTEBOOK.replace(".ipynb", ".html")
            while not (graded.is_file() and "Graded." in graded.read_text()):
                if time.monotonic() - started > 300:
                    raise SystemExit("the graded page never came")
                open_assignments(page)
                row(page, "submitted_assignments_list").locator("button:text-is('Fetch Feedback')").click()
                page.wait_for_timeout(300)  # a student who clicks three times a second
            results.append(time.monotonic() - started)
            stages.append(bench.stages("upload:" + receipts(bench, token)[-1]["id"], clicked, time.time()))
            time.sleep(1)
        return results, stages


def burst(bench, total, window, slow):
    """``total`` uploads spread over ``window`` seconds; ``slow`` students send a sleeping notebook 3 times."""
    plan = [(s, True) for s in bench.students[1:1 + slow] for _ in range(3)]
    plan += [(s, False) for s in bench.students[1 + slow:1 + slow + total - len(plan)]]
    plan.sort(key=lambda item: secrets.randbelow(1000))
    tokens = {who: bench.token(who) for who, _ in plan}
    texts = {False: answer_text(), True: answer_text(slow=True)}
    keys, threads, lock = {}, [], threading.Lock()
    start = time.monotonic() + 1

    def send(i, who, is_slow):
        time.sleep(max(0.0, start + i * window / len(plan) - time.monotonic()))
        key = upload(bench, tokens[who], texts[is_slow] + " " * i)
        with lock:
            keys[key] = (who, is_slow)
    for i, (who, is_slow) in enumerate(plan):
        threads.append(threading.Thread(target=send, args=(i, who, is_slow)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    return keys, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alone", type=int, default=5, help="Submits of one student in Chromium (default 5)")
    parser.add_argument("--burst", type=int, default=60, help="uploads in the burst (default 60; 0: none)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds the burst is spread over (default 10)")
    parser.add_argument("--slow", type=int, default=3, help="students with slow notebooks in the burst (default 3)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the hub, throw-away unix accounts")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}; load average at start {os.getloadavg()}")
    base = tempfile.mkdtemp(prefix="labgrader-xbench-")
    os.chmod(base, 0o755)
    bench = Bench(base, 1 + args.burst)
    try:
        bench.make_accounts()
        bench.make_course()
        with bench.hub():
            bench.as_owner(BIN / "nbgrader", "release_assignment", ASSIGNMENT, "--force",
                           JUPYTERHUB_API_TOKEN=bench.token(OWNER), JUPYTER_CONFIG_PATH=str(bench.config_dir))
            bench.wait(lambda: bench.meta().get("heartbeat", 0) > time.time() - 10, 600, "the grading service")
            cpu = bench.service_cpu()
            alone, stages = alone_in_chromium(bench, args.alone)
            print(f"alone: Submit in the Assignments tab -> graded page fetched ({args.alone} times): {summary(alone)}; "
                  f"{per_submission(cpu, bench.service_cpu(), args.alone)} (load {os.getloadavg()[0]:.1f})")
            print("  median of each stage: " + ", ".join(f"{name} {statistics.median(s[name] for s in stages):.2f} s"
                                                         for name in STAGES))
            if args.burst:
                cpu = bench.service_cpu()
                keys, spread = burst(bench, args.burst, args.window, args.slow)
                done = bench.graded(list(keys))
                report_burst(keys, done, spread, *bench.fairness(), per_submission(cpu, bench.service_cpu(), len(keys)))
    except BaseException:
        log = Path(base) / "hub.log"
        if log.exists():
            print("the hub's log, last lines:\n" + log.read_text()[-6000:])
        raise
    finally:
        kill_processes_of({e.pw_uid for e in bench.accounts.values()})
        acl.revoke(bench.saved_acls)  # the traverse entries grant_traverse added, and only those
        for name in bench.accounts:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def report_burst(keys, done, spread, long_seconds, workers, cpu):
    received = sorted(done, key=lambda k: done[k][0])
    good = [k for k in received if not keys[k][1]]
    latencies = {k: done[k][1] - done[k][0] for k in done}
    over = []
    for k in good:
        ahead = [j for j in good if done[j][0] < done[k][0]]
        bound = long_seconds + done[k][2] + sum(done[j][2] for j in ahead) / workers + 2.0
        if latencies[k] > bound:
            over.append((keys[k][0], round(latencies[k], 1), round(bound, 1)))
    slow = [latencies[k] for k in received if keys[k][1]]
    print(f"burst: {len(keys)} uploads within {spread:.1f} s ({len(good)} well-behaved students once each, "
          f"{len(slow)} from {len({keys[k][0] for k in keys if keys[k][1]})} students whose notebooks sleep 12 s)")
    print(f"  well-behaved, receipt -> graded page: {summary([latencies[k] for k in good])}")
    if slow:
        print(f"  slow ones: {summary(slow)}")
    print(f"  all out {max(done[k][1] for k in done) - min(done[k][0] for k in done):.1f} s after the first receipt; "
          f"fairness bound (T={long_seconds:g} s, W={workers}, +2 s publishing): "
          f"{'held for every well-behaved student' if not over else f'exceeded for {len(over)}: {over[:10]}'}")
    print(f"  {cpu} (load {os.getloadavg()[0]:.1f}); "
          f"grading per submission {summary([done[k][2] for k in good])}")


if __name__ == "__main__":
    main()
