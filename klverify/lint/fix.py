"""``--fix`` and ``--diff``: apply the safe edits, re-lint, repeat; write files atomically."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tempfile
from pathlib import Path

from klverify.lint.diagnostic import Edit, Finding
from klverify.lint.engine import decode, lint_text, may_contain_kl

MAX_ROUNDS = 10
_LINE_START = re.compile(r"\r\n|\r|\n")


def _offsets(source: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in _LINE_START.finditer(source))
    return starts


def apply_edits(source: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (positions are 1-based rows and character columns)."""
    starts = _offsets(source)

    def offset(row: int, column: int) -> int:
        return starts[row - 1] + column - 1

    pieces = []
    cursor = 0
    for edit in sorted(edits, key=lambda e: (e.row, e.column)):
        begin, end = offset(edit.row, edit.column), offset(edit.end_row, edit.end_column)
        pieces.append(source[cursor:begin])
        pieces.append(edit.content)
        cursor = end
    pieces.append(source[cursor:])
    return "".join(pieces)


def _compatible(findings: list[Finding]) -> list[Edit]:
    """Edits of fixable findings that do not touch each other; the rest wait a round."""
    chosen: list[Edit] = []
    taken: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for finding in findings:
        if not finding.edits:
            continue
        spans = [((e.row, e.column), (e.end_row, e.end_column)) for e in finding.edits]
        if any(not (end < s or e < start) for start, end in spans for s, e in taken):
            continue
        taken.extend(spans)
        chosen.extend(finding.edits)
    return chosen


def fix_text(source: str, filename: str, enabled: frozenset[str]) -> tuple[str, list[Finding], int]:
    """``(fixed source, findings left, number of fixes applied)``."""
    applied = 0
    findings = lint_text(source, filename, enabled)
    for _ in range(MAX_ROUNDS):
        edits = _compatible(findings)
        if not edits:
            break
        fixed = apply_edits(source, edits)
        new_findings = lint_text(fixed, filename, enabled)
        if any(f.diagnostic.code == "E902" for f in new_findings):
            break  # never write a file that no longer parses
        applied += len(findings) - len(new_findings)
        source, findings = fixed, new_findings
    return source, findings, applied


def fix_file(path: Path, enabled: frozenset[str]) -> tuple[str, str, list[Finding], int] | None:
    """Read ``path`` and compute its fix: ``(old, new, findings left, fixes)``; None if no KL."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not may_contain_kl(data):
        return None
    text = decode(data, str(path))
    if not isinstance(text, str):
        return None
    new, left, applied = fix_text(text, str(path), enabled)
    return text, new, left, applied


def write_atomic(path: Path, text: str, bom: bool = False) -> None:
    """Replace ``path`` in one step: a crash leaves either the old or the new file."""
    data = text.encode("utf-8")
    if bom:
        data = b"\xef\xbb\xbf" + data
    folder = path.parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".klverify", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temporary, os.stat(path).st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def unified_diff(filename: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=filename if os.path.isabs(filename) else f"a/{filename}",
            tofile=filename if os.path.isabs(filename) else f"b/{filename}",
        )
    )
