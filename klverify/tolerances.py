"""How far a computed KL may be from the exact one, per dtype, and why. One place.

Floating-point KL is a sum of terms pᵢ·(log pᵢ − log qᵢ) whose logs each carry an
absolute error of a few eps·(|log pᵢ| + |log qᵢ| + 1) (log-softmax subtracts the
log-sum-exp). Their errors add up, while the terms themselves cancel when P ≈ Q. So the
honest yardstick is not |KL| but the *condition scale*

    S = Σᵢ pᵢ·(|log pᵢ| + |log qᵢ| + 1)

and a value passes when |computed − exact| ≤ k·eps(dtype)·S, with k per dtype below.
When KL ≪ eps·S (P ≈ Q in float32, KL ≈ 1e-12) the tolerance exceeds the KL itself: the
dtype holds no correct digit there, and the check says so instead of failing every
backend. Gradients w.r.t. logits are (Q − P)/T; their error is compared with
k·eps(dtype)·max(P + Q)/T.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from klverify.backends.base import DTYPE_EPS


@dataclass(frozen=True)
class Tolerance:
    k: float  # multiple of eps(dtype)·S allowed for the value
    k_grad: float  # multiple of eps(dtype)·max(P + Q)/T allowed for the gradient
    reason: str


# k was calibrated on the default `klverify report` matrix (torch 2.13, jax 0.10.2, scipy
# 1.17, CPU): the worst measured error over all finite cells, in units of eps·S (value)
# and eps·max(P+Q)/T (gradient), is quoted in each reason; k leaves a margin of 2.4–4.6×.
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(
        64, 64, "worst measured 18 (value) / 27 (gradient): torch log_softmax on peaked rows"
    ),
    "float32": Tolerance(
        32, 64, "worst measured 8.8 / 15: torch CPU float32 softmax carries ~5e-6 relative error"
    ),
    "float16": Tolerance(
        4, 16, "worst measured 1.0 / 4.4 for paths computing in float16; safe paths use float32"
    ),
    "bfloat16": Tolerance(
        4, 16, "worst measured 0.87 / 4.6: a bf16 log-softmax is off by ~eps·|log p| per term"
    ),
}


def condition_scale(
    p: np.ndarray, q: np.ndarray, *, space: str, temperature: float = 1.0, axis: int = -1
) -> np.ndarray:
    """Elementwise pᵢ·(|log pᵢ| + |log qᵢ| + 1) in float64 (0 where pᵢ = 0)."""
    from klverify.backends.numpy_backend import log_softmax

    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if space == "logits":
            lp, lq = log_softmax(p / temperature, axis), log_softmax(q / temperature, axis)
        elif space == "prob":
            lp, lq = np.log(p), np.log(q)
        else:
            lp, lq = p, q
        scale = np.exp(lp) * (np.abs(lp) + np.abs(lq) + 1)
    scale[lp == -np.inf] = 0
    return scale


def allowed_error(
    p: Any,
    q: Any,
    *,
    space: str,
    dtype: str,
    temperature: float = 1.0,
    reduction: str = "distribution_mean",
    axis: int = -1,
    k: float | None = None,
) -> Any:
    """Largest |computed − exact| accepted for ``kl(p, q, ...)`` computed in ``dtype``.

    A float for scalar reductions, an array for ``reduction="none"``.
    """
    from klverify.divergence import reduce

    eps = DTYPE_EPS[dtype]
    k = TOLERANCES[dtype].k if k is None else k
    scale = condition_scale(p, q, space=space, temperature=temperature, axis=axis)
    if reduction == "none":
        return k * eps * scale
    return float(k * eps * reduce(scale, reduction, scale.shape, axis % scale.ndim))


def describe() -> list[tuple[str, float, float, str]]:
    """(dtype, k, k_grad, reason) rows, for reports and docs."""
    return [(name, t.k, t.k_grad, t.reason) for name, t in TOLERANCES.items()]
