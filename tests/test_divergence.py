"""Properties of ``klverify.kl`` over every installed backend, with hypothesis.

The documented bound (klverify.tolerances): a value computed in ``dtype`` is within
``allowed_error = k·eps(dtype)·Σ pᵢ(|log pᵢ| + |log qᵢ| + 1)`` (reduced like the KL) of
the exact KL of the same inputs. Hence KL ≥ −allowed_error, and that is what we assert.
"""

from __future__ import annotations

import numpy as np
import pytest
from backends.cases import SCALAR_REDUCTIONS, in_dtype, make_inputs, to_float, to_numpy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from klverify import REDUCTIONS, SPACES, kl
from klverify.backends import installed
from klverify.tolerances import allowed_error

BACKENDS = [b for b in ("numpy", "scipy", "torch", "jax") if b in installed()]
DTYPES = ("float64", "float32")

inputs = st.tuples(
    st.integers(0, 2**32 - 1),
    st.sampled_from([(4, 7), (2, 3, 16)]),
    st.sampled_from(["random", "near", "masked", "p_zeros", "peaked"]),
)


def native(x: np.ndarray, backend: str, dtype: str):
    """NumPy arrays for numpy/scipy (kl converts them); the framework's own array otherwise."""
    if backend in ("numpy", "scipy"):
        return x.astype(dtype)
    from klverify.backends import get_backend

    return get_backend(backend).array(x, dtype)


def test_public_names():
    assert SPACES == ("prob", "log_prob", "logits")
    assert REDUCTIONS == ("none", "sum", "batchmean", "mean", "distribution_mean")
    assert "P the reference/teacher" in kl.__doc__ and "F.kl_div(log q, p)" in kl.__doc__


def test_math_order_is_kl_p_given_q():
    p, q = np.array([0.9, 0.1]), np.array([0.5, 0.5])
    forward = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert kl(p, q, reduction="sum") == pytest.approx(forward, rel=1e-15)
    assert kl(q, p, reduction="sum") != pytest.approx(forward, rel=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
@settings(max_examples=25, deadline=None)
@given(case=inputs, temperature=st.sampled_from([1.0, 0.5, 2.0]))
def test_nonnegative_within_bound_and_agrees_with_reference(
    backend, dtype, space, case, temperature
):
    seed, shape, kind = case
    t = temperature if space == "logits" else 1.0
    p, q = make_inputs(np.random.default_rng(seed), space, kind, shape, temperature)
    p64, q64 = in_dtype(p, space, dtype), in_dtype(q, space, dtype)
    if backend == "jax" and space == "prob":
        # XLA on CPU flushes subnormals to zero: see the xfail in test_jax_backend.py.
        tiny = np.finfo(dtype).tiny
        assume(not np.any((p64 > 0) & (p64 < tiny)) and not np.any((q64 > 0) & (q64 < tiny)))
    pn, qn = native(p64, backend, dtype), native(q64, backend, dtype)
    for reduction in ("sum", "distribution_mean"):
        value = to_float(
            kl(pn, qn, space=space, temperature=t, reduction=reduction, backend=backend)
        )
        exact = kl(pn, qn, space=space, temperature=t, reduction=reduction, backend="reference")
        bound = allowed_error(
            p64, q64, space=space, dtype=dtype, temperature=t, reduction=reduction
        )
        if exact == np.inf:  # a probability underflowed to 0 in q where p > 0
            assert value == np.inf
            continue
        assert value >= -bound
        assert abs(value - exact) <= bound


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("space", SPACES)
@settings(max_examples=25, deadline=None)
@given(case=inputs)
def test_kl_of_p_with_itself_is_zero(backend, space, case):
    seed, shape, kind = case
    p, _ = make_inputs(np.random.default_rng(seed), space, kind, shape)
    for dtype in DTYPES:
        a, b = native(p, backend, dtype), native(p, backend, dtype)
        assert to_float(kl(a, b, space=space, reduction="sum", backend=backend)) == 0


@pytest.mark.parametrize("backend", [*BACKENDS, "reference"])
@settings(max_examples=25, deadline=None)
@given(
    case=inputs,
    shift_p=st.floats(-50, 50),
    shift_q=st.floats(-50, 50),
    temperature=st.sampled_from([1.0, 0.5, 3.0]),
)
def test_logits_are_invariant_to_a_constant_per_row(backend, case, shift_p, shift_q, temperature):
    seed, shape, kind = case
    rng = np.random.default_rng(seed)
    t, s = make_inputs(rng, "logits", kind, shape)
    row_shape = (*shape[:-1], 1)
    t2 = t + shift_p * rng.uniform(0.5, 1.5, size=row_shape)
    s2 = s + shift_q * rng.uniform(0.5, 1.5, size=row_shape)
    dtype = "float64"
    be = "numpy" if backend == "reference" else backend
    base = to_float(
        kl(
            native(t, be, dtype),
            native(s, be, dtype),
            space="logits",
            temperature=temperature,
            backend=backend,
        )
    )
    moved = to_float(
        kl(
            native(t2, be, dtype),
            native(s2, be, dtype),
            space="logits",
            temperature=temperature,
            backend=backend,
        )
    )
    # Both are within allowed_error of their exact values, and the exact values differ
    # only through the rounding of the shifted logits (a few eps·|shift| per logit).
    tol = allowed_error(t, s, space="logits", dtype=dtype, temperature=temperature)
    tol += allowed_error(t2, s2, space="logits", dtype=dtype, temperature=temperature)
    tol += 8 * 2.0**-52 * (abs(shift_p) + abs(shift_q) + 1) * 1.5 / temperature
    assert abs(moved - base) <= tol


@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_relate_as_documented(rng, backend):
    B, L, V = 2, 3, 5
    t, s = make_inputs(rng, "logits", "random", (B, L, V))
    a, b = native(t, backend, "float64"), native(s, backend, "float64")
    values = {
        r: to_float(kl(a, b, space="logits", reduction=r, backend=backend))
        for r in SCALAR_REDUCTIONS
    }
    terms = kl(a, b, space="logits", reduction="none", backend=backend)
    assert tuple(terms.shape) == (B, L, V)
    total = values["sum"]
    assert to_numpy(terms).sum() == pytest.approx(total, rel=1e-14)
    assert values["batchmean"] == pytest.approx(total / B, rel=1e-14)
    assert values["mean"] == pytest.approx(total / (B * L * V), rel=1e-14)
    assert values["distribution_mean"] == pytest.approx(total / (B * L), rel=1e-14)


def test_distribution_mean_on_one_distribution_is_its_kl(rng):
    p, q = make_inputs(rng, "prob", "random", (7,))
    assert kl(p, q) == kl(p, q, reduction="sum")


def test_reference_backend_takes_any_array_type(rng):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    p, q = make_inputs(rng, "logits", "masked", (2, 9))
    from_torch = kl(torch.tensor(p), torch.tensor(q), space="logits", backend="reference")
    assert from_torch == kl(p, q, space="logits", backend="reference")
    assert isinstance(from_torch, float)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("space", ["logits", "log_prob"])
def test_student_mask_under_a_teacher_underflow_is_inf_not_nan(backend, space):
    """The teacher's probability exp(-200) underflows to 0 in float32 but is not 0: where the
    student masks that outcome the KL is +inf. Every safe path once returned 0·inf = NaN."""
    t = np.array([[0.0, -200.0, 1.0]])
    s = np.array([[0.0, -np.inf, 1.0]])
    if space == "log_prob":
        t, s = t - np.log(np.exp(t).sum()), s - np.log(np.exp(s).sum())
    assert kl(t, s, space=space, backend="reference") == np.inf
    for dtype in DTYPES:
        p, q = native(t, backend, dtype), native(s, backend, dtype)
        assert to_float(kl(p, q, space=space, backend=backend)) == np.inf, dtype
