"""flake8 plugin (real flake8), pre-commit hook fields, and the stdlib-only import rule."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BAD

ROOT = Path(__file__).resolve().parents[2]


def test_flake8_plugin(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "b.py").write_text(BAD.replace('"batchmean")', '"batchmean")  # noqa: KLV001'))
    (tmp_path / "c.py").write_text("# klverify: noqa\n" + BAD)
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "KLV", "a.py", "b.py", "c.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    # flake8 prints 1-based columns from the plugin's 0-based ones: same column as ours.
    assert lines[0].startswith("a.py:5:12: KLV001 input of `F.kl_div`")


def test_flake8_plugin_class_contract() -> None:
    import ast

    from klverify.lint.flake8_plugin import KLVerifyFlake8

    assert KLVerifyFlake8.name == "klverify" and KLVerifyFlake8.version
    assert list(KLVerifyFlake8(ast.parse("x = 1"), "does-not-exist.py").run()) == []


def test_pre_commit_hook_definition() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    yaml = pytest.importorskip("yaml")
    [hook] = yaml.safe_load(text)
    assert hook["id"] == "klverify"
    assert hook["entry"].startswith("klverify lint")
    assert "--force-exclude" in hook["entry"]
    assert hook["language"] == "python"
    assert set(hook["types_or"]) == {"python", "pyi"}
    if shutil.which("pre-commit") or (Path(sys.executable).parent / "pre-commit").exists():
        import cfgv
        from pre_commit.clientlib import MANIFEST_HOOK_DICT

        cfgv.validate(hook, MANIFEST_HOOK_DICT)


HEAVY = "heavy = sorted(m for m in ('numpy', 'torch', 'jax', 'scipy') if m in sys.modules)\n"


def _run(code: str, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def test_lint_imports_only_the_standard_library(tmp_path: Path) -> None:
    """The lint command, its API and every lint module, without the other subcommands."""
    (tmp_path / "a.py").write_text(BAD)
    code = (
        "import argparse, json, sys\n"
        "from klverify.lint import command, lint_paths\n"
        "import klverify.lint.flake8_plugin, klverify.lint.fix, klverify.lint.formats\n"
        "parser = argparse.ArgumentParser(); sub = parser.add_subparsers()\n"
        "command.register(sub)\n"
        "args = parser.parse_args(['lint', '--exit-zero', sys.argv[1]])\n"
        "args.func(args); lint_paths([sys.argv[1]])\n"
        + HEAVY
        + "print('HEAVY', json.dumps(heavy))\n"
    )
    lines = _run(code, str(tmp_path / "a.py"))
    assert "KLV001" in lines[0]
    assert lines[-1] == "HEAVY []"


def test_klverify_lint_cli_starts_without_numpy(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    code = (
        "import json, sys\nfrom klverify.cli import main\n"
        "main(['lint', '--exit-zero', sys.argv[1]])\n"
        + HEAVY
        + "print('HEAVY', json.dumps(heavy))\n"
    )
    assert _run(code, str(tmp_path / "a.py"))[-1] == "HEAVY []"


def test_lint_modules_have_no_third_party_imports() -> None:
    import ast

    allowed = set(sys.stdlib_module_names) | {"klverify", "tomli", "flake8"}
    for path in (ROOT / "klverify" / "lint").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            assert set(roots) <= allowed, (path.name, roots)
