"""``klverify report`` end to end: files, exit codes 0/1/2, --merge, user families."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def klverify(*args, cwd, env_path=None):
    import os

    env = dict(os.environ)
    if env_path:
        env["PYTHONPATH"] = f"{env_path}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "klverify", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


SMALL = ["--backends", "numpy,scipy", "--families", "one-hot,q-zero,zeros-in-p", "-q"]


def test_writes_three_files_and_exits_0(tmp_path):
    result = klverify("report", *SMALL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK:")
    for ext in ("json", "md", "html"):
        assert (tmp_path / f"klverify-report.{ext}").stat().st_size > 0
    data = json.loads((tmp_path / "klverify-report.json").read_text())
    assert data["schema"] == "klverify-report/1"
    assert {c["backend"] for c in data["cells"]} == {"numpy", "scipy"}


def test_a_failing_cell_exits_1(tmp_path):
    (tmp_path / "my_cases.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from klverify.crosscheck import Case, case_family

            @case_family("my-zeros")
            def my_zeros(rng):
                p = np.array([[0.5, 0.5, 0.0]])
                yield Case("my-zeros/tiny", "prob", p, np.array([[0.2, 0.3, 0.5]]))
            """
        )
    )
    result = klverify(
        "report",
        "--backends",
        "numpy",
        "--families",
        "my-zeros",
        "--cases-from",
        "my_cases",
        "-q",
        "--formats",
        "json",
        cwd=tmp_path,
        env_path=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("FAILED:")
    cells = json.loads((tmp_path / "klverify-report.json").read_text())["cells"]
    naive = [c for c in cells if c["path"] == "naive"]
    assert naive and all(c["status"] == "fail" and "NaN" in c["message"] for c in naive)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--backends", "numpy,tensorflow"], "--backends: unknown tensorflow"),
        (["--dtypes", "float8"], "--dtypes: unknown float8"),
        (["--families", "nope"], "--families: unknown nope"),
        (["--formats", "pdf"], "--formats: unknown pdf"),
        (["--max-vocab", "0"], "--max-vocab must be a positive"),
        (["--cases-from", "no_such_module_xyz"], "--cases-from no_such_module_xyz: cannot import"),
        (["--devices", "cuda:7"], "nothing to cross-check: no installed backend matches"),
    ],
)
def test_bad_usage_exits_2_with_one_line(tmp_path, args, fragment):
    result = klverify("report", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_merge_combines_machines_and_rejects_foreign_files(tmp_path):
    a = klverify("report", *SMALL, "--label", "box-a", "--output", "a", cwd=tmp_path)
    b = klverify("report", *SMALL, "--label", "box-b", "--output", "b", cwd=tmp_path)
    assert a.returncode == b.returncode == 0
    merged = klverify("report", "--merge", "a.json", "b.json", "--output", "m", "-q", cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    data = json.loads((tmp_path / "m.json").read_text())
    assert {c["machine"] for c in data["cells"]} == {"box-a", "box-b"}
    assert "box-a/cpu" in (tmp_path / "m.md").read_text()

    (tmp_path / "corrupt.json").write_text('{"schema": "klverify-rep')
    bad = klverify("report", "--merge", "a.json", "corrupt.json", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "corrupt.json: not valid JSON" in bad.stderr
