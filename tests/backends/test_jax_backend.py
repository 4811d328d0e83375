"""The jax backend: jit-compiled log-space safe path against the exact reference, masks,
jax.grad against kl_grad, check_grads, and use under jax.jit."""

from __future__ import annotations

import numpy as np
import pytest

from klverify import kl, kl_grad
from klverify.backends import get_backend
from klverify.tolerances import TOLERANCES

from .cases import (
    KINDS,
    SCALAR_REDUCTIONS,
    SPACES,
    check_backend_against_reference,
    make_inputs,
    rounded,
    to_float,
)

jax = pytest.importorskip("jax", reason="jax is not installed (pip install klverify[jax])")
jnp = jax.numpy

DTYPES = ("float64", "float32", "float16", "bfloat16")
EPS64 = 2.0**-52


def array(values: np.ndarray, dtype: str = "float64"):
    return get_backend("jax").array(values, dtype)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("kind", KINDS)
def test_safe_path_matches_reference(rng, dtype, space, kind):
    check_backend_against_reference(
        rng, "jax", dtype, space, kind, shape=(3, 37), make_array=lambda v, d: array(v, d)
    )


@pytest.mark.parametrize("temperature", [0.5, 3.0])
def test_temperature_matches_reference(rng, temperature):
    check_backend_against_reference(
        rng,
        "jax",
        "float32",
        "logits",
        "masked",
        temperature=temperature,
        shape=(3, 37),
        make_array=lambda v, d: array(v, d),
    )


def test_float64_result_without_global_x64(rng):
    """The backend turns x64 on around float64 work only; the result stays float64."""
    p, q = make_inputs(rng, "logits", "random", (2, 9))
    value = kl(array(p), array(q), space="logits")
    assert value.dtype == np.float64
    assert not jax.config.jax_enable_x64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
def test_identical_inputs_give_exactly_zero(rng, dtype, space):
    p, _ = make_inputs(rng, space, "masked", (3, 37))
    a, b = array(rounded(p, dtype), dtype), array(rounded(p, dtype), dtype)
    assert np.all(np.asarray(kl(a, b, space=space, reduction="none")) == 0)


def test_masked_vocabulary_finite_value_and_gradient(rng, x64):
    t, s = make_inputs(rng, "logits", "masked", (2, 3, 16))
    tp, tq = array(t), array(s)
    value, grad = jax.value_and_grad(lambda q: kl(tp, q, space="logits", temperature=2.0))(tq)
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(np.asarray(grad)))
    assert np.all(np.asarray(grad)[..., -4:] == 0)


def test_masked_vocabulary_is_nan_with_plain_optax(rng):
    pytest.importorskip("optax", reason="optax is not installed (pip install klverify[optax])")
    t, s = make_inputs(rng, "logits", "masked", (2, 16))
    value = kl(array(t, "float32"), array(s, "float32"), space="logits", backend="jax:optax")
    assert np.isnan(to_float(value))


def test_q_zero_where_p_positive_is_inf_and_p_zero_is_zero():
    p = array(np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]), "float32")
    q = array(np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]), "float32")
    terms = np.asarray(kl(p, q, reduction="none"))
    assert terms[0, 1] == np.inf and terms[1, 0] == 0 and terms[0, 2] == 0
    assert not np.isnan(terms).any()
    assert to_float(kl(p, q, reduction="sum")) == np.inf


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_peaked_logits_finite_on_safe_path_but_not_on_rel_entr(rng, dtype):
    t, s = make_inputs(rng, "logits", "peaked", (8, 1000))
    tt, ts = array(t, dtype), array(s, dtype)
    safe = to_float(kl(tt, ts, space="logits", temperature=0.5))
    assert np.isfinite(safe) and safe > 0
    if dtype == "float32":
        plain = kl(
            tt, ts, space="logits", temperature=0.5, reduction="none", backend="jax:rel_entr"
        )
        assert not np.all(np.isfinite(np.asarray(plain)))


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "jax safe path, space='prob': XLA on CPU flushes subnormal float32 inputs to zero, "
        "so jnp.log(1e-40) is -inf and a finite KL (45.36) comes back +inf"
    ),
)
def test_subnormal_probabilities_give_a_finite_kl():
    p = np.array([0.5, 0.5], dtype=np.float32)
    q = np.array([1 - 1e-40, 1e-40], dtype=np.float32)  # 1e-40 is subnormal in float32
    exact = kl(p, q, reduction="sum", backend="reference")
    assert 45 < exact < 46
    value = to_float(kl(jnp.asarray(p), jnp.asarray(q), reduction="sum"))
    assert abs(value - exact) <= 1e-4 * exact


def test_kl_under_jit_equals_eager(rng):
    """Under jax.jit the inputs are tracers: value checks are skipped, the result is the same."""
    t, s = make_inputs(rng, "logits", "masked", (2, 3, 16))
    tp, tq = array(t, "float32"), array(s, "float32")
    eager = kl(tp, tq, space="logits", temperature=2.0)
    jitted = jax.jit(lambda a, b: kl(a, b, space="logits", temperature=2.0))(tp, tq)
    # XLA fuses the reduction into the user's jitted graph differently from the eager call,
    # so the two may differ in the last bits of float32: a few ulps, not a different answer.
    assert abs(float(jitted) - float(eager)) <= 4 * np.spacing(np.float32(float(eager)))


def test_shape_errors_still_raise_under_jit(rng):
    from klverify import KLInputError

    with pytest.raises(KLInputError, match="shape"):
        jax.jit(lambda a, b: kl(a, b))(jnp.ones((2, 3)) / 3, jnp.ones((2, 4)) / 4)


# -------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("reduction", SCALAR_REDUCTIONS)
@pytest.mark.parametrize("kind", ["random", "masked", "near"])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_jax_grad_matches_kl_grad(rng, x64, reduction, kind, temperature):
    t, s = make_inputs(rng, "logits", kind, (2, 3, 11))
    tp, tq = array(t), array(s)
    g = jax.grad(lambda q: kl(tp, q, space="logits", temperature=temperature, reduction=reduction))(
        tq
    )
    exact = kl_grad(t, s, temperature=temperature, reduction=reduction)
    scale = {"sum": 1, "batchmean": 2, "mean": 66, "distribution_mean": 6}[reduction]
    atol = TOLERANCES["float64"].k_grad * EPS64 * 2 / temperature / scale
    np.testing.assert_allclose(np.asarray(g), exact, rtol=0, atol=atol)


def test_check_grads_on_the_safe_path(rng, x64):
    from jax.test_util import check_grads

    t, s = make_inputs(rng, "logits", "masked", (2, 7))
    tp, tq = array(t), array(s)
    # Finite differences cannot step from -inf; check the student's finite entries.
    finite = np.isfinite(s)

    def loss(free):
        q = jnp.asarray(s).at[finite].set(free)
        return kl(tp, q, space="logits", temperature=2.0, reduction="sum")

    check_grads(loss, (tq[finite],), order=1, modes=("rev",))


def test_hinton_gradient_formula(rng, x64):
    T = 2.5
    t, s = make_inputs(rng, "logits", "random", (4, 9))
    tp, tq = array(t), array(s)
    g = jax.grad(lambda q: T**2 * kl(tp, q, space="logits", temperature=T, reduction="sum"))(tq)
    expected = T * (jax.nn.softmax(tq / T, axis=-1) - jax.nn.softmax(tp / T, axis=-1))
    np.testing.assert_allclose(np.asarray(g), np.asarray(expected), rtol=0, atol=64 * EPS64 * T)


def test_backend_grad_method_matches_kl_grad(rng):
    t, s = make_inputs(rng, "logits", "masked", (3, 10))
    g = get_backend("jax").grad(array(t), array(s), temperature=1.5, axis=-1)
    np.testing.assert_allclose(
        g, kl_grad(t, s, temperature=1.5, reduction="sum"), rtol=0, atol=1e-14
    )


def test_backend_describes_itself():
    backend = get_backend("jax")
    assert backend.version() == jax.__version__
    assert backend.devices()[0] == "cpu"
    assert "safe" in backend.paths() and backend.paths()["rel_entr"].plain
