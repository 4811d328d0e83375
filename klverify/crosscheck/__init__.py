"""The cross-check engine and consistency report (``klverify report``).

Public pieces: :class:`Case` and :func:`case_family` to add case families, :func:`run`
with :class:`Options`, and :class:`Report` / :class:`Cell` (JSON is the source of truth).
"""

from klverify.crosscheck.cases import Case, case_family
from klverify.crosscheck.model import Cell, Report, merge

__all__ = ["Case", "Cell", "Options", "Report", "case_family", "merge", "run"]


def __getattr__(name: str):  # engine imports the backends registry; keep it lazy
    if name in ("Options", "run"):
        from klverify.crosscheck import engine

        return getattr(engine, name)
    raise AttributeError(name)
