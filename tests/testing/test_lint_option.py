"""``--klverify-lint``: one item per Python file, failing with the linter's diagnostics."""

from __future__ import annotations

import pytest

MISUSE = """
import torch.nn.functional as F


def distill(student_logits, teacher_probs):
    return F.kl_div(F.softmax(student_logits, dim=-1), teacher_probs, reduction="batchmean")
"""

CLEAN = """
import torch.nn.functional as F


def distill(student_logits, teacher_probs):
    return F.kl_div(F.log_softmax(student_logits, dim=-1), teacher_probs, reduction="batchmean")
"""


def test_a_known_misuse_fails_with_its_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(train=MISUSE)
    result = pytester.runpytest("--klverify-lint", "train.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ klverify-lint _*",
            "train.py:5:12: KLV001 input of `F.kl_div` is in probability space*",
            "1 klverify lint finding(s): see `klverify rule CODE` for each rule*",
            "FAILED train.py::klverify-lint - train.py:5:12: KLV001*",
        ]
    )


def test_a_clean_file_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(train=CLEAN)
    result = pytester.runpytest("--klverify-lint", "-v", "train.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["train.py::klverify-lint PASSED*"])


def test_one_item_per_python_file_next_to_the_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(train=CLEAN, model=CLEAN, test_model="def test_ok():\n    pass\n")
    pytester.makefile(".txt", notes="F.kl_div(F.softmax(x), y)")
    result = pytester.runpytest("--klverify-lint", "--collect-only", "-q")
    result.stdout.fnmatch_lines_random(
        [
            "model.py::klverify-lint",
            "test_model.py::klverify-lint",
            "test_model.py::test_ok",
            "train.py::klverify-lint",
        ]
    )
    result.stdout.no_fnmatch_line("notes.txt*")
    # -m selects only the lint items
    only = pytester.runpytest("--klverify-lint", "-m", "klverify_lint")
    only.assert_outcomes(passed=3, deselected=1)


def test_without_the_option_nothing_is_linted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(train=MISUSE)
    result = pytester.runpytest("train.py")
    result.assert_outcomes()
    result.stdout.no_fnmatch_line("*klverify-lint*")


def test_ini_enables_linting_and_selects_codes(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\naddopts = -p no:cacheprovider\nklverify_lint = true\n"
        "klverify_lint_ignore = KLV001\n"
    )
    pytester.makepyfile(train=MISUSE)
    result = pytester.runpytest("train.py")
    result.assert_outcomes(passed=1)  # the misuse's code is ignored
