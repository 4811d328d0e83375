"""Which rules run: ``select`` / ``extend-select`` / ``ignore`` with code prefixes and ``ALL``.

As in Ruff, ``select`` replaces the default set, ``extend-select`` adds to it, and
``ignore`` removes codes unless a *more specific* selector enables them again
(``--select KLV --ignore KLV005`` drops KLV005; ``--ignore KLV00 --extend-select KLV005``
keeps KLV005).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from klverify.lint.rules import DEFAULT_CODES, RULES


class SelectorError(ValueError):
    """A selector that matches no rule."""


def _check(selectors: Iterable[str]) -> list[str]:
    out = []
    for raw in selectors:
        selector = raw.strip().upper()
        if not selector:
            continue
        if selector != "ALL" and not any(code.startswith(selector) for code in RULES):
            raise SelectorError(
                f"unknown rule selector {raw!r}: use a code or prefix such as KLV001 or KLV, "
                "or ALL (`klverify rules` lists the codes)"
            )
        out.append(selector)
    return out


def _specificity(selectors: list[str], code: str) -> int:
    """Length of the longest selector matching ``code`` (ALL counts 0), -1 if none."""
    best = -1
    for selector in selectors:
        if selector == "ALL":
            best = max(best, 0)
        elif code.startswith(selector):
            best = max(best, len(selector))
    return best


def resolve(
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    extend_select: Sequence[str] | None = None,
) -> frozenset[str]:
    """The enabled codes. Raises :class:`SelectorError` for a selector that matches nothing."""
    chosen = _check(select) if select is not None else None
    extra = _check(extend_select or ())
    ignored = _check(ignore or ())
    enabled = set()
    for code in RULES:
        on = (chosen is None and code in DEFAULT_CODES) or (
            chosen is not None and _specificity(chosen, code) >= 0
        )
        on = on or _specificity(extra, code) >= 0
        if on:
            wanted = max(_specificity(chosen or [], code), _specificity(extra, code))
            dropped = _specificity(ignored, code)
            if dropped >= 0 and dropped >= wanted:
                on = False
        if on:
            enabled.add(code)
    return frozenset(enabled)
