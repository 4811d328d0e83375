"""``klverify probe`` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from klverify.cli import main

GALLERY = Path(__file__).with_name("gallery.py")


def test_text_output_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", f"{GALLERY}:distillation_loss"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"klverify probe {GALLERY}:distillation_loss (torch)")
    assert "Direction: forward KL(teacher‖student)" in out


def test_problems_exit_1_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", f"{GALLERY}:missing_t_squared", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["t_squared"] is False and data["problems"] == ["no_t_squared"]


def test_named_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "probe",
            f"{GALLERY}:unnamed",
            "--teacher-arg",
            "a",
            "--student-arg",
            "b",
            "--format",
            "json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["argument_order"]["how"] == "given"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_colon", "is not MODULE:FUNCTION"),
        ("surely_not_a_module_xyz:f", "cannot import 'surely_not_a_module_xyz'"),
        (f"{GALLERY}:nope", "has no attribute 'nope'"),
        ("missing_file.py:f", "no such file"),
        (f"{GALLERY}:GOOD_T", "not callable"),
    ],
)
def test_usage_errors(target: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith("klverify probe: error: ") and message in err


def test_bad_role_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", f"{GALLERY}:distillation_loss", "--teacher-arg", "t"]) == 2
    assert "not a parameter" in capsys.readouterr().err


def test_help_says_it_runs_your_code_and_imports_no_numpy() -> None:
    code = (
        "import sys, klverify.probe.command, klverify.probe;"
        "assert 'numpy' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    help_text = subprocess.run(
        [sys.executable, "-m", "klverify", "probe", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "runs your code" in help_text
