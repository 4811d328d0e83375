"""The scipy backend: rel_entr / log_softmax safe path against the exact reference."""

from __future__ import annotations

import numpy as np
import pytest

from klverify import kl
from klverify.backends import get_backend

from .cases import KINDS, SPACES, check_backend_against_reference, make_inputs, rounded

scipy = pytest.importorskip("scipy", reason="scipy is not installed (pip install klverify[scipy])")

DTYPES = ("float64", "float32")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("kind", KINDS)
def test_safe_path_matches_reference(rng, dtype, space, kind):
    check_backend_against_reference(rng, "scipy", dtype, space, kind)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_matches_reference(rng, temperature):
    check_backend_against_reference(
        rng, "scipy", "float64", "logits", "masked", temperature=temperature
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
def test_identical_inputs_give_exactly_zero(rng, dtype, space):
    p, _ = make_inputs(rng, space, "masked", (3, 20))
    a = rounded(p, dtype).astype(dtype)
    assert np.all(kl(a, a.copy(), space=space, reduction="none", backend="scipy") == 0)


def test_q_zero_where_p_positive_is_inf_and_p_zero_is_zero():
    p = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    q = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    terms = kl(p, q, reduction="none", backend="scipy")
    assert terms[0, 1] == np.inf and terms[1, 0] == 0 and terms[0, 2] == 0
    assert not np.isnan(terms).any()


def test_peaked_logits_finite_on_safe_path_but_not_on_rel_entr(rng):
    t, s = make_inputs(rng, "logits", "peaked", (8, 1000))
    t, s = t.astype(np.float32), s.astype(np.float32)
    safe = kl(t, s, space="logits", temperature=0.5, backend="scipy")
    assert np.isfinite(safe) and safe > 0
    plain = kl(t, s, space="logits", temperature=0.5, reduction="none", backend="scipy:rel_entr")
    assert not np.all(np.isfinite(plain))


def test_entropy_path_renormalises_and_returns_rows(rng):
    """scipy.stats.entropy renormalises: on normalised rows it agrees with the safe path."""
    p, q = make_inputs(rng, "prob", "random", (4, 9))
    rows_mean = kl(p, q, backend="scipy:entropy")
    assert rows_mean == pytest.approx(kl(p, q, backend="scipy"), rel=1e-13)
    with pytest.raises(ValueError, match="elementwise terms"):
        kl(p, q, reduction="none", backend="scipy:entropy")


def test_backend_describes_itself():
    backend = get_backend("scipy")
    assert backend.version() == scipy.__version__
    assert backend.devices() == ["cpu"]
    assert set(backend.paths()) >= {"safe", "rel_entr", "entropy"}
