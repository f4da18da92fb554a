"""The whole package is typed, and the types hold (mypy, configured in pyproject.toml).

Slow (a cold run takes seconds of CPU): it runs once in CI, not in the fast loop. Its cache is
outside the repository, one per checkout, so a second run is incremental."""
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_mypy_finds_no_type_error_in_the_package():
    cache = Path.home() / ".cache" / "labgrader" / "mypy" / hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout
