"""The numpy backend's safe path against the exact reference, and its edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from klverify import kl
from klverify.backends import get_backend

from .cases import KINDS, SPACES, check_backend_against_reference, make_inputs, rounded

DTYPES = ("float64", "float32", "float16")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("kind", KINDS)
def test_safe_path_matches_reference(rng, dtype, space, kind):
    check_backend_against_reference(rng, "numpy", dtype, space, kind)


@pytest.mark.parametrize("temperature", [0.5, 2.0, 3.0])
def test_temperature_matches_reference(rng, temperature):
    check_backend_against_reference(
        rng, "numpy", "float32", "logits", "random", temperature=temperature
    )


def test_result_is_numpy_float64_for_float64_input(rng):
    p, q = make_inputs(rng, "prob", "random", (2, 5))
    value = kl(p, q)
    assert isinstance(value, np.floating) and value.dtype == np.float64


def test_half_input_is_computed_in_float32(rng):
    p, q = make_inputs(rng, "logits", "random", (2, 5))
    value = kl(p.astype(np.float16), q.astype(np.float16), space="logits")
    assert value.dtype == np.float32


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_inputs_give_exactly_zero(rng, space, dtype):
    p, _ = make_inputs(rng, space, "masked", (3, 16))
    p = rounded(p, dtype).astype(dtype)
    for reduction in ("none", "sum"):
        value = kl(p, p.copy(), space=space, reduction=reduction)
        assert np.all(value == 0), value


def test_q_zero_where_p_positive_is_inf_not_nan():
    p = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    q = np.array([[1.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    terms = kl(p, q, reduction="none")
    assert terms[0, 1] == np.inf and not np.isnan(terms).any()
    assert kl(p, q, reduction="sum") == np.inf
    with np.errstate(divide="ignore"):
        lp, lq = np.log(p), np.log(q)
    assert kl(lp, lq, space="log_prob", reduction="sum") == np.inf
    assert kl(lp, lq, space="logits", reduction="sum") == np.inf


@pytest.mark.parametrize("space", ["prob", "log_prob"])
def test_p_zeros_give_zero_terms(space):
    p = np.array([0.0, 0.5, 0.5, 0.0])
    q = np.array([0.1, 0.4, 0.3, 0.2])
    if space == "log_prob":
        with np.errstate(divide="ignore"):
            p, q = np.log(p), np.log(q)
    terms = kl(p, q, space=space, reduction="none")
    assert terms[0] == 0 and terms[3] == 0
    assert np.all(np.isfinite(terms))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_peaked_logits_stay_finite_on_safe_path(rng, dtype):
    t, s = make_inputs(rng, "logits", "peaked", (8, 1000))
    t, s = t.astype(dtype), s.astype(dtype)
    value = kl(t, s, space="logits", temperature=0.5)
    assert np.isfinite(value)
    assert value > 0


def test_peaked_logits_break_the_naive_path(rng):
    """Why the safe path exists: the hand-written formula gives inf or NaN here."""
    t, s = make_inputs(rng, "logits", "peaked", (8, 1000))
    t, s = t.astype(np.float32), s.astype(np.float32)
    naive = kl(t, s, space="logits", temperature=0.5, reduction="none", backend="numpy:naive")
    assert not np.all(np.isfinite(naive))


def test_axis_other_than_last(rng):
    p, q = make_inputs(rng, "logits", "random", (4, 3, 9))
    moved = kl(np.moveaxis(p, -1, 0), np.moveaxis(q, -1, 0), space="logits", axis=0)
    assert moved == pytest.approx(kl(p, q, space="logits"), rel=1e-14)


def test_backend_describes_itself():
    backend = get_backend("numpy")
    assert backend.devices() == ["cpu"]
    assert "float64" in backend.dtypes()
    paths = backend.paths()
    assert not paths["safe"].plain and paths["naive"].plain
    assert backend.version() == np.__version__
