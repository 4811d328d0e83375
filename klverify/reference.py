"""The exact reference: KL of the given float inputs, correctly rounded to float64 (≤ 1 ulp).

What "exact" means (see docs/reference.md):

* ``space="prob"``: the real-number value of Σ pᵢ·(log pᵢ − log qᵢ) for the float values
  given, with 0·log 0 = 0 and +inf where qᵢ = 0 < pᵢ. Inputs that do not sum to exactly 1
  in floating point are *not* renormalised: every backend computes this same literal
  formula, so it is the value to compare them with. (Validation has already checked that
  the sums are within the dtype's rounding of 1.)
* ``space="log_prob"``: the same formula with pᵢ = exp(lpᵢ), qᵢ = exp(lqᵢ) taken exactly.
* ``space="logits"``: the KL between the exact softmax of the given logits divided by the
  temperature (real-number division): these distributions sum to exactly 1.

How: the KL is rewritten as a sum of non-negative terms, which has no cancellation:
Σ p·log(p/q) = Σ q·φ(p/q) + (Σp − Σq) with φ(r) = r·log r − r + 1 ≥ 0, and for logits
Σ q·ψ(d) with d = log p − log q and ψ(d) = 1 + (d − 1)·eᵈ ≥ 0. φ and ψ are evaluated by
their Taylor series near 0 and directly elsewhere, in 80-bit long double, with a running
bound on the rounding error of each row. A row whose bound is not below a quarter ulp of
float64 (or any row, where long double is no wider than float64) is recomputed with mpmath
at 256 bits. Final rounding to float64 then gives an error below 1 ulp.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from klverify.errors import KLInputError

LD = np.longdouble
EPS_LD = float(np.finfo(LD).eps)
# Accept the fast path when its error bound is below a quarter ulp of float64.
ACCEPT = 2.0**-55
# Long double must be wider than float64 for the fast path to be worth anything.
FAST_PATH = EPS_LD < 2.0**-60
MP_BITS = 256
SMALL = 0.125  # below this |u| or |d|, use the series

# φ(1+u) = Σ_{k≥2} (−1)^k u^k / (k(k−1)); 26 terms reach 2^-70 relative at |u| = 1/8.
_PHI_COEFFS = [LD((-1) ** k) / LD(k * (k - 1)) for k in range(2, 28)]
# ψ(d) = Σ_{k≥2} (k−1) d^k / k!; 16 terms are far below 2^-70 at |d| = 1/8.
_PSI_COEFFS = [LD(k - 1) / LD(math.factorial(k)) for k in range(2, 18)]


def _horner(coeffs: list[Any], x: np.ndarray) -> np.ndarray:
    acc = np.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * x + c
    return acc


def _phi(u: np.ndarray) -> np.ndarray:
    """φ(1+u) = (1+u)·log(1+u) − u ≥ 0 for u ≥ −1, accurate to a few long-double ulps."""
    out = np.empty_like(u)
    small = np.abs(u) < SMALL
    us = u[small]
    out[small] = us * us * _horner(_PHI_COEFFS, us)
    ul = u[~small]
    with np.errstate(invalid="ignore", divide="ignore"):
        big = (1 + ul) * np.log1p(ul) - ul
    big[ul == -1] = 1
    out[~small] = big
    return out


def _q_psi(q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """q·ψ(d) = p·d − p + q (p = q·eᵈ), which is ≥ 0, accurately."""
    out = np.empty_like(d)
    small = np.abs(d) < SMALL
    ds = d[small]
    out[small] = q[small] * ds * ds * _horner(_PSI_COEFFS, ds)
    dl, ql = d[~small], q[~small]
    with np.errstate(over="ignore", invalid="ignore"):
        pl = ql * np.exp(dl)
        out[~small] = pl * dl - pl + ql
    return out


# ----------------------------------------------------------------------------- rows
def _rows_prob(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(KL per row in long double, error bound per row) for probabilities."""
    n = p.shape[-1]
    P, Q = p.astype(LD), q.astype(LD)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(Q > 0, (P - Q) / np.where(Q > 0, Q, 1), 0)
    a_terms = np.where(Q > 0, Q * _phi(u), 0)
    A = a_terms.sum(axis=-1)
    C = np.empty(p.shape[0], dtype=LD)
    resid = np.empty(p.shape[0])
    for i in range(p.shape[0]):
        values = np.concatenate([p[i], -q[i]]).tolist()
        s = math.fsum(values)
        values.append(-s)
        r = math.fsum(values)
        C[i] = LD(s) + LD(r)
        resid[i] = abs(r)
    bound = EPS_LD * (8 + math.log2(max(n, 2))) * A + 2.0**-53 * resid
    return A + C, bound


def _rows_log_prob(lp: np.ndarray, lq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = lp.shape[-1]
    LP, LQ = lp.astype(LD), lq.astype(LD)
    both = (lp > -np.inf) & (lq > -np.inf)
    P, Q = np.exp(LP), np.exp(LQ)
    d = np.where(both, LP - np.where(both, LQ, 0), 0)
    terms = np.where(both, _q_psi(Q, d), np.where(lq > -np.inf, Q, 0))
    A = terms.sum(axis=-1)
    sp, sq = P.sum(axis=-1), Q.sum(axis=-1)
    log_n = math.log2(max(n, 2))
    bound = EPS_LD * (
        (16 + log_n) * A + 2 * (np.where(both, P * d * d, 0)).sum(axis=-1) + (4 + log_n) * (sp + sq)
    )
    return A + (sp - sq), bound


def _logits_parts(t: np.ndarray, s: np.ndarray, temperature: float) -> dict[str, np.ndarray]:
    """Q = softmax(s/T) and d = log P − log Q for 2-D logits, in long double.

    d is computed as (t − s − shift)/T − log(Σ Q·e^(...)) around a Q-weighted shift, so it
    keeps its relative accuracy when P ≈ Q, where two separately rounded log-softmaxes
    would cancel. Also returns what the rows' error bound needs.
    """
    T = LD(temperature)
    a_fin, b_fin = t > -np.inf, s > -np.inf
    both = a_fin & b_fin
    B_ = s.astype(LD) / T
    Q = np.exp(B_ - _lse(B_))  # 0 where masked
    D = np.where(both, t.astype(LD) - np.where(both, s, 0).astype(LD), 0)
    q_both = np.where(both, Q, 0)
    q_total = Q.sum(axis=-1, keepdims=True)
    tiny = LD(np.finfo(LD).tiny)
    shift = (q_both * D).sum(axis=-1, keepdims=True) / np.maximum(
        q_both.sum(axis=-1, keepdims=True), tiny
    )
    dp = np.where(both, (D - shift) / T, 0)
    em1 = np.expm1(dp)
    masked_mass = np.where(a_fin, 0, Q).sum(axis=-1, keepdims=True)
    X = ((q_both * em1).sum(axis=-1, keepdims=True) - masked_mass) / q_total
    dlse = np.log1p(X)
    d = np.where(both, dp - dlse, 0)
    s_abs = (q_both * np.abs(em1)).sum(axis=-1, keepdims=True) / q_total
    eta = 2 * EPS_LD * (np.abs(dp) + np.abs(dlse) + s_abs / (1 + X))
    return {"Q": Q, "d": d, "both": both, "a_fin": a_fin, "b_fin": b_fin, "eta": eta}


def _rows_logits(t: np.ndarray, s: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    parts = _logits_parts(t, s, temperature)
    Q, d, both = parts["Q"], parts["d"], parts["both"]
    terms = np.where(both, _q_psi(Q, d), np.where(parts["b_fin"], Q, 0))
    kl = terms.sum(axis=-1)
    with np.errstate(over="ignore", invalid="ignore"):
        p_abs_d = np.where(both, Q * np.exp(d) * np.abs(d), 0)
    bound = 16 * EPS_LD * kl + (p_abs_d * parts["eta"]).sum(axis=-1)
    return kl, bound


def _lse(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _row_mp(p: np.ndarray, q: np.ndarray, space: str, temperature: float) -> Any:
    """One row's KL with mpmath at MP_BITS bits: slow, for rows the fast path cannot certify."""
    import mpmath

    with mpmath.workprec(MP_BITS):
        mpf, log, exp = mpmath.mpf, mpmath.log, mpmath.exp
        if space == "prob":
            terms = [
                mpf(a) * (log(mpf(a)) - log(mpf(b))) for a, b in zip(p, q, strict=True) if a > 0
            ]
        elif space == "log_prob":
            terms = [
                exp(mpf(a)) * (mpf(a) - mpf(b)) for a, b in zip(p, q, strict=True) if a > -math.inf
            ]
        else:
            T = mpf(temperature)
            a = [mpf(x) / T for x in p]
            b = [mpf(x) / T for x in q]
            lse_a = _mp_lse(a)
            lse_b = _mp_lse(b)
            terms = [
                exp(x - lse_a) * ((x - lse_a) - (y - lse_b))
                for x, y, fx in zip(a, b, p, strict=True)
                if fx > -math.inf
            ]
        # 30 significant digits carry the value into long double exactly enough.
        return LD(mpmath.nstr(mpmath.fsum(terms), 30, strip_zeros=False))


def _mp_lse(values: list[Any]) -> Any:
    import mpmath

    finite = [v for v in values if v != -mpmath.inf]
    m = max(finite)
    return m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in finite))


def rows_ld(p: np.ndarray, q: np.ndarray, space: str, temperature: float = 1.0) -> np.ndarray:
    """KL of each row of 2-D float64 arrays (outcomes on the last axis) in long double,
    within a quarter ulp of float64 of the exact value: reductions round only once."""
    p = np.ascontiguousarray(p, dtype=np.float64)
    q = np.ascontiguousarray(q, dtype=np.float64)
    if space in ("logits", "log_prob"):
        infinite = np.any((p > -np.inf) & (q == -np.inf), axis=-1)
    else:
        infinite = np.any((p > 0) & (q == 0), axis=-1)
    out = np.full(p.shape[0], np.inf, dtype=LD)
    todo = np.flatnonzero(~infinite)
    if todo.size == 0:
        return out
    if FAST_PATH:
        pt, qt = p[todo], q[todo]
        if space == "prob":
            kl, bound = _rows_prob(pt, qt)
        elif space == "log_prob":
            kl, bound = _rows_log_prob(pt, qt)
        else:
            kl, bound = _rows_logits(pt, qt, temperature)
        kl, bound = kl.reshape(-1), bound.reshape(-1)
        certified = np.isfinite(kl) & (bound <= ACCEPT * np.abs(kl))
        out[todo[certified]] = kl[certified]
        todo = todo[~certified]
    for i in todo:
        out[i] = _row_mp(p[i], q[i], space, temperature)
    return out


def rows(p: np.ndarray, q: np.ndarray, space: str, temperature: float = 1.0) -> np.ndarray:
    """Exact KL of each row of 2-D float64 arrays, correctly rounded to float64 (≤ 1 ulp)."""
    return rows_ld(p, q, space, temperature).astype(np.float64)


# ------------------------------------------------------------------------- public
def _as_rows(x: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def terms(p: np.ndarray, q: np.ndarray, space: str, temperature: float, axis: int) -> np.ndarray:
    """Elementwise terms pᵢ·(log pᵢ − log qᵢ), each correctly rounded to float64."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    P, Q = _as_rows(p, axis).astype(LD), _as_rows(q, axis).astype(LD)
    with np.errstate(all="ignore"):
        if space == "prob":
            t = np.where(P > 0, P * np.log1p((P - Q) / Q), 0)
        elif space == "log_prob":
            t = np.where(P > -np.inf, np.exp(P) * (P - Q), 0)
        else:
            parts = _logits_parts(_as_rows(p, axis), _as_rows(q, axis), temperature)
            d = parts["d"]
            t = np.where(
                parts["both"],
                parts["Q"] * np.exp(d) * d,
                np.where(parts["a_fin"], np.inf, 0),  # teacher mass the student masks: +inf
            )
    moved_shape = np.moveaxis(p, axis, -1).shape
    return np.moveaxis(t.astype(np.float64).reshape(moved_shape), -1, axis)


def kl_rows(
    p: Any, q: Any, *, space: str, temperature: float = 1.0, axis: int = -1, dtype: Any = np.float64
) -> np.ndarray:
    """Exact KL per distribution, shaped like the input without ``axis``, correctly rounded
    to float64 (or kept in long double with ``dtype=np.longdouble``, for exact reductions)."""
    p = np.asarray(p, dtype=np.float64)
    out = rows_ld(_as_rows(p, axis), _as_rows(q, axis), space, temperature).astype(dtype)
    return out.reshape(np.delete(np.array(p.shape), axis % p.ndim).tolist())


def reduce_exact(
    row_values: np.ndarray, reduction: str, shape: tuple[int, ...], axis: int
) -> float:
    """Reduce per-distribution values kept in long double, rounding to float64 once.

    The rows are within a quarter ulp of float64 of the exact values; their long-double sum
    and quotient add far less than that, so the result is within 1 ulp.
    """
    total = np.asarray(row_values, dtype=LD).sum()
    numel = math.prod(shape)
    divisor = {
        "sum": 1,
        "batchmean": shape[0],
        "mean": numel,
        "distribution_mean": numel // shape[axis],
    }[reduction]
    return float(total / LD(divisor))


def kl_grad(
    p: Any,
    q: Any,
    *,
    temperature: float = 1.0,
    reduction: str = "distribution_mean",
    axis: int = -1,
) -> np.ndarray:
    """Exact gradient of ``klverify.kl(p, q, space="logits", ...)`` with respect to the
    student logits ``q``: (softmax(q/T) − softmax(p/T)) / T times the reduction's factor.

    For Hinton's loss T²·KL the gradient is T times this: T·(softmax(q/T) − softmax(p/T)).
    Computed as −Q·expm1(log P − log Q) in long double, so it keeps its relative accuracy
    when P ≈ Q. Shared ``-inf`` entries get gradient 0; where the teacher has mass the
    student masks (KL = +inf) the formula's value −P/T is returned.
    """
    from klverify.validation import check_options

    check_options("logits", reduction, temperature)
    if reduction == "none":
        raise KLInputError(
            "reduction='none' has no gradient: a gradient needs a scalar loss; use 'sum', "
            "'batchmean', 'mean' or 'distribution_mean'"
        )
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise KLInputError(f"p has shape {p.shape} but q has shape {q.shape}: pass one shape")
    T = LD(temperature)
    P, Q = _as_rows(p, axis).astype(LD), _as_rows(q, axis).astype(LD)
    lp = P / T - _lse(P / T)
    lq = Q / T - _lse(Q / T)
    both = (P > -np.inf) & (Q > -np.inf)
    with np.errstate(all="ignore"):
        diff = np.where(
            both, -np.exp(lq) * np.expm1(np.where(both, lp - lq, 0)), np.exp(lq) - np.exp(lp)
        )
    numel = p.size
    scale = {
        "sum": 1,
        "batchmean": p.shape[0],
        "mean": numel,
        "distribution_mean": numel // p.shape[axis],
    }[reduction]
    g = (diff / T / scale).astype(np.float64)
    moved_shape = np.moveaxis(p, axis, -1).shape
    return np.moveaxis(g.reshape(moved_shape), -1, axis)
