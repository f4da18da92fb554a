"""A real JupyterLab server on 127.0.0.1 with a token, and Debian's Chromium driven by Playwright
(no browser download), for the instructor's and the student's tests."""
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "grader_tests" / "artifacts"  # screenshots kept after the run (not committed)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server(root, log_path):
    """``jupyter lab`` started in ``root`` as the README says; yields its base URL and token."""
    port, token = free_port(), secrets.token_hex(16)
    bin_dir = Path(sys.executable).parent
    config_dir = Path(log_path).parent / "jupyter-config"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", JUPYTER_CONFIG_DIR=str(config_dir))
    # The instructor's JupyterLab is stock, so it asks once whether to fetch Jupyter's news (a toast
    # over the page that takes clicks): answered "never" here, as the instructor would.
    news = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text('{"fetchNews": "false"}')
    cmd = [str(bin_dir / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log_path, "w") as log:
        server = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("jupyter lab did not start:\n" + Path(log_path).read_text()[-3000:])
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def browser_page():
    assert CHROMIUM, "Debian's chromium is needed (./course installs it)"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)
            yield page
        finally:
            browser.close()


def open_lab(page, url, token, path=""):
    page.goto(f"{url}/lab/tree/{path}?token={token}" if path else f"{url}/lab?token={token}")
    page.wait_for_selector("#jp-main-dock-panel")


def keep(screenshot, name):
    """Copy a screenshot to grader_tests/artifacts/ (ignored by git) so it outlives pytest's tmp."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    shutil.copy(screenshot, ARTIFACTS / name)
