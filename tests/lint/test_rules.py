"""The rule table: unique stable codes, complete four-part docs, generated pages in sync."""

from __future__ import annotations

import re
from pathlib import Path

from klverify.lint import RULES, Diagnostic
from klverify.lint.docs import pages
from klverify.lint.rules import DOCS_URL

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_codes_and_names_are_unique_and_well_formed() -> None:
    names = [rule.name for rule in RULES.values()]
    assert len(set(names)) == len(names)
    for code, rule in RULES.items():
        assert code == rule.code
        assert re.fullmatch(r"KLV\d{3}", code)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)


def test_every_rule_has_the_four_parts() -> None:
    for rule in RULES.values():
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
            assert heading in rule.doc, (rule.code, heading)
        assert rule.summary and not rule.summary.endswith(".")


def test_default_set_is_the_issue_rules() -> None:
    defaults = {code for code, rule in RULES.items() if rule.default}
    assert defaults == {f"KLV00{i}" for i in range(1, 9)}
    assert {code for code, rule in RULES.items() if rule.fixable} == {"KLV003", "KLV005"}


def test_generated_rule_pages_are_committed_and_current() -> None:
    for name, content in pages().items():
        path = DOCS / "rules" / name
        assert path.is_file(), f"run `python -m klverify.lint.docs` to create {path}"
        assert path.read_text(encoding="utf-8") == content, f"{path} is stale"


def test_lint_md_lists_every_rule() -> None:
    text = (DOCS / "lint.md").read_text(encoding="utf-8")
    for code in RULES:
        assert f"rules/{code}.md" in text


def test_url_comes_from_one_constant() -> None:
    d = Diagnostic("KLV005", "m", "f.py", 1, 1, 1, 2)
    assert d.url == f"{DOCS_URL}KLV005.md" == RULES["KLV005"].url
    assert Diagnostic("E902", "m", "f.py", 1, 1, 1, 1).url is None
