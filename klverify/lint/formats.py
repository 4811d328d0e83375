"""Output formats: text, json, sarif (2.1.0), github (workflow annotations), statistics."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from klverify.lint.diagnostic import Diagnostic, Finding, format_text
from klverify.lint.rules import DOCS_URL, IO_ERROR_CODE, RULES

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _fix_json(finding: Finding) -> dict | None:
    if not finding.edits:
        return None
    return {
        "applicability": "safe",
        "message": "apply the suggested argument",
        "edits": [
            {
                "content": e.content,
                "location": {"row": e.row, "column": e.column},
                "end_location": {"row": e.end_row, "column": e.end_column},
            }
            for e in finding.edits
        ],
    }


def to_json(findings: Sequence[Finding]) -> str:
    """A list of objects shaped like Ruff's JSON output."""
    items = []
    for finding in findings:
        d = finding.diagnostic
        items.append(
            {
                "code": d.code,
                "message": d.message,
                "filename": d.filename,
                "location": {"row": d.row, "column": d.column},
                "end_location": {"row": d.end_row, "column": d.end_column},
                "url": d.url,
                "fix": _fix_json(finding),
                "noqa_row": d.row,
            }
        )
    return json.dumps(items, indent=2, ensure_ascii=False)


def _uri(filename: str) -> str:
    path = Path(filename)
    return path.as_uri() if path.is_absolute() else path.as_posix()


def to_sarif(findings: Sequence[Finding], version: str) -> str:
    """One SARIF 2.1.0 run; every rule is listed with its documentation as help text."""
    rules = []
    index = {}
    for code, rule in RULES.items():
        index[code] = len(rules)
        rules.append(
            {
                "id": code,
                "name": rule.name,
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.summary},
                "help": {"text": rule.doc, "markdown": rule.doc},
                "helpUri": rule.url,
                "defaultConfiguration": {
                    "level": "warning" if code == "KLV007" else "error",
                    "enabled": rule.default,
                },
                "properties": {"fixable": rule.fixable},
            }
        )
    if any(f.diagnostic.code == IO_ERROR_CODE for f in findings):
        index[IO_ERROR_CODE] = len(rules)
        rules.append(
            {
                "id": IO_ERROR_CODE,
                "name": "io-error",
                "shortDescription": {"text": "A file could not be read or parsed"},
                "help": {"text": "The file could not be read, decoded as UTF-8 or parsed."},
            }
        )
    results = []
    for finding in findings:
        d = finding.diagnostic
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": "warning" if d.code == "KLV007" else "error",
                "message": {"text": d.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(d.filename)},
                            "region": {
                                "startLine": d.row,
                                "startColumn": d.column,
                                "endLine": d.end_row,
                                "endColumn": d.end_column,
                            },
                        }
                    }
                ],
            }
        )
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "klverify",
                        "version": version,
                        "informationUri": DOCS_URL,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(findings: Sequence[Finding]) -> str:
    """``::error`` workflow commands, one per line, which GitHub shows on the diff."""
    lines = []
    for finding in findings:
        d = finding.diagnostic
        level = "warning" if d.code == "KLV007" else "error"
        lines.append(
            f"::{level} title={_escape_property(f'klverify ({d.code})')},"
            f"file={_escape_property(d.filename)},line={d.row},col={d.column},"
            f"endLine={d.end_row},endColumn={d.end_column}::"
            f"{_escape_data(f'{d.filename}:{d.row}:{d.column}: {d.code} {d.message}')}"
        )
    return "\n".join(lines)


def to_text(findings: Sequence[Finding]) -> str:
    return "\n".join(format_text(f.diagnostic) for f in findings)


def statistics(findings: Sequence[Finding], output_format: str) -> str:
    """How often each code fired, most frequent first."""
    counts = Counter(f.diagnostic.code for f in findings)
    fixable = {f.diagnostic.code for f in findings if f.edits}
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if output_format == "json":
        return json.dumps(
            [
                {
                    "code": code,
                    "name": RULES[code].name if code in RULES else "io-error",
                    "count": count,
                    "fixable": code in fixable,
                }
                for code, count in rows
            ],
            indent=2,
        )
    width = max((len(str(c)) for c in counts.values()), default=1)
    return "\n".join(
        f"{count:>{width}}\t{code}\t{'[*] ' if code in fixable else ''}"
        f"{RULES[code].name if code in RULES else 'io-error'}"
        for code, count in rows
    )


def render(findings: Sequence[Finding], output_format: str, version: str) -> str:
    if output_format == "json":
        return to_json(findings)
    if output_format == "sarif":
        return to_sarif(findings, version)
    if output_format == "github":
        return to_github(findings)
    return to_text(findings)


def diagnostics(findings: Sequence[Finding]) -> list[Diagnostic]:
    return [f.diagnostic for f in findings]
