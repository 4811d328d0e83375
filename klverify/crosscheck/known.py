"""The allow-list of documented framework disagreements (like array-api-tests' xfails file).

Each line of ``known-failures.txt`` is ``PATTERN  # reason``; PATTERN is matched with
fnmatch against ``backend:path/device/dtype/case``. A failing cell that matches is shown
as "known" with the reason: visible in every report, but not a failure of the run.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class KnownEntry:
    pattern: str
    reason: str
    source: str


def parse(text: str, source: str) -> list[KnownEntry]:
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, _, reason = line.partition("#")
        if not reason.strip():
            raise ValueError(f"{source}:{number}: a known failure needs a reason after '#'")
        entries.append(KnownEntry(pattern.strip(), reason.strip(), f"{source}:{number}"))
    return entries


def load(extra: list[str] | None = None) -> list[KnownEntry]:
    """The built-in list plus any files the user names with ``--known``."""
    builtin = resources.files("klverify.crosscheck").joinpath("known-failures.txt")
    entries = parse(builtin.read_text(encoding="utf-8"), "known-failures.txt")
    for path in extra or []:
        entries += parse(Path(path).read_text(encoding="utf-8"), path)
    return entries


def match(entries: list[KnownEntry], key: str) -> KnownEntry | None:
    for entry in entries:
        if fnmatch.fnmatchcase(key, entry.pattern):
            return entry
    return None
