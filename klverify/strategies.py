"""Hypothesis strategies for KL inputs that are valid by construction.

Every strategy builds its rows from float64 logits through an exact softmax, then rounds
to the requested dtype, so nothing is filtered (``assume`` is never called) and every
example passes :func:`klverify.kl`'s input checks: probabilities sum to 1 within the
dtype's rounding, masks (``-inf`` logits, zero probabilities) never cover a whole row,
and pairs share their masks so KL(P‖Q) is finite.

``shape`` is the leading (batch) shape and ``vocab`` the number of outcomes on the last
axis; each may be a fixed value or a strategy. Arrays are NumPy; convert them with
``torch.from_numpy`` or ``jnp.asarray``. Small arrays are drawn element by element (so
Hypothesis shrinks them well); arrays above :data:`ELEMENTWISE_LIMIT` entries, such as a
32000-token vocabulary, come from a drawn seed, which keeps generation fast.

Example::

    from hypothesis import given
    from klverify import kl
    from klverify.strategies import logits_rows, near_identical_pairs

    @given(near_identical_pairs(space="logits", dtype="float32", masked=True))
    def test_my_kl_is_small_and_nonnegative(pair):
        p, q = pair
        ...
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "ELEMENTWISE_LIMIT",
    "distribution_pairs",
    "log_prob_rows",
    "logits_rows",
    "near_identical_pairs",
    "probability_rows",
]

T = TypeVar("T")
ELEMENTWISE_LIMIT = 1024
DTYPES = ("float64", "float32", "float16")
SPACES = ("prob", "log_prob", "logits")
PEAK = (20.0, 60.0)  # a peaked row's top logit is this far above the rest: P(top) ≥ 1 − n·e^-20

ShapeArg = tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None
VocabArg = int | st.SearchStrategy[int] | None

_DEFAULT_SHAPE = st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple)
_DEFAULT_VOCAB = st.integers(2, 64)


def _strategy(value: T | st.SearchStrategy[T] | None, default: st.SearchStrategy[T]) -> Any:
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


def _check(dtype: str, space: str | None = None) -> None:
    if dtype not in DTYPES:
        hint = (
            ": generate float32 and cast in your framework (x.to(torch.bfloat16))"
            if dtype == "bfloat16"
            else ""
        )
        raise ValueError(
            f"dtype={dtype!r} is not one NumPy holds natively; use one of {', '.join(DTYPES)}{hint}"
        )
    if space is not None and space not in SPACES:
        raise ValueError(f"space={space!r} is not known: use one of {', '.join(SPACES)}")


# ------------------------------------------------------------------ raw pieces
@st.composite
def _dims(draw: st.DrawFn, shape: ShapeArg, vocab: VocabArg) -> tuple[int, ...]:
    lead = tuple(int(n) for n in draw(_strategy(shape, _DEFAULT_SHAPE)))
    n = int(draw(_strategy(vocab, _DEFAULT_VOCAB)))
    if n < 1 or any(d < 1 for d in lead):
        raise ValueError(f"shape={lead} and vocab={n} must be positive: a KL needs outcomes")
    return (*lead, n)


def _values(draw: st.DrawFn, full: tuple[int, ...], scale: float) -> np.ndarray:
    """float64 logits in [-scale, scale]."""
    if int(np.prod(full)) <= ELEMENTWISE_LIMIT:
        elements = st.floats(-scale, scale, allow_nan=False, allow_infinity=False)
        return draw(hnp.arrays(np.float64, full, elements=elements, fill=st.nothing()))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.uniform(-scale, scale, size=full)


def _indices(draw: st.DrawFn, full: tuple[int, ...]) -> np.ndarray:
    """One outcome index per row, shaped like the rows with a trailing axis of 1."""
    lead, n = full[:-1], full[-1]
    if int(np.prod(lead)) <= ELEMENTWISE_LIMIT:
        idx = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, n - 1), fill=st.nothing()))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        idx = rng.integers(0, n, size=lead)
    return np.asarray(idx, dtype=np.int64)[..., None]


def _peak(draw: st.DrawFn, x: np.ndarray) -> np.ndarray:
    """Set one entry per row 20–60 above the row's maximum (nearly one-hot); returns the indices."""
    idx = _indices(draw, x.shape)
    boost = draw(st.floats(*PEAK))
    np.put_along_axis(x, idx, np.max(x, axis=-1, keepdims=True) + boost, axis=-1)
    return idx


def _mask(draw: st.DrawFn, full: tuple[int, ...], keep: list[np.ndarray]) -> np.ndarray:
    """A boolean mask (True = masked) that leaves every ``keep`` index and one more unmasked."""
    if int(np.prod(full)) <= ELEMENTWISE_LIMIT:
        mask = draw(hnp.arrays(np.bool_, full, fill=st.nothing()))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        mask = rng.random(full) < draw(st.floats(0.0, 0.9))
    mask = np.array(mask, dtype=bool)
    for idx in [*keep, _indices(draw, full)]:
        np.put_along_axis(mask, idx, False, axis=-1)
    return mask


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _in_space(logits: np.ndarray, space: str, dtype: str) -> np.ndarray:
    """Express float64 logits (``-inf`` = masked) in ``space``, rounded to ``dtype``."""
    if space == "logits":
        return logits.astype(dtype)
    lp = _log_softmax(logits)
    if space == "log_prob":
        return lp.astype(dtype)
    prob = np.exp(lp)
    out = prob.astype(dtype)
    # A probability that underflows in the dtype would turn a finite KL into +inf for a
    # pair; keep it at the smallest positive value instead (a change far below rounding).
    tiny = np.finfo(dtype).smallest_subnormal
    return np.where((prob > 0) & (out == 0), np.asarray(tiny, dtype=dtype), out)


@st.composite
def _logits64(
    draw: st.DrawFn,
    shape: ShapeArg,
    vocab: VocabArg,
    masked: bool,
    peaked: bool,
    scale: float,
) -> np.ndarray:
    full = draw(_dims(shape, vocab))
    x = _values(draw, full, scale)
    keep = [_peak(draw, x)] if peaked else []
    if masked:
        x = np.where(_mask(draw, full, keep), -np.inf, x)
    return x


# ------------------------------------------------------------------- public API
def logits_rows(
    *,
    shape: ShapeArg = None,
    vocab: VocabArg = None,
    dtype: str = "float32",
    masked: bool = False,
    peaked: bool = False,
    scale: float = 10.0,
) -> st.SearchStrategy[np.ndarray]:
    """Logits of shape ``(*shape, vocab)`` in ``[-scale, scale]``.

    ``masked`` sets some entries to ``-inf`` (never a whole row); ``peaked`` puts one entry
    per row 20–60 above the others, the nearly one-hot rows where ``softmax`` then ``log`` underflows.
    """
    _check(dtype)
    return _logits64(shape, vocab, masked, peaked, float(scale)).map(lambda x: x.astype(dtype))


def probability_rows(
    *,
    shape: ShapeArg = None,
    vocab: VocabArg = None,
    dtype: str = "float64",
    zeros: bool = False,
    peaked: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Rows of probabilities summing to 1 (within ``dtype`` rounding); ``zeros`` adds exact zeros."""
    _check(dtype)
    return _logits64(shape, vocab, zeros, peaked, 10.0).map(lambda x: _in_space(x, "prob", dtype))


def log_prob_rows(
    *,
    shape: ShapeArg = None,
    vocab: VocabArg = None,
    dtype: str = "float32",
    masked: bool = False,
    peaked: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Rows of log-probabilities (``log_softmax`` of logits); ``masked`` adds ``-inf`` entries."""
    _check(dtype)
    return _logits64(shape, vocab, masked, peaked, 10.0).map(
        lambda x: _in_space(x, "log_prob", dtype)
    )


@st.composite
def _pairs(
    draw: st.DrawFn,
    space: str,
    shape: ShapeArg,
    vocab: VocabArg,
    dtype: str,
    masked: bool,
    peaked: bool,
    near: float | None,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    full = draw(_dims(shape, vocab))
    p = _values(draw, full, scale)
    keep = [_peak(draw, p)] if peaked else []
    if near is None:
        q = _values(draw, full, scale)
        if peaked:
            keep.append(_peak(draw, q))
    else:
        size = draw(st.floats(0.0, near))
        q = p + _values(draw, full, 1.0) * size * np.maximum(np.abs(p), 1.0)
    if masked:
        mask = _mask(draw, full, keep)
        p, q = np.where(mask, -np.inf, p), np.where(mask, -np.inf, q)
    return _in_space(p, space, dtype), _in_space(q, space, dtype)


def distribution_pairs(
    *,
    space: str = "logits",
    shape: ShapeArg = None,
    vocab: VocabArg = None,
    dtype: str = "float32",
    masked: bool = False,
    peaked: bool = False,
    scale: float = 10.0,
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Independent ``(p, q)`` in ``space`` with one shape; masks are shared, so KL is finite."""
    _check(dtype, space)
    return _pairs(space, shape, vocab, dtype, masked, peaked, None, float(scale))


def near_identical_pairs(
    *,
    space: str = "logits",
    shape: ShapeArg = None,
    vocab: VocabArg = None,
    dtype: str = "float32",
    masked: bool = False,
    peaked: bool = False,
    max_relative_change: float = 1e-3,
    scale: float = 10.0,
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """``(p, q)`` whose logits differ by at most ``max_relative_change`` relative (or 0).

    This is where KL ≈ 0 and naive formulas lose every digit to cancellation, or return
    small negative values.
    """
    _check(dtype, space)
    if not 0 <= max_relative_change < 1:
        raise ValueError(f"max_relative_change={max_relative_change!r} must be in [0, 1)")
    return _pairs(space, shape, vocab, dtype, masked, peaked, float(max_relative_change), scale)
