"""The terminal summary: a rich table when rich is installed, plain text otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from klverify.crosscheck import summary
from klverify.crosscheck.model import Report
from klverify.crosscheck.render.markdown import cell_text


def render(report: Report, written: list[str], file: TextIO | None = None) -> None:
    file = file or sys.stdout
    dtypes = summary.dtypes_of(report)
    matrix = summary.status_matrix(report)
    found = summary.findings(report)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _plain(report, dtypes, matrix, found, written, file)
        return
    console = Console(file=file, highlight=False)
    table = Table(title="klverify consistency report", title_justify="left")
    table.add_column("backend:path @device", style="bold")
    for d in dtypes:
        table.add_column(d)
    for row, by_dtype in matrix.items():
        table.add_row(row, *(cell_text(by_dtype.get(d, {})) for d in dtypes))
    console.print(table)
    for f in found[:25]:
        tag = "[red bold]FAIL[/]" if f.status == "fail" else "[yellow]known[/]"
        console.print(
            f"{tag} {f.row}: {f.what} ({len(f.where)} cells, e.g. {f.where[0]})", markup=True
        )
    if len(found) > 25:
        console.print(f"... and {len(found) - 25} more findings in the report files")
    style = "red bold" if report.failed else "green bold"
    console.print(f"[{style}]{summary.headline(report)}[/]")
    for path in written:
        console.print(f"wrote {path}")


def _plain(report, dtypes, matrix, found, written, file) -> None:  # type: ignore[no-untyped-def]
    print("klverify consistency report", file=file)
    print("backend:path @device".ljust(40) + "".join(d.ljust(22) for d in dtypes), file=file)
    for row, by_dtype in matrix.items():
        print(
            row.ljust(40) + "".join(cell_text(by_dtype.get(d, {})).ljust(22) for d in dtypes),
            file=file,
        )
    for f in found:
        print(
            f"{f.status.upper()} {f.row}: {f.what} ({len(f.where)} cells, e.g. {f.where[0]})",
            file=file,
        )
    print(summary.headline(report), file=file)
    for path in written:
        print(f"wrote {path}", file=file)
