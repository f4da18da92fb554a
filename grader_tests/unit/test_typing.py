"""The public surface is typed, and the types hold (mypy, configured in pyproject.toml)."""
import subprocess
import sys

from conftest import REPO


def test_mypy_finds_no_type_error_on_the_public_surface():
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout
