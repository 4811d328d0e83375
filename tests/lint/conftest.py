"""Helpers for the lint tests: run the real CLI in a subprocess from a temporary project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BAD = """\
import torch.nn.functional as F


def loss(s, t):
    return F.kl_div(F.softmax(s, -1), t, reduction="batchmean")
"""

FIXABLE = """\
import torch.nn.functional as F


def loss(lq, t):
    return F.kl_div(lq, F.log_softmax(t, -1))
"""

CLEAN = """\
import torch.nn.functional as F


def loss(s, t):
    return F.kl_div(F.log_softmax(s, -1), t, reduction="batchmean")
"""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klverify", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with one bad, one fixable and one clean file."""
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "fixable.py").write_text(FIXABLE)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path
