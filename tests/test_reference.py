"""The exact reference against an independent mpmath computation at 90 digits.

The mpmath value here is the literal formula Σ pᵢ·(log pᵢ − log qᵢ) on the exact float
inputs (for logits: on the exact softmax of the inputs divided by T), written
independently of ``klverify.reference``. A reference value passes when it is within one
ulp of float64 of it, ``|ref − exact| ≤ np.spacing(|exact|)``.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from backends.cases import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from klverify import KLInputError, kl, kl_grad, reference

PREC = 300  # bits: about 90 digits
ZERO = mpmath.mpf(2) ** -200  # below this the exact KL is 0 up to mpmath's own rounding


def mp_row(a: np.ndarray, b: np.ndarray, space: str, temperature: float) -> mpmath.mpf:
    with mpmath.workprec(PREC):
        mpf = mpmath.mpf
        if space == "prob":
            terms = [
                mpf(x) * (mpmath.log(mpf(x)) - mpmath.log(mpf(y)))
                for x, y in zip(a, b, strict=True)
                if x > 0
            ]
        elif space == "log_prob":
            terms = [
                mpmath.exp(mpf(x)) * (mpf(x) - mpf(y))
                for x, y in zip(a, b, strict=True)
                if x > -math.inf
            ]
        else:
            T = mpf(temperature)
            A = [mpf(x) / T for x in a if x > -math.inf]
            B = [mpf(y) / T for y in b if y > -math.inf]
            la = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in A))
            lb = mpmath.log(mpmath.fsum(mpmath.exp(y) for y in B))
            terms = [
                mpmath.exp(mpf(x) / T - la) * ((mpf(x) / T - la) - (mpf(y) / T - lb))
                for x, y in zip(a, b, strict=True)
                if x > -math.inf
            ]
        total = mpmath.fsum(terms)
        return mpf(0) if abs(total) < ZERO else total


def ulps(value: float, exact: mpmath.mpf) -> float:
    """|value − exact| in units of the float64 spacing at the exact value."""
    if exact == 0:
        return 0.0 if value == 0 else math.inf
    with mpmath.workprec(PREC):
        return float(abs(mpmath.mpf(value) - exact) / mpmath.mpf(np.spacing(abs(float(exact)))))


def near_pair(rng: np.random.Generator, space: str, n: int, delta: float, temperature: float):
    """P ≈ Q: student logits = teacher logits + delta·noise, so KL ≈ delta²/T²."""
    t = rng.normal(size=(2, n))
    s = t + delta * rng.normal(size=(2, n))
    if space == "logits":
        return t, s
    lt = t - np.log(np.sum(np.exp(t), axis=-1, keepdims=True))
    ls = s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True))
    return (lt, ls) if space == "log_prob" else (np.exp(lt), np.exp(ls))


cases = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(2, 16),  # outcomes
    st.sampled_from(["random", "masked", "p_zeros", "peaked", "near"]),
)


@pytest.mark.parametrize("space", ["prob", "log_prob", "logits"])
@settings(max_examples=40, deadline=None)
@given(case=cases, temperature=st.sampled_from([1.0, 0.5, 2.0, 3.0]))
def test_rows_within_one_ulp_of_mpmath(space, case, temperature):
    seed, n, kind = case
    rng = np.random.default_rng(seed)
    t = temperature if space == "logits" else 1.0
    p, q = make_inputs(rng, space, kind, (3, n), temperature)
    got = reference.kl_rows(p, q, space=space, temperature=t)
    for i in range(3):
        exact = mp_row(p[i], q[i], space, t)
        assert ulps(float(got[i]), exact) <= 1, (i, got[i], exact)


@pytest.mark.parametrize("space", ["prob", "log_prob", "logits"])
@pytest.mark.parametrize("delta", [1e-4, 1e-5, 1e-6, 1e-7])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_near_identical_within_one_ulp(rng, space, delta, temperature):
    """The cancellation regime: KL from about 1e-8 down to 1e-14 (below, for T = 3)."""
    t = temperature if space == "logits" else 1.0
    p, q = near_pair(rng, space, 12, delta, t)
    got = reference.kl_rows(p, q, space=space, temperature=t)
    for i in range(2):
        exact = mp_row(p[i], q[i], space, t)
        assert 0 < exact < 1e-6
        assert ulps(float(got[i]), exact) <= 1


@pytest.mark.parametrize("space", ["prob", "log_prob", "logits"])
def test_scalar_reductions_within_one_ulp(rng, space):
    """Rows stay in long double through the sum and the division and are rounded once."""
    p, q = make_inputs(rng, space, "masked", (2, 3, 9))
    rows = [mp_row(a, b, space, 1.0) for a, b in zip(p.reshape(6, 9), q.reshape(6, 9), strict=True)]
    total = mpmath.fsum(rows)
    for reduction, divisor in (
        ("sum", 1),
        ("batchmean", 2),
        ("mean", 54),
        ("distribution_mean", 6),
    ):
        got = kl(p, q, space=space, reduction=reduction, backend="reference")
        assert isinstance(got, float)
        assert ulps(got, total / divisor) <= 1, reduction


def test_distribution_mean_within_one_ulp():
    rng = np.random.default_rng(14)
    p = rng.dirichlet(np.ones(4), size=3)
    q = rng.dirichlet(np.ones(4), size=3)
    exact = mpmath.fsum(mp_row(a, b, "prob", 1.0) for a, b in zip(p, q, strict=True)) / 3
    assert ulps(kl(p, q, backend="reference"), exact) <= 1


def test_unnormalised_probabilities_are_taken_literally(rng):
    """Rows that sum to 1 ± a few eps are not renormalised: the exact value is the
    literal Σ p·(log p − log q) of the floats given."""
    p, q = make_inputs(rng, "prob", "random", (1, 10))
    p = p * (1 + 2**-50)
    q = q * (1 - 2**-50)
    got = kl(p, q, reduction="sum", backend="reference")
    assert ulps(got, mp_row(p[0], q[0], "prob", 1.0)) <= 1
    with mpmath.workprec(PREC):
        renormalised = mp_row(p[0] / p.sum(), q[0] / q.sum(), "prob", 1.0)
    assert got != float(renormalised)


def test_uncertified_rows_go_through_mpmath_and_stay_exact(rng, monkeypatch):
    """log_prob rows with KL ≈ 1e-13: the long-double error bound carries Σp + Σq ≈ 2,
    far above a quarter ulp of the KL, so the fast path hands the rows to mpmath."""
    calls = []
    original = reference._row_mp

    def spy(*args):
        calls.append(args[2])
        return original(*args)

    monkeypatch.setattr(reference, "_row_mp", spy)
    p, q = near_pair(rng, "log_prob", 12, 5e-7, 1.0)
    got = reference.kl_rows(p, q, space="log_prob")
    assert calls == ["log_prob", "log_prob"]
    for i in range(2):
        exact = mp_row(p[i], q[i], "log_prob", 1.0)
        assert 1e-14 < exact < 1e-12
        assert ulps(float(got[i]), exact) <= 1


def test_certified_rows_do_not_call_mpmath(rng, monkeypatch):
    if not reference.FAST_PATH:
        pytest.skip("long double is no wider than float64 here: every row uses mpmath")

    def fail(*args):
        raise AssertionError("mpmath fallback used for an easy row")

    monkeypatch.setattr(reference, "_row_mp", fail)
    p, q = make_inputs(rng, "logits", "random", (4, 50))
    assert np.all(reference.kl_rows(p, q, space="logits") > 0)


def test_infinite_rows():
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    q = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert reference.kl_rows(p, q, space="prob").tolist() == [math.inf, 0.0]
    with np.errstate(divide="ignore"):
        lp, lq = np.log(p), np.log(q)
    assert reference.kl_rows(lp, lq, space="logits").tolist() == [math.inf, 0.0]
    assert reference.kl_rows(lp, lq, space="log_prob")[0] == math.inf


@pytest.mark.parametrize("space", ["prob", "log_prob", "logits"])
def test_identical_inputs_give_exactly_zero(rng, space):
    p, _ = make_inputs(rng, space, "masked", (3, 9))
    assert np.all(reference.kl_rows(p, p.copy(), space=space) == 0)
    assert np.all(kl(p, p.copy(), space=space, reduction="none", backend="reference") == 0)


@pytest.mark.parametrize("space", ["prob", "log_prob", "logits"])
def test_terms_sum_to_the_rows(rng, space):
    p, q = make_inputs(rng, space, "masked", (3, 9))
    terms = kl(p, q, space=space, reduction="none", backend="reference")
    assert terms.shape == p.shape
    np.testing.assert_allclose(terms.sum(-1), reference.kl_rows(p, q, space=space), rtol=1e-14)


def test_logits_terms_within_one_ulp_when_p_near_q():
    rng = np.random.default_rng(3)
    t, s = near_pair(rng, "logits", 8, 1e-6, 1.0)
    terms = reference.terms(t, s, "logits", 1.0, -1)
    with mpmath.workprec(PREC):
        la = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(x)) for x in t[0]))
        lb = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(y)) for y in s[0]))
        for j in range(8):
            lp, lq = mpmath.mpf(t[0, j]) - la, mpmath.mpf(s[0, j]) - lb
            assert ulps(float(terms[0, j]), mpmath.exp(lp) * (lp - lq)) <= 1


def test_logit_shift_is_exact_when_the_shift_is_exact(rng):
    """Adding a power of two that keeps every logit exact leaves the reference unchanged."""
    t, s = make_inputs(rng, "logits", "masked", (3, 11))
    base = reference.kl_rows(t, s, space="logits")
    shifted = reference.kl_rows(t + 8.0, s - 16.0, space="logits")
    assert np.all(np.abs(shifted - base) <= np.spacing(base))


# ---------------------------------------------------------------------------- kl_grad
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_kl_grad_against_mpmath(rng, temperature):
    """d/ds KL(softmax(t/T) ‖ softmax(s/T)) = (softmax(s/T) − softmax(t/T)) / T per row."""
    t, s = make_inputs(rng, "logits", "masked", (2, 7))
    g = kl_grad(t, s, temperature=temperature, reduction="sum")
    with mpmath.workprec(PREC):
        T = mpmath.mpf(temperature)
        for i in range(2):
            ea = [mpmath.exp(mpmath.mpf(x) / T) if x > -math.inf else 0 for x in t[i]]
            eb = [mpmath.exp(mpmath.mpf(y) / T) if y > -math.inf else 0 for y in s[i]]
            sa, sb = mpmath.fsum(ea), mpmath.fsum(eb)
            for j in range(7):
                exact = (eb[j] / sb - ea[j] / sa) / T
                assert (
                    abs(mpmath.mpf(g[i, j]) - exact)
                    <= 2 * mpmath.mpf(np.spacing(abs(float(exact)))) + mpmath.mpf(2) ** -1074
                )


def test_kl_grad_masked_entries(rng):
    t = np.array([[0.0, 1.0, -np.inf, -np.inf]])
    s = np.array([[0.5, 0.5, -np.inf, 2.0]])
    g = kl_grad(t, s, reduction="sum")
    assert g[0, 2] == 0  # shared mask: no gradient
    assert g[0, 3] > 0  # the student puts mass where the teacher has none: push it down
    assert np.all(np.isfinite(g))
    assert g.sum() == pytest.approx(0, abs=1e-15)


def test_kl_grad_reductions_scale(rng):
    t, s = make_inputs(rng, "logits", "random", (2, 3, 5))
    g_sum = kl_grad(t, s, reduction="sum")
    np.testing.assert_allclose(kl_grad(t, s, reduction="batchmean"), g_sum / 2, rtol=1e-15)
    np.testing.assert_allclose(kl_grad(t, s, reduction="mean"), g_sum / 30, rtol=1e-15)
    np.testing.assert_allclose(kl_grad(t, s), g_sum / 6, rtol=1e-15)
    with pytest.raises(KLInputError, match="reduction='none' has no gradient"):
        kl_grad(t, s, reduction="none")
    with pytest.raises(KLInputError, match="shape"):
        kl_grad(t, s[..., :4])
