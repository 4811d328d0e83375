"""``[tool.klverify]`` in ``pyproject.toml``: found by walking up from the linted paths."""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_KEYS = {
    "select",
    "ignore",
    "extend-select",
    "exclude",
    "extend-exclude",
    "per-file-ignores",
    "force-exclude",
    "respect-gitignore",
}


class ConfigError(ValueError):
    """A configuration file that cannot be used; reported as a usage error (exit 2)."""


@dataclass
class Settings:
    """Options from the configuration file, before the command line overrides them."""

    root: Path = field(default_factory=Path.cwd)  # patterns are relative to this folder
    source: Path | None = None
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] | None = None
    extend_exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    force_exclude: bool = False
    respect_gitignore: bool = True

    def ignored_for(self, path: Path) -> set[str]:
        """Codes ``per-file-ignores`` switches off for ``path``."""
        if not self.per_file_ignores:
            return set()
        try:
            relative = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            relative = path.as_posix()
        codes: set[str] = set()
        for pattern, ignored in self.per_file_ignores.items():
            if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(path.name, pattern):
                codes.update(ignored)
        return codes


def _strings(table: dict, key: str, where: Path) -> list[str]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: [tool.klverify] {key} must be a list of strings")
    return value


def load(path: Path) -> Settings:
    """Read ``[tool.klverify]`` from ``path`` (a ``pyproject.toml``)."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("klverify", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.klverify] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r} in [tool.klverify]; "
            f"known keys: {', '.join(sorted(_KEYS))}"
        )
    settings = Settings(root=path.parent, source=path)
    if "select" in table:
        settings.select = _strings(table, "select", path)
    if "exclude" in table:
        settings.exclude = _strings(table, "exclude", path)
    for key in ("ignore", "extend-select", "extend-exclude"):
        if key in table:
            setattr(settings, key.replace("-", "_"), _strings(table, key, path))
    for key in ("force-exclude", "respect-gitignore"):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{path}: [tool.klverify] {key} must be true or false")
            setattr(settings, key.replace("-", "_"), table[key])
    pfi = table.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError(f"{path}: [tool.klverify] per-file-ignores must be a table")
    for pattern in pfi:
        settings.per_file_ignores[pattern] = _strings(pfi, pattern, path)
    return settings


def find(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has ``[tool.klverify]``."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = pyproject.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if "[tool.klverify" in text:
                return pyproject
    return None


def discover(paths: list[Path], config: Path | None = None) -> Settings:
    """Settings from ``config`` if given, else from the first path's nearest pyproject."""
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"configuration file {config} does not exist")
        return load(config)
    found = find(paths[0] if paths else Path.cwd())
    return load(found) if found is not None else Settings()
