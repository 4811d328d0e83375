"""``--klverify-lint``: one test item per Python file, failing with the linter's diagnostics.

Built the way pytest-ruff builds its items: ``pytest_collect_file`` returns a
:class:`LintFile` for every ``.py`` file pytest visits, which yields one
:class:`LintItem`. The item carries the ``klverify_lint`` marker, so ``-m klverify_lint``
runs only the linter, and ``-m "not klverify_lint"`` skips it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ITEM_NAME = "klverify-lint"


class LintError(Exception):
    """The file has diagnostics; ``args[0]`` is the formatted text."""


class LintFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        item = LintItem.from_parent(self, name=ITEM_NAME)
        item.add_marker("klverify_lint")
        yield item


class LintItem(pytest.Item):
    def runtest(self) -> None:
        try:
            from klverify.lint import format_text, lint_paths
        except ImportError as exc:
            raise LintError(
                f"--klverify-lint needs klverify.lint, which this klverify install lacks "
                f"({exc}); upgrade klverify or drop --klverify-lint"
            ) from None
        config = self.config
        select = config.getini("klverify_lint_select") or None
        ignore = config.getini("klverify_lint_ignore") or None
        diagnostics = lint_paths([self.path], select=select, ignore=ignore)
        if diagnostics:
            shown = _relative_to(self.path, config.rootpath)
            lines = [format_text(dataclasses.replace(d, filename=shown)) for d in diagnostics]
            lines.append(
                f"{len(diagnostics)} klverify lint finding(s): see `klverify rule CODE` for each "
                "rule; silence one line with `# noqa: CODE`"
            )
            raise LintError("\n".join(lines))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, LintError):
            return str(excinfo.value.args[0])
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, None, str]:
        # The domain names the item in failure headers and -v lines: "path::klverify-lint".
        return self.path, None, ITEM_NAME


def _relative_to(path: Path, root: Path) -> str:
    """The path as the user sees it in pytest's output: relative to the rootdir if inside it."""
    try:
        return os.fspath(path.relative_to(root))
    except ValueError:
        return os.fspath(path)
