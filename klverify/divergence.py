"""``klverify.kl``: the one public entry point, in math order."""

from __future__ import annotations

import math
from typing import Any

from klverify.backends import get_backend, owner_of
from klverify.errors import KLInputError
from klverify.validation import (
    REDUCTIONS,
    SPACES,
    check_dtype,
    check_options,
    check_shapes,
    check_values,
)

__all__ = ["REDUCTIONS", "SPACES", "kl", "prepare"]


def kl(
    p: Any,
    q: Any,
    *,
    space: str = "prob",
    temperature: float = 1.0,
    reduction: str = "distribution_mean",
    axis: int = -1,
    backend: str | None = None,
) -> Any:
    """KL(P‖Q) = Σ P·(log P − log Q), with P the reference/teacher and Q the model/student.

    This is math order, the opposite of ``torch.nn.functional.kl_div(input, target)``,
    which computes KL(target‖input): ``kl(p, q)`` equals ``F.kl_div(log q, p)``.

    Args:
        p: the reference distribution(s) (teacher, data), any array type.
        q: the model distribution(s) (student), same shape and framework as ``p``.
        space: what ``p`` and ``q`` hold: ``"prob"`` (probabilities), ``"log_prob"``
            (log-probabilities) or ``"logits"`` (unnormalised scores; softmax is applied).
        temperature: for logits only, P = softmax(p / T) and Q = softmax(q / T). The result
            is the KL of the softened distributions; multiply by T² yourself for Hinton's
            distillation loss.
        reduction: ``"distribution_mean"`` (default: the mean KL over all distributions,
            i.e. the per-token mean for [B, L, V]), or torch's names with torch's meaning:
            ``"sum"``, ``"batchmean"`` (sum / shape[0]), ``"mean"`` (sum / number of
            elements, not a KL), ``"none"`` (elementwise terms).
        axis: the axis that runs over outcomes.
        backend: ``None`` picks the backend of the input's array type; or one of
            ``"numpy"``, ``"scipy"``, ``"torch"``, ``"jax"``, ``"reference"`` (exact, float64);
            ``"name:path"`` picks one of a backend's paths, e.g. ``"torch:kl_div"`` for the
            plain framework call as users write it.

    Returns:
        An array of the backend's type: a 0-d value, or the elementwise terms for
        ``reduction="none"``. Half-precision inputs are computed and returned in float32.

    Raises:
        KLInputError: for inputs with no KL (NaN, negative probabilities, rows not summing
            to 1, mismatched shapes, ...), unknown options, or a backend not installed.

    Exact zeros in P contribute 0; Q = 0 where P > 0 gives +inf, on purpose. Shared
    ``-inf`` logits (a masked vocabulary) give a finite KL and finite gradients.
    """
    chosen, path, p, q, axis, temperature = prepare(
        p, q, space=space, temperature=temperature, reduction=reduction, axis=axis, backend=backend
    )
    with chosen.context(p, q):
        if reduction == "none":
            return (path.terms_fn or path.fn)(p, q, space, temperature, axis)
        values = path.fn(p, q, space, temperature, axis)
        return (path.reducer or reduce)(values, reduction, tuple(p.shape), axis)


def prepare(
    p: Any,
    q: Any,
    *,
    space: str,
    temperature: float,
    reduction: str,
    axis: int,
    backend: str | None,
) -> tuple[Any, Any, Any, Any, int, float]:
    """Validate everything and return (backend, path, p, q, axis, temperature) ready to compute."""
    temperature = check_options(space, reduction, temperature)
    p, p_owner = _as_array("p", p)
    q, q_owner = _as_array("q", q)
    if p_owner != q_owner:
        raise KLInputError(
            f"p is a {_type_name(p)} but q is a {_type_name(q)}: pass both from one framework "
            "(convert one of them first)"
        )
    owner = get_backend(p_owner)
    name, _, path_name = (backend or p_owner).partition(":")
    chosen = get_backend(name)
    if name not in (p_owner, "reference") and p_owner != "numpy":
        raise KLInputError(
            f"backend={backend!r} but p and q are {_type_name(p)}s: pass arrays of that "
            "backend's framework, or NumPy arrays (converted for you), or backend=None"
        )
    axis = check_shapes(tuple(p.shape), tuple(q.shape), axis, reduction)
    n_outcomes = int(p.shape[axis])
    for arg, x in (("p", p), ("q", q)):
        dtype = owner.dtype_name(x)
        check_dtype(arg, dtype)
        check_values(arg, owner.summarize(x, space, axis), space, dtype, n_outcomes)
    if chosen is not owner:
        if name == "reference":
            p, q = owner.to_float64(p), owner.to_float64(q)
        else:
            p = chosen.array(owner.to_float64(p), owner.dtype_name(p))
            q = chosen.array(owner.to_float64(q), owner.dtype_name(q))
    paths = chosen.paths()
    path = paths.get(path_name or "safe")
    if path is None:
        raise KLInputError(
            f"backend={backend!r}: {chosen.name} has no path {path_name!r}; its paths are "
            f"{', '.join(paths)}"
        )
    if space not in path.spaces:
        raise KLInputError(f"backend={backend!r} does not take space={space!r}")
    if reduction == "none" and path.gives_rows and path.terms_fn is None:
        raise KLInputError(
            f"backend={backend!r} returns one value per distribution, not elementwise terms: "
            "use a reduction other than 'none'"
        )
    return chosen, path, p, q, axis, temperature


def reduce(values: Any, reduction: str, shape: tuple[int, ...], axis: int) -> Any:
    """Apply torch's reductions (and ``distribution_mean``) to terms or per-distribution sums.

    Works on any array type with ``.sum()``: the sum of terms equals the sum of row sums.
    """
    total = values.sum()
    numel = math.prod(shape)
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return total / shape[0]
    if reduction == "mean":
        return total / numel
    return total / (numel // shape[axis])  # distribution_mean


def _as_array(name: str, x: Any) -> tuple[Any, str]:
    owner = owner_of(x)
    if owner is not None:
        return x, owner
    import numpy as np

    if isinstance(x, (str, bytes)) or x is None:
        raise KLInputError(f"{name} is a {type(x).__name__}: pass an array of numbers")
    try:
        return np.asarray(x, dtype=np.float64), "numpy"
    except (TypeError, ValueError) as exc:
        raise KLInputError(
            f"{name} could not be read as an array of real numbers ({exc}); pass a NumPy, "
            "PyTorch or JAX array"
        ) from None


def _type_name(x: Any) -> str:
    cls = type(x)
    return f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"
