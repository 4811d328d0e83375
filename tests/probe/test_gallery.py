"""Every gallery loss gets exactly its expected diagnosis from ``klverify.probe``."""

from __future__ import annotations

import pytest

from klverify.probe import probe

from .gallery import GALLERY, Entry


def _normalise(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("entry", GALLERY, ids=[e.name for e in GALLERY])
def test_gallery_diagnosis(entry: Entry) -> None:
    if entry.expected.get("framework") == "jax":
        pytest.importorskip("optax")
    result = probe(entry.loss, **entry.options)
    got = result.to_dict()
    wrong = {
        key: (want, got[key])
        for key, want in entry.expected.items()
        if _normalise(want) != got[key]
    }
    assert not wrong, f"{entry.name}: (expected, got) {wrong}\n{result}"
    if result.direction not in ("none", "error"):
        # a KL-family fit is exact: these losses compute their formula in float64 / float32
        assert result.fit == "exact", str(result)


def test_gallery_is_big_enough() -> None:
    """The issue asks for at least 12 losses, correct and broken."""
    assert len(GALLERY) >= 12
    assert len({e.expected["direction"] for e in GALLERY}) >= 5
