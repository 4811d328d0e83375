"""Renderers of a Report: terminal, JSON, Markdown and one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

from klverify.crosscheck.model import Report


def write_report(report: Report, path: str | Path) -> Path:
    """Write ``report`` in the format its extension names (.json, .md, .html)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = report.to_json()
    elif suffix in (".md", ".markdown"):
        from klverify.crosscheck.render.markdown import render

        text = render(report)
    elif suffix in (".html", ".htm"):
        from klverify.crosscheck.render.html import render

        text = render(report)
    else:
        raise ValueError(f"{path}: unknown report format {suffix!r}: use .json, .md or .html")
    path.write_text(text, encoding="utf-8")
    return path
