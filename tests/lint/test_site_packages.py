"""Robustness: lint every ``.py`` file of the installed site-packages without an internal error.

Uses the byte prefilter exactly as ``klverify lint`` does, and additionally forces the
full analysis (every line treated as relevant) over ``torch/nn``, the code densest in
the transforms the analysis follows.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

from klverify.lint import engine, selection

SITE = Path(sysconfig.get_paths()["purelib"])
ENABLED = selection.resolve(["ALL"])


def _python_files(root: Path):
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                yield Path(folder) / name


def test_every_installed_file_lints_without_internal_error() -> None:
    failures, candidates, files = [], 0, 0
    for path in _python_files(SITE):
        files += 1
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not engine.may_contain_kl(data):
            continue
        candidates += 1
        try:
            engine.lint_file(path, ENABLED)
        except Exception as exc:  # the point of the test: nothing may escape
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
    assert files > 1000
    assert candidates > 0
    assert failures == []


def test_full_analysis_of_torch_nn(monkeypatch) -> None:
    torch_nn = SITE / "torch" / "nn"
    if not torch_nn.is_dir():
        pytest.skip("torch is not installed")
    monkeypatch.setattr(engine, "_hit_lines", lambda s: list(range(1, s.count("\n") + 2)))
    failures = []
    for path in _python_files(torch_nn):
        text = engine.decode(path.read_bytes(), str(path))
        if not isinstance(text, str):
            continue
        try:
            engine.lint_text(text, str(path), ENABLED)
        except Exception as exc:
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
    assert failures == []
