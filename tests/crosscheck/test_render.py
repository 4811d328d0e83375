from __future__ import annotations

from html.parser import HTMLParser

import pytest

from klverify.crosscheck import engine
from klverify.crosscheck.render import write_report
from klverify.crosscheck.render.markdown import render as render_md


@pytest.fixture(scope="module")
def report():
    pytest.importorskip("torch")
    return engine.run(
        engine.Options(
            backends=["numpy", "torch"],
            families=["masked", "dirichlet"],
            max_vocab=1000,
            dtypes=["float64", "float32"],
        )
    )


def test_markdown_has_the_status_table_findings_and_tolerances(report):
    md = render_md(report)
    assert md.startswith("# klverify consistency report")
    assert "| `torch:safe @cpu` | ✅" in md
    assert "known `torch:kl_div @cpu` returns NaN — float64 masked/V=1000,200 masked" in md
    assert "## Tolerances" in md and "| float32 | 32·eps·S |" in md


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.external.append(value)


def test_html_is_self_contained_with_plots(report, tmp_path):
    path = write_report(report, tmp_path / "r.html")
    parser = _Collect()
    parser.feed(path.read_text())
    assert parser.external == []  # no scripts, stylesheets or images fetched from anywhere
    assert "script" not in parser.tags
    assert parser.tags.count("svg") >= 3  # a heatmap per dtype and the scatter
    assert "rect" in parser.tags and "circle" in parser.tags


def test_write_report_refuses_unknown_extensions(report, tmp_path):
    with pytest.raises(ValueError, match=r"unknown report format '\.txt'"):
        write_report(report, tmp_path / "r.txt")
