"""NumPy backend: log-space and stable, written here.

Half-precision inputs are computed in float32 (NumPy has no fused half kernels and
float16 probabilities underflow), the way torch's autocast treats ``kl_div``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from klverify.backends.base import Backend, Path, ValueSummary


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Stable log-softmax; rows of all ``-inf`` are rejected by validation before this."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def log_space_terms(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    """Terms p·(log p − log q) from log-probabilities; 0 where p = 0, +inf where q = 0 < p.

    "p > 0" is read from log p > -inf, not from exp(log p), which underflows to 0 for a
    teacher logit far below its maximum: the KL is still +inf where the student masks it.
    """
    with np.errstate(invalid="ignore"):
        terms = np.exp(lp) * (lp - lq)
    masked = lp == -np.inf
    if masked.any():
        terms[masked] = 0
    student_masked = lq == -np.inf
    if student_masked.any():
        terms[student_masked & ~masked] = np.inf
    return terms


def prob_space_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Terms p·(log p − log q) from probabilities, with 0·log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = p * (np.log(p) - np.log(q))
    zero = p == 0
    if zero.any():
        terms[zero] = 0
    return terms


def logits_rows(t: np.ndarray, s: np.ndarray, temperature: float, axis: int) -> np.ndarray:
    """KL(softmax(t/T) ‖ softmax(s/T)) per distribution, with two work arrays.

    With a = (t − max t)/T, b = (s − max s)/T, Zₐ = Σ eᵃ and Z_b = Σ eᵇ:
    KL = Σ eᵃ·(a − b) / Zₐ − (log Zₐ − log Z_b). Both parts are shift-free (a, b ≤ 0 and
    log Z ≤ log n), so the rounding error stays within eps·(Σ p·|log p − log q| + 2 log n).
    Every step writes into one of two buffers: each extra live temporary of this size costs
    a round of page faults, which is most of the time of the straightforward version.
    Rows with a -inf logit in t come out NaN (0·(−inf − …)); the caller recomputes them.
    """
    b = np.subtract(s, np.max(s, axis=axis, keepdims=True))
    if temperature != 1.0:
        np.divide(b, temperature, out=b)
    a = np.exp(b)
    zb = np.sum(a, axis=axis)
    np.subtract(t, np.max(t, axis=axis, keepdims=True), out=a)
    if temperature != 1.0:
        np.divide(a, temperature, out=a)
    with np.errstate(invalid="ignore"):
        np.subtract(a, b, out=b)  # a − b: NaN where both are -inf
        np.exp(a, out=a)
        za = np.sum(a, axis=axis)
        np.multiply(a, b, out=a)
    return np.sum(a, axis=axis) / za - (np.log(za) - np.log(zb))


# Rows per chunk are chosen so each of logits_rows' two work buffers holds about this many
# elements (512 KB of float32): they stay in a core's L2 cache. On 4 × 152064 float32 this
# took the path from 5.9× to 4.4× a copy of the inputs (benchmarks/bench_core.py).
CHUNK_ELEMENTS = 1 << 17


def _chunked_logits_rows(t: np.ndarray, s: np.ndarray, temperature: float, axis: int) -> np.ndarray:
    """logits_rows over chunks of whole rows, shaped like the input without ``axis``."""
    t_rows, s_rows = np.moveaxis(t, axis, -1), np.moveaxis(s, axis, -1)
    out_shape = t_rows.shape[:-1]
    n = t_rows.shape[-1]
    t_rows, s_rows = t_rows.reshape(-1, n), s_rows.reshape(-1, n)
    step = max(1, CHUNK_ELEMENTS // n)
    if step >= t_rows.shape[0]:
        return logits_rows(t_rows, s_rows, temperature, -1).reshape(out_shape)
    out = np.empty(t_rows.shape[0], dtype=np.result_type(t_rows, s_rows))
    for start in range(0, t_rows.shape[0], step):
        stop = start + step
        out[start:stop] = logits_rows(t_rows[start:stop], s_rows[start:stop], temperature, -1)
    return out.reshape(out_shape)


def working(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if x.dtype == np.float16 else x


def summarize_numpy(x: np.ndarray, space: str, axis: int) -> ValueSummary:
    """Validation facts for a NumPy array (shared by the scipy and reference backends)."""
    if space == "logits":
        # One pass: a per-row max propagates NaN, shows +inf, and is -inf only for a row
        # with no finite logit. Logits need nothing else (no sign, no sum).
        row_max = np.max(x, axis=axis)
        has_nan = bool(np.isnan(row_max).any())
        return ValueSummary(
            has_nan=has_nan,
            has_posinf=bool((row_max == np.inf).any())
            if not has_nan
            else bool(np.isposinf(x).any()),
            minimum=float("nan"),
            worst_row_total=None,
            empty_rows=int(np.sum(row_max == -np.inf)),
        )
    # min and max read the array without writing a mask: NaN propagates through both, and
    # ±inf shows up in one of them. Masks are built only when something is not finite.
    lo, hi = float(np.min(x)), float(np.max(x))
    has_nan = lo != lo
    has_posinf = not has_nan and hi == np.inf
    has_neginf = not has_nan and lo == -np.inf  # only to look for all--inf rows
    if has_nan:  # NaN hides the infinities from min/max; find them the slow way
        has_posinf = bool(np.isposinf(x).any())
        has_neginf = bool(np.isneginf(x).any())
    worst = None
    empty = 0
    if space == "prob":
        totals = np.sum(x, axis=axis, dtype=np.float64)
        worst = float(totals.flat[np.argmax(np.abs(totals - 1))])
    else:
        if has_neginf:
            empty = int(np.sum(~np.any(np.isfinite(x), axis=axis)))
        if space == "log_prob":
            with np.errstate(over="ignore"):
                totals = np.sum(np.exp(x.astype(np.float64)), axis=axis)
            worst = float(totals.flat[np.argmax(np.abs(totals - 1))])
    return ValueSummary(
        has_nan=has_nan,
        has_posinf=has_posinf,
        minimum=lo if not has_nan else float("nan"),
        worst_row_total=worst,
        empty_rows=empty,
    )


class HostArrays(Backend):
    """What every backend computing on NumPy arrays shares (numpy, scipy, the reference)."""

    def array(self, values: np.ndarray, dtype: str, device: str = "cpu") -> np.ndarray:
        return np.asarray(values, dtype=np.float64).astype(dtype)

    def to_float64(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def dtype_name(self, x: Any) -> str:
        return str(np.asarray(x).dtype)

    def summarize(self, x: Any, space: str, axis: int) -> ValueSummary:
        return summarize_numpy(np.asarray(x), space, axis)


class NumpyBackend(HostArrays):
    name = "numpy"
    framework = "numpy"
    extra = "all"

    def is_array(self, x: Any) -> bool:
        return isinstance(x, (np.ndarray, np.generic))

    def version(self) -> str:
        return np.__version__

    def devices(self) -> list[str]:
        return ["cpu"]

    def dtypes(self) -> tuple[str, ...]:
        return ("float64", "float32", "float16")

    def paths(self) -> dict[str, Path]:
        return {
            "safe": Path(
                "safe",
                "log-softmax in log space, masks handled",
                self._safe_rows,
                False,
                gives_rows=True,
                terms_fn=self._safe,
            ),
            "naive": Path(
                "naive",
                "np.sum(p * np.log(p / q)) after a plain softmax, as often hand-written",
                self._naive,
                True,
            ),
        }

    def _safe(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        p, q = working(np.asarray(p)), working(np.asarray(q))
        if space == "prob":
            return prob_space_terms(p, q)
        if space == "logits":
            if temperature != 1.0:
                p, q = p / temperature, q / temperature
            p, q = log_softmax(p, axis), log_softmax(q, axis)
        return log_space_terms(p, q)

    def _safe_rows(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        """KL per distribution; for logits without materialising the log-softmaxes."""
        p, q = working(np.asarray(p)), working(np.asarray(q))
        if space == "logits":
            rows = _chunked_logits_rows(p, q, temperature, axis)
            if not np.isnan(rows).any():
                return rows
            # Some row has a -inf logit in both (a shared mask) or in p only: 0·(−inf − …)
            # is NaN there, and the terms path handles it exactly.
        return np.sum(self._safe(p, q, space, temperature, axis), axis=axis)

    def _naive(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        p, q = np.asarray(p), np.asarray(q)
        with np.errstate(all="ignore"):
            if space == "logits":
                ep, eq = np.exp(p / temperature), np.exp(q / temperature)
                p = ep / ep.sum(axis=axis, keepdims=True)
                q = eq / eq.sum(axis=axis, keepdims=True)
            elif space == "log_prob":
                p, q = np.exp(p), np.exp(q)
            return p * np.log(p / q)
