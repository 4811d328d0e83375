"""Which files a run reads: Python files under the given paths, minus excludes and ignores.

Exclusion follows Ruff: a default list of tool and environment folders, ``exclude`` /
``extend-exclude`` glob patterns matched against each name and against the path relative
to the project root, and ``.gitignore`` files (nested ones too). A file named on the
command line is always linted unless ``--force-exclude`` is given, which is what
pre-commit needs.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_EXCLUDE = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pyenv",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    ".vscode",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)
SUFFIXES = (".py", ".pyi")


def _glob_to_regex(glob: str) -> str:
    """Translate one gitignore glob (without the leading ``!`` or trailing ``/``)."""
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif c == "\\" and i + 1 < len(glob):
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass
class _Pattern:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def parse_gitignore(text: str) -> list[_Pattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.rstrip("\n\r")
        if not line.strip() or line.startswith("#"):
            continue
        if not line.endswith("\\ "):
            line = line.rstrip(" ")
        negate = line.startswith("!")
        if negate or line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _glob_to_regex(line)
        regex = f"^{body}$" if anchored else f"^(?:.*/)?{body}$"
        patterns.append(_Pattern(re.compile(regex, re.DOTALL), negate, dir_only))
    return patterns


class GitIgnore:
    """The ``.gitignore`` files that apply below a folder, loaded as the walk reaches them."""

    def __init__(self) -> None:
        self._cache: dict[Path, list[_Pattern]] = {}
        self._roots: dict[Path, Path | None] = {}

    def _patterns(self, folder: Path) -> list[_Pattern]:
        cached = self._cache.get(folder)
        if cached is None:
            cached = []
            for name in (".gitignore", ".git/info/exclude"):
                try:
                    text = (folder / name).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                cached += parse_gitignore(text)
            self._cache[folder] = cached
        return cached

    def _repo_root(self, folder: Path) -> Path | None:
        if folder not in self._roots:
            root = None
            for candidate in (folder, *folder.parents):
                if (candidate / ".git").exists():
                    root = candidate
                    break
            self._roots[folder] = root
        return self._roots[folder]

    def ignored(self, path: Path, is_dir: bool, top: Path | None = None) -> bool:
        """Whether git would ignore ``path`` (absolute), given every applicable .gitignore.

        Inside a repository every .gitignore up to its root applies; outside one, those
        from ``top`` (the folder being walked) down.
        """
        folder = path.parent
        stop = self._repo_root(folder) or top
        chain = []
        for candidate in (folder, *folder.parents):
            chain.append(candidate)
            if candidate == stop:
                break
        else:
            chain = [folder]
        verdict = False
        for base in reversed(chain):  # outer files first, inner ones override
            patterns = self._patterns(base)
            if not patterns:
                continue
            relative = path.relative_to(base).as_posix()
            for pattern in patterns:
                if pattern.dir_only and not is_dir:
                    continue
                if pattern.regex.match(relative):
                    verdict = not pattern.negate
        return verdict


@dataclass
class Excluder:
    """Decides what the walk skips."""

    root: Path
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    respect_gitignore: bool = True
    gitignore: GitIgnore = field(default_factory=GitIgnore)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        names = [p for p in self.exclude if "/" not in p and not any(c in p for c in "*?[")]
        self._names = frozenset(names)
        self._globs = [p for p in self.exclude if p not in self._names]

    def excluded(self, path: Path, is_dir: bool, top: Path | None = None) -> bool:
        name = path.name
        if name in self._names:
            return True
        if self._globs:
            try:
                relative = path.relative_to(self.root).as_posix()
            except ValueError:
                relative = path.as_posix()
            for glob in self._globs:
                pattern = glob.rstrip("/")
                if (
                    fnmatch.fnmatchcase(name, pattern)
                    or fnmatch.fnmatchcase(relative, pattern.lstrip("./"))
                    or fnmatch.fnmatchcase(path.as_posix(), pattern)
                ):
                    return True
        return self.respect_gitignore and self.gitignore.ignored(path, is_dir, top)

    def excluded_with_parents(self, path: Path, is_dir: bool) -> bool:
        """For a path named on the command line under ``--force-exclude``."""
        if self.excluded(path, is_dir):
            return True
        return any(self.excluded(parent, True) for parent in path.parents if parent != path)


def discover(paths: list[Path], excluder: Excluder, force_exclude: bool = False) -> list[Path]:
    """The files to lint, sorted, each once; missing paths are returned too (for E902)."""
    found: dict[str, Path] = {}
    for given in paths:
        path = Path(os.path.abspath(given))
        if path.is_dir():
            if force_exclude and excluder.excluded_with_parents(path, True):
                continue
            _walk(path, Path(given), excluder, found)
        else:
            if force_exclude and excluder.excluded_with_parents(path, False):
                continue
            found.setdefault(str(path), Path(given))
    return sorted(found.values(), key=lambda p: p.as_posix())


def _walk(folder: Path, shown: Path, excluder: Excluder, found: dict[str, Path]) -> None:
    stack = [(folder, shown)]
    while stack:
        current, current_shown = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if not is_dir and not name.endswith(SUFFIXES):
                continue
            path = current / name
            if excluder.excluded(path, is_dir, folder):
                continue
            if is_dir:
                stack.append((path, current_shown / name))
            else:
                found.setdefault(str(path), current_shown / name)
