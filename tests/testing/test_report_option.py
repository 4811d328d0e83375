"""``--klverify-report``: the session's checks become a consistency report file."""

from __future__ import annotations

import json

import pytest

CHECKS = """
import numpy as np
import torch
import torch.nn.functional as F

def test_value(assert_kl_close):
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert_kl_close(0.5 * np.log(2) + 0.5 * np.log(2 / 3), p, q)

def test_wrong_value(assert_kl_close):
    assert_kl_close(0.5, np.array([0.5, 0.5]), np.array([0.25, 0.75]))

def test_grad(assert_kl_grad_close):
    loss = lambda t, s: F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean")
    assert_kl_grad_close(loss, torch.randn(2, 8), torch.randn(2, 8), reduction="batchmean")
"""


def test_json_report_has_one_cell_per_check(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--klverify-report=out/report.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "klverify: 3 KL checks ran (2 value, 1 gradient), 1 failed",
            "klverify: report of 3 KL check(s) written to out/report.json",
        ]
    )
    data = json.loads((pytester.path / "out" / "report.json").read_text())
    assert data["schema"] == "klverify-report/1"
    cells = {c["case"]: c for c in data["cells"]}
    assert set(cells) == {
        "test_checks.py::test_value",
        "test_checks.py::test_wrong_value",
        "test_checks.py::test_grad",
    }
    assert cells["test_checks.py::test_value"]["status"] == "pass"
    wrong = cells["test_checks.py::test_wrong_value"]
    assert wrong["status"] == "fail" and wrong["value"] == 0.5
    assert wrong["abs_error"] > wrong["tolerance"]
    grad = cells["test_checks.py::test_grad"]
    assert grad["backend"] == "torch" and grad["grad_error"] <= grad["grad_tolerance"]
    assert data["environments"][0]["source"] == "pytest"


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_markdown_and_html_by_extension(pytester: pytest.Pytester, suffix: str) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    pytester.runpytest(f"--klverify-report=report{suffix}")
    text = (pytester.path / f"report{suffix}").read_text()
    assert "test_checks.py::test_wrong_value" in text


def test_ini_option_and_bad_extension(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nklverify_report = r.json\n")
    pytester.makepyfile(test_checks=CHECKS)
    pytester.runpytest()
    assert (pytester.path / "r.json").exists()
    result = pytester.runpytest("--klverify-report=report.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--klverify-report=report.txt: the extension picks the format; end the path with .json*"]
    )
