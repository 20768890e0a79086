"""The code style the project holds itself to: ruff (configured in pyproject.toml) finds nothing."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]' installs the pinned version")
    res = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=REPO, capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]
