"""The tolerance model: its scale, its per-dtype factors, and that it is tight enough to
catch a wrong KL."""

from __future__ import annotations

import numpy as np
import pytest
from backends.cases import make_inputs

from klverify import kl
from klverify.tolerances import TOLERANCES, allowed_error, condition_scale, describe


def test_every_dtype_has_a_reasoned_tolerance():
    assert set(TOLERANCES) == {"float64", "float32", "float16", "bfloat16"}
    for name, k, k_grad, reason in describe():
        assert k > 0 and k_grad >= k and reason, name


def test_condition_scale_by_hand():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    scale = condition_scale(p, q, space="prob")
    expected = 0.5 * (np.log(2) + np.log(4) + 1)
    np.testing.assert_allclose(scale, [expected, expected, 0.0], rtol=1e-15)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(
            condition_scale(np.log(p), np.log(q), space="log_prob"), scale, rtol=1e-15
        )
        np.testing.assert_allclose(
            condition_scale(np.log(p), np.log(q), space="logits"), scale, rtol=1e-15
        )


def test_allowed_error_reduces_like_the_kl(rng):
    p, q = make_inputs(rng, "prob", "random", (2, 3, 8))
    terms = allowed_error(p, q, space="prob", dtype="float32", reduction="none")
    assert terms.shape == p.shape
    total = allowed_error(p, q, space="prob", dtype="float32", reduction="sum")
    assert total == pytest.approx(terms.sum(), rel=1e-14)
    assert allowed_error(
        p, q, space="prob", dtype="float32", reduction="batchmean"
    ) == pytest.approx(total / 2)
    assert allowed_error(p, q, space="prob", dtype="float32") == pytest.approx(total / 6)
    assert allowed_error(p, q, space="prob", dtype="float64", reduction="sum") == pytest.approx(
        total * 2.0**-29
    )


def test_tolerance_exceeds_the_kl_only_where_the_dtype_has_no_digits(rng):
    """P ≈ Q with KL ≈ 3e-11: float32 cannot resolve it (tolerance > KL); float64 can,
    to about 1%: its tolerance is k·eps·S ≈ 1e-13 whatever the KL."""
    t = rng.normal(size=(2, 64))
    s = t + 1e-5 * rng.normal(size=(2, 64))
    value = kl(t, s, space="logits", backend="reference")
    assert 1e-12 < value < 1e-9
    assert allowed_error(t, s, space="logits", dtype="float32") > value
    assert allowed_error(t, s, space="logits", dtype="float64") < value / 10


def test_tolerance_catches_a_wrong_reduction_and_a_wrong_order(rng):
    p, q = make_inputs(rng, "logits", "random", (4, 32))
    exact = kl(p, q, space="logits", backend="reference")
    tol = allowed_error(p, q, space="logits", dtype="float32")
    assert tol < 1e-3 * exact
    assert abs(kl(q, p, space="logits", backend="reference") - exact) > tol  # KL(Q‖P)
    assert abs(kl(p, q, space="logits", reduction="mean", backend="reference") - exact) > tol
