"""``klverify lint``: find misuse of PyTorch's KL API by reading source, never running it.

The stable Python API: :class:`Diagnostic`, :func:`lint_source`, :func:`lint_paths`,
:func:`format_text` and :data:`RULES`. Everything here imports only the standard library.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from klverify.lint.diagnostic import Diagnostic, format_text
from klverify.lint.rules import RULES, Rule

__all__ = ["RULES", "Diagnostic", "Rule", "format_text", "lint_paths", "lint_source"]


def lint_source(
    source: str,
    filename: str = "<string>",
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
) -> list[Diagnostic]:
    """Diagnostics for one source text (``noqa`` honoured; default rules if ``select`` is None).

    Unlike :func:`lint_paths` there is no byte prefilter: the text is always analysed.
    """
    from klverify.lint import engine, selection

    enabled = selection.resolve(select, ignore)
    return [f.diagnostic for f in engine.lint_text(source, filename, enabled)]


def lint_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    config: Path | None = None,
) -> list[Diagnostic]:
    """Diagnostics for the Python files under ``paths``, as ``klverify lint`` finds them.

    Honours ``.gitignore``, the default excludes and ``[tool.klverify]`` (from ``config``
    or the nearest ``pyproject.toml``); ``select``/``ignore`` override the file.
    """
    from klverify.lint import engine, project

    jobs = project.plan(paths, project.Options(select=select, ignore=ignore, config=config))
    return [f.diagnostic for f in engine.empty_named_files(paths) + engine.run_files(jobs)]
