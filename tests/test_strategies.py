"""The strategies generate valid KL inputs by construction, with the structure they promise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klverify import kl
from klverify.strategies import (
    distribution_pairs,
    log_prob_rows,
    logits_rows,
    near_identical_pairs,
    probability_rows,
)

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from(["float64", "float32", "float16"])


@FAST
@given(st.data(), DTYPES, st.booleans(), st.booleans())
def test_probability_rows_pass_kl_validation(data, dtype, zeros, peaked):
    p = data.draw(probability_rows(dtype=dtype, zeros=zeros, peaked=peaked))
    assert p.dtype == np.dtype(dtype)
    assert np.all(p >= 0)
    assert np.all(p.sum(axis=-1, dtype=np.float64) > 0)
    assert float(kl(p, p, space="prob")) == pytest.approx(0, abs=1e-2)


@FAST
@given(st.data(), DTYPES, st.booleans(), st.booleans())
def test_logits_rows_masks_never_cover_a_row(data, dtype, masked, peaked):
    x = data.draw(logits_rows(dtype=dtype, masked=masked, peaked=peaked))
    assert x.dtype == np.dtype(dtype)
    assert not np.isnan(x).any() and not np.isposinf(x).any()
    assert np.isfinite(x).any(axis=-1).all()
    if not masked:
        assert np.isfinite(x).all()
    kl(x, x, space="logits")  # raises KLInputError for an invalid row


@FAST
@given(st.data(), st.booleans())
def test_peaked_rows_are_nearly_one_hot(data, masked):
    x = data.draw(logits_rows(dtype="float64", peaked=True, masked=masked))
    top2 = np.sort(x, axis=-1)[..., -2:]
    assert np.all(top2[..., 1] - top2[..., 0] >= 20)  # also holds when the runner-up is -inf


@FAST
@given(st.data(), DTYPES, st.sampled_from(["prob", "log_prob", "logits"]), st.booleans())
def test_pairs_share_masks_so_kl_is_finite(data, dtype, space, peaked):
    p, q = data.draw(distribution_pairs(space=space, dtype=dtype, masked=True, peaked=peaked))
    assert p.shape == q.shape and p.dtype == q.dtype == np.dtype(dtype)
    value = float(kl(p, q, space=space, backend="reference"))
    # rounded probabilities sum to 1 only within the dtype's rounding, so the literal
    # KL of the stored values may be a few eps below 0
    assert np.isfinite(value) and value >= -16 * float(np.finfo(dtype).eps)


@FAST
@given(st.data(), st.sampled_from(["prob", "log_prob", "logits"]), st.booleans())
def test_near_identical_pairs_have_small_kl(data, space, masked):
    p, q = data.draw(
        near_identical_pairs(space=space, dtype="float64", masked=masked, max_relative_change=1e-4)
    )
    value = float(kl(p, q, space=space, backend="reference"))
    assert -1e-15 <= value < 1e-3  # prob rows sum to 1 only within rounding: KL can be -1e-16


@FAST
@given(log_prob_rows(dtype="float32", masked=True))
def test_log_prob_rows_are_normalised(lp):
    assert np.all(lp <= 0)
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(axis=-1), 1, rtol=1e-5)


@settings(max_examples=5, deadline=None)
@given(near_identical_pairs(space="logits", shape=(8,), vocab=32000, dtype="float32", masked=True))
def test_large_vocab_is_drawn_from_a_seed(pair):
    p, q = pair
    assert p.shape == q.shape == (8, 32000)
    assert len(np.unique(p[np.isfinite(p)])) > 1000  # real variety, not one repeated fill value


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (logits_rows, {"dtype": "bfloat16"}, "cast in your framework"),
        (distribution_pairs, {"space": "probs"}, "space='probs' is not known"),
        (near_identical_pairs, {"max_relative_change": 2.0}, "must be in"),
    ],
)
def test_bad_arguments_say_what_to_do(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


def test_empty_shape_is_rejected_with_a_message():
    @given(logits_rows(shape=(0,), vocab=3))
    def draw_one(x):
        raise AssertionError("an empty shape must not be generated")

    with pytest.raises(ValueError, match="must be positive"):
        draw_one()
