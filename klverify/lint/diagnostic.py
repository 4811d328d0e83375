"""What a lint run reports: a :class:`Diagnostic`, and the optional edit that fixes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from klverify.lint.rules import DOCS_URL, IO_ERROR_CODE


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``row`` and ``column`` are 1-based; columns count characters, not bytes."""

    code: str
    message: str
    filename: str
    row: int
    column: int
    end_row: int
    end_column: int

    @property
    def url(self) -> str | None:
        """Documentation page of the rule (``None`` for ``E902`` read/parse errors)."""
        if self.code == IO_ERROR_CODE:
            return None
        return f"{DOCS_URL}{self.code}.md"


@dataclass(frozen=True)
class Edit:
    """Replace the text between two 1-based (row, column) positions; columns in characters."""

    row: int
    column: int
    end_row: int
    end_column: int
    content: str


@dataclass(frozen=True)
class Finding:
    """A diagnostic plus the edits of its safe fix, if it has one."""

    diagnostic: Diagnostic
    edits: tuple[Edit, ...] = field(default=())


def format_text(diagnostic: Diagnostic) -> str:
    """``path:line:col: CODE message``, the format editors and CI log parsers understand."""
    d = diagnostic
    return f"{d.filename}:{d.row}:{d.column}: {d.code} {d.message}"
