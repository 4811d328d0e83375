"""``klverify backends``: which backends are installed, their versions, devices, dtypes, paths.

Imports only the standard library at import time; the registry (and with it numpy and each
framework) loads inside :func:`run`, so ``klverify --help`` stays light.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backends",
        help="list backends, versions, devices and dtypes, and what is missing",
        description=(
            "List klverify's backends: installed version, devices, dtypes and paths "
            "(safe = what klverify.kl uses; plain = the framework's API as users write it). "
            "A backend that is not installed shows the pip extra that installs it."
        ),
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="plain-text table (default) or JSON",
    )
    parser.set_defaults(func=run)


def collect() -> list[dict[str, Any]]:
    """One record per backend, in registry order; never raises for a missing framework."""
    from klverify.backends import SPECS, get_backend, is_installed

    records: list[dict[str, Any]] = []
    for name, spec in SPECS.items():
        record: dict[str, Any] = {
            "name": name,
            "installed": False,
            "version": None,
            "devices": [],
            "dtypes": [],
            "paths": {"safe": [], "plain": []},
            "extra": spec.extra,
            "install": f"pip install klverify[{spec.extra}]",
            "error": None,
        }
        if is_installed(name):
            try:
                backend = get_backend(name)
                paths = backend.paths()
                record.update(
                    installed=True,
                    version=backend.version(),
                    devices=list(backend.devices()),
                    dtypes=list(backend.dtypes()),
                    paths={
                        "safe": [p for p, path in paths.items() if not path.plain],
                        "plain": [p for p, path in paths.items() if path.plain],
                    },
                )
            except Exception as exc:  # a broken install: report it rather than crash
                record["error"] = f"{type(exc).__name__}: {exc}"
        records.append(record)
    return records


def _version_cell(record: dict[str, Any]) -> str:
    if record["installed"]:
        return str(record["version"])
    if record["error"]:
        return f"broken ({record['error']})"
    return f"not installed ({record['install']})"


def _rows(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["backend", "version", "devices", "dtypes", "safe paths", "plain paths"]
    rows = [
        [
            r["name"],
            _version_cell(r),
            ", ".join(r["devices"]) or "-",
            ", ".join(r["dtypes"]) or "-",
            ", ".join(r["paths"]["safe"]) or "-",
            ", ".join(r["paths"]["plain"]) or "-",
        ]
        for r in records
    ]
    return header, rows


def format_table(records: list[dict[str, Any]]) -> str:
    header, rows = _rows(records)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _print_rich(records: list[dict[str, Any]]) -> bool:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return False
    header, rows = _rows(records)
    table = Table(title="klverify backends")
    for column in header:
        table.add_column(column)
    for row, record in zip(rows, records, strict=True):
        style = None if record["installed"] else "dim"
        table.add_row(*row, style=style)
    Console().print(table)
    return True


def run(args: argparse.Namespace) -> int:
    records = collect()
    if args.format == "json":
        print(json.dumps({"backends": records}, indent=2))
    elif not (sys.stdout.isatty() and _print_rich(records)):
        print(format_table(records))
    return 0
