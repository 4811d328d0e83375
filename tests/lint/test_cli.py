"""``klverify lint`` / ``rule`` / ``rules`` end to end: exit codes, formats, config, fixes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import BAD, CLEAN, FIXABLE, run_cli

from klverify.cli import main

SCHEMA = Path(__file__).parent / "sarif-schema-2.1.0.json"  # OASIS errata01, vendored


def lint(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["lint", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    assert lint(capsys, "clean.py")[0] == 0
    code, out, _ = lint(capsys)
    assert code == 1
    assert out.splitlines()[0].startswith("bad.py:5:12: KLV001 ")
    assert lint(capsys, "--exit-zero")[0] == 0
    code, _, err = lint(capsys, "--select", "NOPE")
    assert code == 2 and "unknown rule selector" in err


def test_real_process_exit_code(project: Path) -> None:
    result = run_cli("lint", ".", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "KLV001" in result.stdout


def test_json_format(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    code, out, _ = lint(capsys, "--output-format", "json")
    items = json.loads(out)
    assert code == 1 and {i["code"] for i in items} == {"KLV001", "KLV003", "KLV005"}
    item = next(i for i in items if i["code"] == "KLV001")
    assert item["filename"] == "bad.py"
    assert item["location"] == {"row": 5, "column": 12}
    assert item["end_location"]["row"] == 5
    assert item["url"].endswith("KLV001.md")
    assert any(i["fix"] for i in items if i["code"] == "KLV003")


def test_sarif_format_is_valid(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    (project / "broken.py").write_text("kl_div(\n")
    code, out, _ = lint(capsys, "--output-format", "sarif")
    assert code == 1
    document = json.loads(out)
    jsonschema.validate(document, json.loads(SCHEMA.read_text(encoding="utf-8")))
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert all(r["help"]["text"] for r in rules)
    results = run["results"]
    assert {r["ruleId"] for r in results} == {"KLV001", "KLV003", "KLV005", "E902"}
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_github_format(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    _, out, _ = lint(capsys, "--output-format", "github", "bad.py")
    assert out.startswith("::error title=klverify (KLV001),file=bad.py,line=5,col=12,")
    assert "::bad.py:5:12: KLV001 " in out


def test_statistics(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    code, out, _ = lint(capsys, "--statistics")
    assert code == 1
    assert "KLV005\t[*] mean-reduction" in out
    _, out, _ = lint(capsys, "--statistics", "--output-format", "json")
    assert {row["code"]: row["count"] for row in json.loads(out)}["KLV001"] == 1


def test_diff_then_fix(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    code, out, _ = lint(capsys, "--diff", "fixable.py")
    assert code == 1
    assert "+    return F.kl_div(lq, F.log_softmax(t, -1), log_target=True, reduction=" in out
    assert (project / "fixable.py").read_text() == FIXABLE  # --diff writes nothing
    code, out, _ = lint(capsys, "--fix", "fixable.py")
    assert code == 0 and out == ""
    fixed = (project / "fixable.py").read_text()
    assert 'F.kl_div(lq, F.log_softmax(t, -1), log_target=True, reduction="batchmean")' in fixed
    assert lint(capsys, "fixable.py")[0] == 0
    assert not list(project.glob(".*.klverify"))  # no temporary file left behind


def test_fix_leaves_unsafe_cases(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    code, _, _ = lint(capsys, "--fix", "bad.py")
    assert code == 1 and (project / "bad.py").read_text() == BAD


def test_config_file(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    (project / "pyproject.toml").write_text('[tool.klverify]\nignore = ["KLV001"]\n')
    assert lint(capsys, "bad.py")[0] == 0
    (project / "pyproject.toml").write_text('[tool.klverify]\nselct = ["KLV001"]\n')
    code, _, err = lint(capsys, "bad.py")
    assert code == 2 and "unknown key 'selct'" in err
    (project / "pyproject.toml").write_text("[tool.klverify\n")
    assert lint(capsys, "bad.py")[0] == 2


def test_gitignore_and_excludes(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    (project / "generated").mkdir()
    (project / "generated" / "g.py").write_text(BAD)
    (project / ".venv").mkdir()
    (project / ".venv" / "v.py").write_text(BAD)
    (project / ".gitignore").write_text("generated/\n")
    (project / "fixable.py").write_text(CLEAN)
    _, out, _ = lint(capsys)
    assert "generated" not in out and ".venv" not in out and "bad.py" in out
    _, out, _ = lint(capsys, "--no-respect-gitignore")
    assert "generated/g.py" in out
    assert lint(capsys, "--extend-exclude", "bad.py")[0] == 0
    # A file named on the command line is linted unless --force-exclude.
    assert lint(capsys, "generated/g.py")[0] == 1
    assert lint(capsys, "--force-exclude", "generated/g.py")[0] == 0


def test_rule_and_rules(capsys) -> None:
    assert main(["rule", "KLV003"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# log-target-without-flag (KLV003)") and "## Use instead" in out
    assert main(["rule", "input-not-log-probs", "--output-format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["code"] == "KLV001"
    assert main(["rules"]) == 0
    assert capsys.readouterr().out.count("\n") == 11
    assert main(["rule", "KLV999"]) == 2


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_noqa_in_every_format(tmp_path: Path, capsys, monkeypatch, fmt: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(BAD.replace('"batchmean")', '"batchmean")  # noqa: KLV001'))
    code, out, _ = lint(capsys, "--output-format", fmt)
    assert code == 0 and "input of" not in out  # the message appears in every format
