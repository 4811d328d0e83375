"""flake8 entry point ``KLV``: the default klverify rules inside an existing flake8 run.

flake8 handles ``--select``/``--ignore`` and ``# noqa`` itself; this plugin adds the
file-level ``# klverify: noqa`` and ``[tool.klverify]`` (select / ignore / per-file-ignores)
from the nearest ``pyproject.toml``, so both tools agree on what is enabled.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from klverify import __version__


@lru_cache(maxsize=64)
def _settings(folder: str):
    from klverify.lint import config

    found = config.find(Path(folder))
    try:
        return config.load(found) if found is not None else config.Settings()
    except config.ConfigError:
        return config.Settings()


def _enabled(filename: str) -> frozenset[str]:
    from klverify.lint import selection

    settings = _settings(str(Path(filename).resolve().parent))
    ignored = [*settings.ignore, *settings.ignored_for(Path(filename))]
    try:
        return selection.resolve(settings.select, ignored, settings.extend_select)
    except selection.SelectorError:
        return selection.resolve(None)


def _read(filename: str) -> str | None:
    if filename in ("-", "stdin", "<stdin>"):
        try:
            from flake8.utils import stdin_get_value

            return stdin_get_value()
        except Exception:  # flake8 internals changed: lint nothing
            return None
    try:
        data = Path(filename).read_bytes()
    except OSError:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


class KLVerifyFlake8:
    """flake8 AST plugin: yields ``(line, column, "KLVnnn message", type)``."""

    name = "klverify"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str = "stdin") -> None:
        self.tree = tree
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        from klverify.lint.engine import lint_text

        source = _read(self.filename)
        if source is None or ("kl_div" not in source and "KLDivLoss" not in source):
            return
        tree = self.tree if isinstance(self.tree, ast.Module) else None
        for finding in lint_text(source, self.filename, _enabled(self.filename), tree):
            d = finding.diagnostic
            if d.code.startswith("KLV"):
                yield d.row, d.column - 1, f"{d.code} {d.message}", type(self)
