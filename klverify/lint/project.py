"""From paths and options to (file, enabled codes) jobs: config, selection, discovery."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from klverify.lint import config as config_mod
from klverify.lint import selection
from klverify.lint.discovery import DEFAULT_EXCLUDE, Excluder, discover


@dataclass
class Options:
    """Command-line options; ``None`` means "not given, use the configuration file"."""

    select: Sequence[str] | None = None
    ignore: Sequence[str] | None = None
    extend_select: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    extend_exclude: Sequence[str] | None = None
    force_exclude: bool | None = None
    respect_gitignore: bool | None = None
    config: Path | None = None


def plan(
    paths: Sequence[str | os.PathLike[str]], options: Options
) -> list[tuple[Path, frozenset[str]]]:
    """The files to lint and the codes enabled for each.

    Raises :class:`~klverify.lint.config.ConfigError` or
    :class:`~klverify.lint.selection.SelectorError` for unusable settings.
    """
    given = [Path(p) for p in paths] or [Path(".")]
    settings = config_mod.discover(given, options.config)
    select = list(options.select) if options.select is not None else settings.select
    ignore = [*settings.ignore, *(options.ignore or ())]
    extend = [*settings.extend_select, *(options.extend_select or ())]
    base = selection.resolve(select, ignore, extend)
    exclude = list(options.exclude) if options.exclude is not None else settings.exclude
    exclude = [*(exclude if exclude is not None else DEFAULT_EXCLUDE), *settings.extend_exclude]
    exclude += list(options.extend_exclude or ())
    force = options.force_exclude if options.force_exclude is not None else settings.force_exclude
    respect = (
        options.respect_gitignore
        if options.respect_gitignore is not None
        else settings.respect_gitignore
    )
    excluder = Excluder(settings.root, exclude, respect)
    files = discover(given, excluder, force_exclude=force)
    jobs = []
    cache: dict[frozenset[str], frozenset[str]] = {}
    for path in files:
        ignored = frozenset(settings.ignored_for(path))
        if not ignored:
            jobs.append((path, base))
            continue
        if ignored not in cache:
            cache[ignored] = selection.resolve(select, [*ignore, *ignored], extend)
        jobs.append((path, cache[ignored]))
    return jobs
