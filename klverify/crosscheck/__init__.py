"""The cross-check engine and consistency report (``klverify report``).

Public pieces: :class:`Case` and :func:`case_family` to add case families, :func:`run`
with :class:`Options`, and :class:`Report` / :class:`Cell` (JSON is the source of truth).
Everything loads lazily: the CLI imports ``klverify.crosscheck.command`` to build its
parser, and that must not cost numpy (``klverify lint`` shares the parser).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Case", "Cell", "Options", "Report", "case_family", "merge", "run"]

_WHERE = {
    "Case": "klverify.crosscheck.cases",
    "case_family": "klverify.crosscheck.cases",
    "Cell": "klverify.crosscheck.model",
    "Report": "klverify.crosscheck.model",
    "merge": "klverify.crosscheck.model",
    "Options": "klverify.crosscheck.engine",
    "run": "klverify.crosscheck.engine",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'klverify.crosscheck' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
