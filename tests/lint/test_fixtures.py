"""Every fixture file against the diagnostics written inline as ``# KLV001: col`` comments.

As in flake8-bugbear's eval files: a line whose comment names ``CODE: column`` must get
exactly those diagnostics (1-based columns), and every other line must get none.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from klverify.lint import lint_source

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"\b(KLV\d{3}|E902): (\d+)")


def expected(source: str) -> set[tuple[int, int, str]]:
    found = set()
    for row, line in enumerate(source.splitlines(), start=1):
        if "#" not in line:
            continue
        comment = line[line.index("#") :]
        for code, column in EXPECT.findall(comment):
            found.add((row, int(column), code))
    return found


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.py")), ids=lambda p: p.name)
def test_fixture(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    got = {(d.row, d.column, d.code) for d in lint_source(source, path.name, select=["ALL"])}
    want = expected(source)
    assert want, "a fixture must expect at least one diagnostic"
    missing = sorted(want - got)
    unexpected = sorted(got - want)
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"
