"""The stable Python API: lint_source, lint_paths, format_text, noqa, selection, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from klverify.lint import Diagnostic, format_text, lint_paths, lint_source
from klverify.lint.selection import SelectorError, resolve

BAD = "import torch.nn.functional as F\nF.kl_div(F.softmax(x, -1), t, reduction='batchmean')\n"


def test_diagnostic_is_frozen_with_one_based_positions() -> None:
    [d] = lint_source(BAD, "m.py")
    assert (d.code, d.row, d.column, d.end_row) == ("KLV001", 2, 1, 2)
    assert d.end_column == len(BAD.splitlines()[1]) + 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.row = 3  # type: ignore[misc]
    assert format_text(d) == f"m.py:2:1: KLV001 {d.message}"
    assert "F.log_softmax" in d.message  # says what to write instead


def test_columns_count_characters_not_bytes() -> None:
    source = (
        "import torch.nn.functional as F\nä = 1; F.kl_div(F.softmax(x, -1), t, reduction='sum')\n"
    )
    [d] = lint_source(source)
    assert d.column == source.splitlines()[1].index("F.kl_div") + 1


@pytest.mark.parametrize(
    ("comment", "silenced"),
    [
        ("# noqa: KLV001", True),
        ("# noqa:KLV001,KLV005", True),
        ("# noqa", True),
        ("# NOQA: KLV00", True),
        ("# noqa: KLV005", False),
        ("# a comment", False),
    ],
)
def test_line_noqa(comment: str, silenced: bool) -> None:
    source = BAD.rstrip("\n") + "  " + comment + "\n"
    assert (lint_source(source) == []) is silenced


def test_file_noqa() -> None:
    assert lint_source("# klverify: noqa\n" + BAD) == []
    assert lint_source("# klverify: noqa: KLV005\n" + BAD) != []
    assert lint_source("# klverify: noqa: KLV001\n" + BAD) == []


def test_select_and_ignore() -> None:
    assert lint_source(BAD, ignore=["KLV001"]) == []
    assert lint_source(BAD, select=["KLV005"]) == []
    assert [d.code for d in lint_source(BAD, select=["KLV"])] == ["KLV001"]
    assert resolve(["ALL"], ["KLV1"]) == resolve(None)
    assert "KLV005" in resolve(None, ["KLV00"], ["KLV005"])
    assert resolve(["KLV"], ["KLV005"]) == resolve(["ALL"]) - {"KLV005"}
    with pytest.raises(SelectorError):
        resolve(["F401"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(:\n    kl_div\n", "failed to parse"),
        ("x = 1\0 # kl_div\n", "failed to parse"),
    ],
)
def test_bad_source_gives_one_e902(source: str, message: str) -> None:
    [d] = lint_source(source, "bad.py")
    assert d.code == "E902" and message in d.message and d.url is None


def test_empty_and_unrelated_sources_are_clean() -> None:
    assert lint_source("") == []
    assert lint_source("import torch\nx = torch.softmax(y, -1)\n") == []


def test_lint_paths_reports_unreadable_files_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "latin1.py").write_bytes(b"# kl_div \xe9\n")
    (tmp_path / "empty.py").write_bytes(b"")
    missing = tmp_path / "missing.py"
    found = lint_paths([tmp_path, missing])
    by_file = {Path(d.filename).name: d.code for d in found}
    assert by_file == {"a.py": "KLV001", "latin1.py": "E902", "missing.py": "E902"}


def test_an_empty_file_is_reported_only_when_named(tmp_path: Path) -> None:
    """Empty __init__.py files found in a folder are valid Python; naming an empty file
    on the command line is most likely a mistake."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_bytes(b"")
    (tmp_path / "empty.py").write_bytes(b"")
    assert lint_paths([tmp_path]) == []
    (named,) = lint_paths([tmp_path / "empty.py"])
    assert named.code == "E902" and "file is empty" in named.message


def test_lint_paths_honours_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.klverify]\nper-file-ignores = { "tests/*" = ["KLV001"] }\n'
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(BAD)
    (tmp_path / "src.py").write_text(BAD)
    found = lint_paths([tmp_path])
    assert [Path(d.filename).name for d in found] == ["src.py"]
    assert lint_paths([tmp_path], select=["KLV005"]) == []


def test_diagnostic_fields_are_the_contract() -> None:
    names = [f.name for f in dataclasses.fields(Diagnostic)]
    assert names == ["code", "message", "filename", "row", "column", "end_row", "end_column"]
