"""Input checks shared by every backend: each bad input gets a KLInputError that names the
argument, says what is wrong and what to do. Nothing is clipped, normalised or dropped."""

from __future__ import annotations

import math
import numbers
from typing import Any

from klverify.backends.base import DTYPE_EPS, ValueSummary
from klverify.errors import KLInputError

SPACES = ("prob", "log_prob", "logits")
REDUCTIONS = ("none", "sum", "batchmean", "mean", "distribution_mean")


def sum_tolerance(dtype: str, n: int) -> float:
    """How far from 1 a row of probabilities stored in ``dtype`` may sum.

    Rounding each probability to the dtype moves the total by at most eps/2; normalising
    in the dtype adds about one eps per element relative, and a pairwise sum adds
    log2(n)·eps. We allow eps·(16 + 2·log2 n), a factor of safety over that.
    """
    return DTYPE_EPS[dtype] * (16 + 2 * math.log2(max(n, 2)))


def check_options(space: Any, reduction: Any, temperature: Any) -> float:
    if space not in SPACES:
        raise KLInputError(
            f"space={space!r} is not known: use 'prob' for probabilities, 'log_prob' for "
            "log-probabilities or 'logits' for unnormalised scores"
        )
    if reduction not in REDUCTIONS:
        hint = " (torch's 'elementwise_mean' is 'mean')" if reduction == "elementwise_mean" else ""
        raise KLInputError(
            f"reduction={reduction!r} is not known{hint}: use one of {', '.join(map(repr, REDUCTIONS))}"
        )
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise KLInputError(
            f"temperature={temperature!r} must be a real number > 0 (got {type(temperature).__name__})"
        )
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise KLInputError(f"temperature={temperature!r} must be finite and > 0")
    if t != 1.0 and space != "logits":
        raise KLInputError(
            f"temperature={temperature!r} applies to logits only, but space={space!r}: pass "
            "space='logits' (log-probabilities are valid logits) to soften the distributions"
        )
    return t


def check_shapes(
    p_shape: tuple[int, ...], q_shape: tuple[int, ...], axis: Any, reduction: str
) -> int:
    """Validate shapes and return the axis as a non-negative int."""
    if tuple(p_shape) != tuple(q_shape):
        raise KLInputError(
            f"p has shape {tuple(p_shape)} but q has shape {tuple(q_shape)}: KL compares "
            "distributions over the same outcomes, so pass arrays of one shape"
        )
    if len(p_shape) == 0:
        raise KLInputError(
            "p and q are scalars: pass arrays whose `axis` runs over the outcomes of a distribution"
        )
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise KLInputError(f"axis={axis!r} must be an int")
    ndim = len(p_shape)
    if not -ndim <= int(axis) < ndim:
        raise KLInputError(f"axis={axis} is out of range for arrays with {ndim} dimension(s)")
    if math.prod(p_shape) == 0:
        raise KLInputError(
            f"p and q are empty (shape {tuple(p_shape)}): pass at least one distribution "
            "with at least one outcome"
        )
    if reduction == "batchmean" and ndim == 1:
        raise KLInputError(
            "reduction='batchmean' on a 1-D input divides by the number of outcomes (as torch "
            "does), which is not the KL: for one distribution use reduction='sum' or "
            "'distribution_mean'"
        )
    return int(axis) % ndim


def check_dtype(name: str, dtype: str) -> None:
    if dtype not in DTYPE_EPS:
        raise KLInputError(
            f"{name} has dtype {dtype}: KL needs floating-point values, one of "
            f"{', '.join(DTYPE_EPS)}; convert it first (e.g. x.astype('float64'))"
        )


def check_values(
    name: str, summary: ValueSummary | None, space: str, dtype: str, n_outcomes: int
) -> None:
    """Check what the framework found in the values; skipped when they are being traced."""
    if summary is None:
        return
    if summary.has_nan:
        raise KLInputError(
            f"{name} contains NaN: a NaN is not a probability, log-probability or logit; "
            "find where it came from (klverify does not drop it)"
        )
    if summary.has_posinf:
        what = {
            "prob": "probabilities are at most 1",
            "log_prob": "log-probabilities are at most 0",
            "logits": "a logit of +inf is not a distribution; mask outcomes with -inf",
        }[space]
        raise KLInputError(f"{name} contains +inf with space={space!r}: {what}")
    if space == "prob" and summary.minimum < 0:
        raise KLInputError(
            f"{name} has negative entries (minimum {summary.minimum:.6g}) with space='prob': "
            "probabilities are >= 0; if these are log-probabilities pass space='log_prob', "
            "if unnormalised scores space='logits'"
        )
    if summary.empty_rows:
        raise KLInputError(
            f"{summary.empty_rows} distribution(s) of {name} are all -inf with space={space!r}: "
            "each distribution needs at least one outcome with non-zero probability"
        )
    if summary.worst_row_total is not None:
        total = summary.worst_row_total
        tol = sum_tolerance(dtype, n_outcomes)
        if not abs(total - 1) <= tol:
            what = "probabilities" if space == "prob" else "exp(log-probabilities)"
            fix = (
                "normalise it (p / p.sum(axis, keepdims=True)) or pass logits with space='logits'"
                if space == "prob"
                else "take log_softmax of it, or pass it with space='logits'"
            )
            raise KLInputError(
                f"the {what} of {name} do not sum to 1 along the axis: a row sums to {total:.9g} "
                f"(allowed error {tol:.2g} for {dtype} over {n_outcomes} outcomes); {fix}"
            )
