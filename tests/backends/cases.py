"""Input generators and checks shared by the backend tests (plain functions, not fixtures).

Every generator returns float64 NumPy arrays ``(p, q)`` in the requested space; tests
round them to the dtype under test and compare with the exact reference *of the rounded
values*, within :func:`klverify.tolerances.allowed_error`.
"""

from __future__ import annotations

import numpy as np

from klverify import kl
from klverify.tolerances import allowed_error

SPACES = ("prob", "log_prob", "logits")
SCALAR_REDUCTIONS = ("sum", "batchmean", "mean", "distribution_mean")
KINDS = ("random", "near", "masked", "p_zeros", "peaked")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    s = x - m
    return s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True))


def logits_pair(
    rng: np.random.Generator, kind: str, shape: tuple[int, ...], std: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Teacher and student logits of one of the KINDS."""
    t = rng.normal(scale=std, size=shape)
    if kind == "near":
        s = t + 1e-6 * rng.normal(size=shape)
    elif kind == "peaked":
        t = rng.normal(scale=20.0, size=shape)
        s = t + rng.normal(scale=2.0, size=shape)
    else:
        s = rng.normal(scale=std, size=shape)
    if kind == "masked":  # a shared masked vocabulary: the last quarter of the outcomes
        n = shape[-1]
        t[..., n - max(1, n // 4) :] = -np.inf
        s[..., n - max(1, n // 4) :] = -np.inf
    if kind == "p_zeros":  # the teacher masks outcomes the student keeps
        t[..., ::3] = -np.inf
    return t, s


def make_inputs(
    rng: np.random.Generator,
    space: str,
    kind: str,
    shape: tuple[int, ...],
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(p, q)`` in ``space``; for prob/log_prob the logits are softened by ``temperature``."""
    t, s = logits_pair(rng, kind, shape)
    if space == "logits":
        return t, s
    lp, lq = _log_softmax(t / temperature), _log_softmax(s / temperature)
    if space == "log_prob":
        return lp, lq
    return np.exp(lp), np.exp(lq)


def rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` and back to float64 (NumPy dtypes; bfloat16 via ml_dtypes)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return x.astype(ml_dtypes.bfloat16).astype(np.float64)
    return x.astype(dtype).astype(np.float64)


def in_dtype(x: np.ndarray, space: str, dtype: str) -> np.ndarray:
    """float64 values exactly representable in ``dtype`` that pass validation there."""
    x = rounded(x, dtype)
    if space == "prob" and dtype != "float64":
        # Rounding can leave a row a few eps off 1; renormalise in float64 and round again
        # so validation sees a row as the dtype would store it.
        x = rounded(x / x.sum(-1, keepdims=True), dtype)
    return x


def to_float(x: object) -> float:
    """A 0-d result of any backend as a Python float."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return float(np.asarray(x, dtype=np.float64))


def to_numpy(x: object) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().to(dtype=__import__("torch").float64)
    return np.asarray(x, dtype=np.float64)


def assert_matches_reference(
    value: object,
    p: object,
    q: object,
    *,
    space: str,
    dtype: str,
    temperature: float = 1.0,
    reduction: str = "distribution_mean",
) -> None:
    """``value`` (computed in ``dtype`` from the native arrays ``p``, ``q``) is within the
    documented tolerance of the exact reference of those same values."""
    # The reference takes any array type, validates it with the tolerance of its own dtype
    # and computes on its exact float64 values.
    exact = kl(p, q, space=space, temperature=temperature, reduction=reduction, backend="reference")
    p64, q64 = to_numpy(p), to_numpy(q)
    got = to_float(value)
    if np.isinf(exact):
        assert got == exact, f"expected {exact}, got {got}"
        return
    tol = allowed_error(
        p64, q64, space=space, dtype=dtype, temperature=temperature, reduction=reduction
    )
    assert np.isfinite(got), f"got {got} for a finite KL {exact!r}"
    assert abs(got - exact) <= tol, f"|{got!r} - {exact!r}| = {abs(got - exact):.3g} > {tol:.3g}"


def check_backend_against_reference(
    rng: np.random.Generator,
    backend: str,
    dtype: str,
    space: str,
    kind: str,
    *,
    temperature: float = 1.0,
    shape: tuple[int, ...] = (3, 4, 37),
    make_array=None,
) -> None:
    """The safe path of ``backend`` on ``kind`` inputs rounded to ``dtype``, against the
    exact value of the rounded inputs, for every scalar reduction.

    ``make_array(values64, dtype)`` builds the native array (default: a NumPy array of
    ``dtype``, which ``kl`` converts to the backend's type)."""
    p, q = make_inputs(rng, space, kind, shape, temperature if space != "logits" else 1.0)
    t = temperature if space == "logits" else 1.0
    p64, q64 = in_dtype(p, space, dtype), in_dtype(q, space, dtype)
    build = make_array or (lambda v, d: v.astype(d))
    pn, qn = build(p64, dtype), build(q64, dtype)
    for reduction in SCALAR_REDUCTIONS:
        value = kl(
            pn,
            qn,
            space=space,
            temperature=t,
            reduction=reduction,
            backend=backend,
        )
        assert_matches_reference(
            value, pn, qn, space=space, dtype=dtype, temperature=t, reduction=reduction
        )
