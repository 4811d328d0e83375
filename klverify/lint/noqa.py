"""``# noqa`` comments: per line (``# noqa: KLV001``) and per file (``# klverify: noqa``).

Matching is by prefix, as in flake8 (``# noqa: KLV00`` silences KLV001..KLV009), and a
bare ``# noqa`` silences every code on its line.
"""

from __future__ import annotations

import re

_CODES = r"[A-Z]+[0-9]*(?:[\s,]+[A-Z]+[0-9]*)*"
_LINE = re.compile(rf"#\s*noqa(?:\s*:\s*(?P<codes>{_CODES}))?", re.IGNORECASE)
_FILE = re.compile(
    rf"^[ \t]*#[ \t]*klverify[ \t]*:[ \t]*noqa(?:[ \t]*:[ \t]*(?P<codes>{_CODES}))?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
ALL = None  # a blanket noqa


def _split(codes: str | None) -> frozenset[str] | None:
    if codes is None:
        return ALL
    return frozenset(c.upper() for c in re.split(r"[\s,]+", codes) if c)


def file_exemption(source: str) -> frozenset[str] | bool | None:
    """Codes a ``# klverify: noqa`` line exempts the file from: ``None`` = all, ``False`` = no line."""
    codes: set[str] = set()
    for match in _FILE.finditer(source):
        found = _split(match.group("codes"))
        if found is ALL:
            return ALL
        codes |= found
    return frozenset(codes) if codes else False


def line_exemption(line: str) -> frozenset[str] | bool | None:
    """Codes the ``# noqa`` comment on ``line`` silences (``None`` = all, ``False`` = no comment)."""
    if "noqa" not in line.lower():
        return False
    match = _LINE.search(line)
    if match is None:
        return False
    return _split(match.group("codes"))


def is_exempt(code: str, exemption: frozenset[str] | bool | None) -> bool:
    if exemption is False:
        return False
    if exemption is ALL:
        return True
    return any(code.startswith(prefix) for prefix in exemption)  # type: ignore[union-attr]
