"""The recipe's machine-wide environment, for tests and benchmarks: ``deploy/hub-setup.sh`` run as
written, on an environment that already holds the pinned requirements.

Making a fresh environment would download TensorFlow each run; instead ``clone_venv`` copies the
project's ``.venv`` as hard links (seconds), its scripts rewritten to run the copy's own python.
The script then finds its requirements installed (pip says so) and does the rest as on a fresh
machine: it replaces the editable labgrader (which reads this clone, solutions and all) with a
wheel of the engine alone, enables the server extension, finds the proxy, makes the exchange, the
course folder and the machine-wide config, and runs the doctor. Nothing of the copy is ever
written in place (pip replaces files by renaming), so the project's ``.venv`` is untouched.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REPO

SCRIPT = REPO / "deploy" / "hub-setup.sh"


def _same_device_temp(near: Path) -> Path:
    """A new folder on the file system of ``near`` (hard links need one), readable by every user."""
    device = near.stat().st_dev
    for candidate in ("/var/tmp", tempfile.gettempdir()):
        if os.path.isdir(candidate) and os.stat(candidate).st_dev == device:
            folder = Path(tempfile.mkdtemp(prefix="labgrader-venv-", dir=candidate))
            break
    else:
        folder = Path(tempfile.mkdtemp(prefix="labgrader-venv-"))
    os.chmod(folder, 0o755)
    return folder


def clone_venv() -> Path:
    """A copy of the project's environment (hard links where the file system allows), as a place of
    its own that every user can read; remove it with ``remove_venv``."""
    source = Path(sys.prefix)
    dest = _same_device_temp(source) / "venv"
    linked = subprocess.run(["cp", "-al", str(source), str(dest)], capture_output=True)
    if linked.returncode != 0:  # another file system: a real copy (slower)
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(dest)], check=True)
    old = str(source).encode()
    for script in (dest / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if old in data:  # shebangs and activate scripts name the environment: a new file, never the link
            fresh = script.with_name(script.name + ".new")
            fresh.write_bytes(data.replace(old, str(dest).encode()))
            shutil.copymode(script, fresh)
            os.replace(fresh, script)
    return dest


def remove_venv(venv: Path) -> None:
    shutil.rmtree(venv.parent, ignore_errors=True)


def run_recipe(venv: Path, *, instructor: str, course: Path, exchange: Path, config_dir: Path, group: str,
               release: str = "", timeout: int = 900) -> subprocess.CompletedProcess:
    """``deploy/hub-setup.sh`` as root with these settings; its output is returned (it must succeed)."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8", "LABGRADER_VENV": str(venv), "LABGRADER_INSTRUCTOR": instructor,
           "LABGRADER_COURSE": str(course), "LABGRADER_EXCHANGE": str(exchange),
           "LABGRADER_JUPYTER_CONFIG": str(config_dir), "LABGRADER_HUB_GROUP": group, "LABGRADER_RELEASE": release}
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"deploy/hub-setup.sh failed ({result.returncode}):\n{result.stdout[-5000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def hub_config(venv: Path, package: str = "exchange") -> Path:
    """A hub's config file as installed in the environment (the path the script prints); ``package``
    ``hubexchange``: the Kubernetes-style hub's."""
    found = list((venv / "lib").glob(f"python3*/site-packages/labgrader/{package}/jupyterhub_config.py"))
    assert found, f"labgrader is not installed as a package in {venv}"
    return found[0]
