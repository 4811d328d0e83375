from __future__ import annotations

import json
import math

import pytest

from klverify.crosscheck.model import Cell, Report, ReportFormatError, merge


def make_cell(**kw) -> Cell:
    base = dict(backend="numpy", path="safe", device="cpu", dtype="float64", case="c/1", family="c")
    base.update(kw)
    return Cell(status=kw.pop("status", "pass"), **{k: v for k, v in base.items() if k != "status"})


def test_json_round_trip_keeps_inf_and_nan_as_strict_json():
    report = Report(cells=[make_cell(value=math.inf, reference=math.inf, abs_error=math.nan)])
    text = report.to_json()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    back = Report.from_dict(json.loads(text))
    assert back.cells[0].value == math.inf and math.isnan(back.cells[0].abs_error)


def test_counts_and_failed():
    report = Report(
        cells=[make_cell(status="pass"), make_cell(status="known"), make_cell(status="fail")]
    )
    assert report.counts() == {"pass": 1, "known": 1, "fail": 1, "error": 0, "skip": 0}
    assert report.failed
    assert not Report(cells=[make_cell(status="known")]).failed


def test_merge_keeps_every_machine():
    a = Report(cells=[make_cell(machine="cpu-box")], environments=[{"machine": "cpu-box"}])
    b = Report(
        cells=[make_cell(machine="gpu-box", device="cuda:0")], environments=[{"machine": "gpu-box"}]
    )
    merged = merge([a, b])
    assert [c.machine for c in merged.cells] == ["cpu-box", "gpu-box"]
    assert [e["machine"] for e in merged.environments] == ["cpu-box", "gpu-box"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', "not a klverify report"),
        ('{"schema": "klverify-report/1", "cells": [{"backend": 1}]}', "malformed klverify report"),
        ("[]", "not a klverify report"),
    ],
)
def test_loading_a_bad_file_names_it(tmp_path, content, fragment):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ReportFormatError, match=fragment) as info:
        Report.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
