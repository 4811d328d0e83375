"""Compare a user's KL value or gradient with the exact reference, within the report's tolerances.

The checks here are plain functions that return a :class:`~klverify.testing.records.CheckRecord`
and raise :class:`KLCheckError` for bad arguments; the plugin's fixtures turn both into
clean pytest failures. Tolerances come from :mod:`klverify.tolerances`, the same ones the
consistency report applies to klverify's own backends, so "passes here" means "as close as
a correct implementation in that dtype can be".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from klverify.backends import get_backend, owner_of
from klverify.backends.base import DTYPE_EPS
from klverify.errors import KLInputError
from klverify.testing.records import CheckRecord
from klverify.tolerances import TOLERANCES, allowed_error

__all__ = ["KLCheckError", "check_kl_close", "check_kl_grad_close", "format_table"]

ROWS_SHOWN = 5  # worst elements shown in a failing table


class KLCheckError(ValueError):
    """A check was called with arguments it cannot compare; the message says what to fix."""


# ------------------------------------------------------------------------ inputs
def _framework(x: Any) -> str:
    owner = owner_of(x)
    if owner is not None:
        return owner
    if isinstance(x, np.generic):
        return "numpy"
    return "python"


def _host(name: str, x: Any) -> np.ndarray:
    """float64 copy of any array, tensor or number; KLCheckError for what is none of those."""
    owner = owner_of(x)
    if owner is not None:
        return np.asarray(get_backend(owner).to_float64(x), dtype=np.float64)
    if isinstance(x, (str, bytes, bool)) or x is None:
        raise KLCheckError(
            f"{name} is a {type(x).__name__}: pass numbers (a float, or a NumPy/PyTorch/JAX array)"
        )
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise KLCheckError(
            f"{name} is a {type(x).__name__} that cannot be read as numbers: pass a float or a "
            "NumPy/PyTorch/JAX array"
        ) from None


def _dtype_of(x: Any) -> str | None:
    owner = owner_of(x)
    if owner is not None:
        name = get_backend(owner).dtype_name(x)
    elif isinstance(x, (np.ndarray, np.generic)):
        name = x.dtype.name
    else:
        return None
    return name if name in DTYPE_EPS else None


def _device_of(x: Any) -> str:
    owner = owner_of(x)
    return get_backend(owner).device_of(x) if owner is not None else "cpu"


def _dtype_name(dtype: Any) -> str:
    """Accept ``"float32"``, ``torch.float32``, ``np.float32``, ``jnp.bfloat16``..."""
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except Exception:  # not a NumPy dtype: torch.float32 prints as "torch.float32"
            name = str(dtype).removeprefix("torch.")
    if name not in DTYPE_EPS:
        raise KLCheckError(
            f"dtype={dtype!r} is not a floating dtype klverify knows: pass one of "
            f"{', '.join(map(repr, DTYPE_EPS))} (the precision the value was computed in)"
        )
    return name


def _coarsest(*dtypes: str | None) -> str:
    """The dtype with the largest eps: a result is only as precise as its least precise input."""
    known = [d for d in dtypes if d is not None]
    return max(known, key=DTYPE_EPS.__getitem__) if known else "float64"


def _check_tolerance(tolerance: Any) -> float | None:
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise KLCheckError(
            f"tolerance={tolerance!r} is a {type(tolerance).__name__}: pass an absolute error as "
            "a float (e.g. tolerance=1e-6), or leave it out to use the dtype-aware tolerance"
        )
    value = float(tolerance)
    if math.isnan(value) or value < 0:
        raise KLCheckError(f"tolerance={tolerance!r} must be a float >= 0 (an absolute error)")
    return value


def _check_pair(p: Any, q: Any) -> None:
    fp, fq = _framework(p), _framework(q)
    arrays = {"numpy", "torch", "jax"}
    if fp != fq and fp in arrays and fq in arrays:
        raise KLCheckError(
            f"p is a {fp} array but q is a {fq} array: pass both from one framework "
            "(convert one of them first, e.g. with .numpy() or torch.from_numpy)"
        )


# ----------------------------------------------------------------------- numbers
def _ulp(value: np.ndarray, dtype: str) -> np.ndarray:
    """Spacing of ``dtype`` numbers at ``value`` (at the smallest normal for 0)."""
    eps = DTYPE_EPS[dtype]
    tiny = {"float64": 2.0**-1022, "float32": 2.0**-126, "float16": 2.0**-14}.get(dtype, 2.0**-126)
    mag = np.maximum(np.abs(np.asarray(value, dtype=np.float64)), tiny)
    with np.errstate(invalid="ignore", over="ignore"):
        return eps * np.exp2(np.floor(np.log2(np.where(np.isfinite(mag), mag, 1.0))))


def _errors(
    expected: np.ndarray, obtained: np.ndarray, tol: np.ndarray, dtype: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(abs error, rel error, ulps, passed) elementwise; equal infinities are exact matches."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        same = expected == obtained  # covers inf == inf
        abs_err = np.where(same, 0.0, np.abs(obtained - expected))
        abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)
        rel_err = np.where(same, 0.0, abs_err / np.abs(expected))
        spacing = _ulp(np.maximum(np.abs(expected), np.abs(obtained)), dtype)
        ulps = np.where(same, 0.0, abs_err / spacing)
        passed = same | ((abs_err <= tol) & np.isfinite(abs_err))  # inf vs finite: fail
    return abs_err, rel_err, ulps, passed


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


def format_table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Right-aligned columns, as pytest-regressions prints its differences."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    for row in rows:
        lines.append(indent + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return lines


def _worst(abs_err: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Flat indices ordered from the worst error-to-tolerance ratio down."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(abs_err == 0, 0.0, abs_err / np.maximum(tol, np.finfo(np.float64).tiny))
    return np.argsort(-ratio.reshape(-1), kind="stable")


def _table(
    expected: np.ndarray,
    obtained: np.ndarray,
    abs_err: np.ndarray,
    rel_err: np.ndarray,
    ulps: np.ndarray,
    tol: np.ndarray,
    order: np.ndarray,
) -> list[str]:
    headers = ["expected", "obtained", "abs error", "rel error", "ulps", "tolerance"]
    scalar = expected.ndim == 0
    if not scalar:
        headers = ["index", *headers]
    rows = []
    for flat in order[: 1 if scalar else ROWS_SHOWN]:
        idx = () if scalar else np.unravel_index(int(flat), expected.shape)
        row = [
            f"{expected[idx]:.17g}",
            f"{obtained[idx]:.17g}",
            _fmt(abs_err[idx]),
            _fmt(rel_err[idx]),
            _fmt(ulps[idx], 4),
            _fmt(tol[idx]),
        ]
        if not scalar:
            row.insert(0, str(tuple(int(i) for i in idx)))
        rows.append(row)
    return format_table(headers, rows)


def _record_numbers(
    expected: np.ndarray,
    obtained: np.ndarray,
    abs_err: np.ndarray,
    rel_err: np.ndarray,
    ulps: np.ndarray,
    tol: np.ndarray,
    worst: int,
) -> dict[str, float]:
    idx = () if expected.ndim == 0 else np.unravel_index(worst, expected.shape)
    return {
        "expected": float(expected[idx]),
        "obtained": float(obtained[idx]),
        "abs_error": float(abs_err[idx]),
        "rel_error": float(rel_err[idx]),
        "ulps": float(ulps[idx]),
        "tolerance": float(tol[idx]),
    }


# ------------------------------------------------------------------------- value
def check_kl_close(
    actual: Any,
    p: Any,
    q: Any,
    *,
    space: str = "prob",
    temperature: float = 1.0,
    reduction: str = "distribution_mean",
    axis: int = -1,
    dtype: Any = None,
    tolerance: Any = None,
    nodeid: str = "",
) -> tuple[CheckRecord, str]:
    """Compare ``actual`` with the exact KL(P‖Q); return the record and, if it failed, the message.

    ``dtype`` (default: the least precise of ``actual``'s and ``p``'s dtypes) picks the
    tolerance; ``tolerance`` replaces it with an absolute error. Raises :class:`KLCheckError`
    for arguments that cannot be compared.
    """
    from klverify.divergence import kl

    _check_pair(p, q)
    tol_override = _check_tolerance(tolerance)
    dtype_name = (
        _dtype_name(dtype) if dtype is not None else _coarsest(_dtype_of(actual), _dtype_of(p))
    )
    obtained = _host("actual", actual)
    try:
        exact = kl(
            p,
            q,
            space=space,
            temperature=temperature,
            reduction=reduction,
            axis=axis,
            backend="reference",
        )
    except KLInputError as exc:
        raise KLCheckError(str(exc)) from None
    expected = np.asarray(exact, dtype=np.float64)
    if reduction == "none":
        if obtained.shape != expected.shape:
            raise KLCheckError(
                f"actual has shape {obtained.shape} but p has shape {expected.shape}: with "
                "reduction='none' pass the elementwise terms, one per entry of p"
            )
    elif obtained.size != 1:
        raise KLCheckError(
            f"actual has shape {obtained.shape}, but reduction={reduction!r} gives one number: "
            "pass the reduced loss, or reduction='none' to compare elementwise terms"
        )
    else:
        obtained = obtained.reshape(())
    p64, q64 = _host("p", p), _host("q", q)
    if tol_override is None:
        tol = np.asarray(
            allowed_error(
                p64,
                q64,
                space=space,
                dtype=dtype_name,
                temperature=float(temperature),
                reduction=reduction,
                axis=axis,
            ),
            dtype=np.float64,
        )
    else:
        tol = np.full(expected.shape, tol_override)
    tol = np.broadcast_to(tol, expected.shape)
    abs_err, rel_err, ulps, passed = _errors(expected, obtained, tol, dtype_name)
    order = _worst(abs_err, tol)
    n_failed = int((~passed).sum())
    hint = ""
    if n_failed:
        hint = _value_hint(
            obtained, expected, p, q, space, float(temperature), reduction, axis, tol
        )
    record = CheckRecord(
        kind="value",
        nodeid=nodeid,
        framework=_framework(actual),
        device=_device_of(actual) if owner_of(actual) else _device_of(p),
        dtype=dtype_name,
        space=space,
        reduction=reduction,
        temperature=float(temperature),
        shape=tuple(int(n) for n in p64.shape),
        passed=n_failed == 0,
        elements_failed=n_failed,
        hint=hint,
        **_record_numbers(expected, obtained, abs_err, rel_err, ulps, tol, int(order[0])),
    )
    if record.passed:
        return record, ""
    lines = [
        f"assert_kl_close: the KL differs from the exact reference by more than the "
        f"{'given' if tol_override is not None else dtype_name} tolerance",
        f"  KL(P‖Q) with space={space!r}, temperature={float(temperature):g}, "
        f"reduction={reduction!r}; p, q: {_describe(p)}; actual: {_describe(actual)}",
    ]
    if expected.ndim:
        lines.append(f"  {n_failed} of {expected.size} elements are outside the tolerance")
    lines += ["", *_table(expected, obtained, abs_err, rel_err, ulps, tol, order), ""]
    if hint:
        lines.append(f"  Hint: {hint}")
    if tol_override is None:
        lines.append(
            f"  tolerance = {TOLERANCES[dtype_name].k:g}·eps({dtype_name})·Σ p·(|log p|+|log q|+1), "
            f"reduced like the KL ({TOLERANCES[dtype_name].reason})"
        )
    lines.append(
        "  What to do: klverify.kl(p, q) is in math order (P = teacher, Q = student); if your "
        "value is right but computed at lower precision, pass dtype=...; to accept a larger "
        "error on purpose, pass tolerance=<absolute error>."
    )
    return record, "\n".join(lines)


def _describe(x: Any) -> str:
    fw = _framework(x)
    if fw == "python":
        return type(x).__name__
    dtype = _dtype_of(x) or getattr(getattr(x, "dtype", None), "name", str(getattr(x, "dtype", "")))
    shape = tuple(int(n) for n in getattr(x, "shape", ()))
    where = f" on {_device_of(x)}" if fw in ("torch", "jax") else ""
    return f"{fw} {dtype} {shape}{where}"


def _value_hint(
    obtained: np.ndarray,
    expected: np.ndarray,
    p: Any,
    q: Any,
    space: str,
    temperature: float,
    reduction: str,
    axis: int,
    tol: np.ndarray,
) -> str:
    """Name the usual mistake when the obtained value matches it (only run on failure)."""
    from klverify.divergence import kl

    def close(candidate: Any) -> bool:
        c = np.asarray(candidate, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return bool(np.all((c == obtained) | (np.abs(c - obtained) <= 4 * tol + 1e-300)))

    kwargs = {"space": space, "temperature": temperature, "axis": axis, "backend": "reference"}
    try:
        if close(kl(q, p, reduction=reduction, **kwargs)):
            return (
                "the value equals KL(Q‖P): p and q are swapped. torch's kl_div(input, target) "
                "computes KL(target‖input), so kl_div(log q, p) is KL(P‖Q)"
            )
        if temperature != 1.0 and close(expected * temperature**2):
            return (
                f"the value is T²·KL (T = {temperature:g}), Hinton's distillation loss: compare "
                "it with T² × the KL, or divide it by T² first"
            )
        if reduction != "none":
            for other in ("sum", "batchmean", "mean", "distribution_mean"):
                if other != reduction and close(kl(p, q, reduction=other, **kwargs)):
                    return f"the value matches reduction={other!r}, not {reduction!r}"
    except KLInputError:
        return ""
    return ""


# -------------------------------------------------------------------------- grad
def _autograd(
    loss_fn: Callable[[Any, Any], Any], teacher: Any, student: Any, framework: str
) -> np.ndarray:
    """d loss_fn(teacher, student) / d student, by the framework's autograd, as float64."""
    if framework == "torch":
        import torch

        s = student.detach().clone().requires_grad_(True)
        loss = loss_fn(teacher.detach(), s)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise KLCheckError(_not_scalar(loss))
        if not loss.requires_grad:
            raise KLCheckError(
                "loss_fn's result does not depend on the student logits through autograd: do "
                "not detach them or call .item()/.numpy() inside the loss"
            )
        loss.reshape(()).backward()
        if s.grad is None:
            raise KLCheckError("autograd gave no gradient for the student logits")
        return s.grad.detach().to("cpu", torch.float64).numpy()
    import jax
    import jax.numpy as jnp

    loss = loss_fn(teacher, student)
    if getattr(loss, "size", None) != 1:
        raise KLCheckError(_not_scalar(loss))
    backend = get_backend("jax")
    with backend.context(teacher, student):
        grad = jax.grad(lambda s: jnp.reshape(loss_fn(teacher, s), ()))(student)
    return backend.to_float64(grad)


def _not_scalar(loss: Any) -> str:
    shape = getattr(loss, "shape", None)
    what = f"an array of shape {tuple(shape)}" if shape is not None else type(loss).__name__
    return (
        f"loss_fn returned {what}: it must return the scalar loss as a tensor/array of the "
        "student's framework (apply the reduction, and do not call .item())"
    )


def check_kl_grad_close(
    loss_fn: Callable[[Any, Any], Any],
    teacher_logits: Any,
    student_logits: Any,
    *,
    temperature: float = 1.0,
    reduction: str = "distribution_mean",
    axis: int = -1,
    t_squared: bool = False,
    scale: float | None = None,
    dtype: Any = None,
    tolerance: Any = None,
    nodeid: str = "",
) -> tuple[CheckRecord, str]:
    """Compare d loss_fn(teacher, student)/d student with the exact gradient of the KL.

    The expected gradient is ``klverify.kl_grad`` times ``scale`` (or T² when ``t_squared``,
    for Hinton's T²·KL). The tolerance per element is k_grad·eps(dtype)·max(P + Q)/T times
    the same factor and the reduction's divisor.
    """
    from klverify.reference import kl_grad

    _check_pair(teacher_logits, student_logits)
    framework = _framework(student_logits)
    if framework not in ("torch", "jax"):
        raise KLCheckError(
            f"student_logits is a {type(student_logits).__name__}: pass torch tensors or JAX "
            "arrays, so the gradient of loss_fn can be taken by autograd"
        )
    if t_squared and scale is not None:
        raise KLCheckError("pass either t_squared=True or scale=..., not both")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
        raise KLCheckError(f"scale={scale!r} must be a real number (the loss's factor on the KL)")
    tol_override = _check_tolerance(tolerance)
    factor = float(temperature) ** 2 if t_squared else (1.0 if scale is None else float(scale))
    dtype_name = _dtype_name(dtype) if dtype is not None else _coarsest(_dtype_of(student_logits))
    p64, q64 = _host("teacher_logits", teacher_logits), _host("student_logits", student_logits)
    try:
        from klverify.validation import check_options, check_shapes

        temperature = check_options("logits", reduction, temperature)
        axis = check_shapes(p64.shape, q64.shape, axis, reduction)
        expected = kl_grad(p64, q64, temperature=temperature, reduction=reduction, axis=axis)
    except KLInputError as exc:
        raise KLCheckError(str(exc)) from None
    expected = expected * factor
    obtained = _autograd(loss_fn, teacher_logits, student_logits, framework)
    if obtained.shape != expected.shape:
        raise KLCheckError(
            f"the gradient has shape {obtained.shape}, the student logits {expected.shape}"
        )
    divisor = {
        "sum": 1,
        "batchmean": p64.shape[0],
        "mean": p64.size,
        "distribution_mean": p64.size // p64.shape[axis],
    }[reduction]
    from klverify.backends.numpy_backend import log_softmax

    with np.errstate(invalid="ignore"):
        mass = np.exp(log_softmax(p64 / temperature, axis)) + np.exp(
            log_softmax(q64 / temperature, axis)
        )
    biggest = float(np.nanmax(mass))
    unit = biggest / temperature * abs(factor) / divisor
    if tol_override is None:
        tol_value = TOLERANCES[dtype_name].k_grad * DTYPE_EPS[dtype_name] * unit
    else:
        tol_value = tol_override
    tol = np.full(expected.shape, tol_value)
    abs_err, rel_err, ulps, passed = _errors(expected, obtained, tol, dtype_name)
    order = _worst(abs_err, tol)
    n_failed = int((~passed).sum())
    hint = _grad_hint(obtained, expected, tol, float(temperature)) if n_failed else ""
    record = CheckRecord(
        kind="grad",
        nodeid=nodeid,
        framework=framework,
        device=_device_of(student_logits),
        dtype=dtype_name,
        space="logits",
        reduction=reduction,
        temperature=float(temperature),
        shape=tuple(int(n) for n in p64.shape),
        passed=n_failed == 0,
        elements_failed=n_failed,
        hint=hint,
        grad_unit=unit,
        **_record_numbers(expected, obtained, abs_err, rel_err, ulps, tol, int(order[0])),
    )
    if record.passed:
        return record, ""
    lines = [
        "assert_kl_grad_close: the gradient of loss_fn with respect to the student logits "
        f"differs from {_factor_text(factor, t_squared)}d KL(P‖Q)/d student",
        f"  temperature={float(temperature):g}, reduction={reduction!r}; "
        f"student: {_describe(student_logits)}",
        f"  {n_failed} of {expected.size} elements are outside the tolerance",
        "",
        *_table(expected, obtained, abs_err, rel_err, ulps, tol, order),
        "",
    ]
    if hint:
        lines.append(f"  Hint: {hint}")
    if tol_override is None:
        lines.append(
            f"  tolerance = {TOLERANCES[dtype_name].k_grad:g}·eps({dtype_name})·max(P+Q)/T "
            "× the factor on the KL ÷ the reduction's divisor"
        )
    lines.append(
        "  What to do: loss_fn(teacher, student) must compute KL(P‖Q) of softmax(teacher/T) "
        "and softmax(student/T); say how it scales the KL with t_squared=True or scale=..."
    )
    return record, "\n".join(lines)


def _factor_text(factor: float, t_squared: bool) -> str:
    if t_squared:
        return "T² × "
    return "" if factor == 1.0 else f"{factor:g} × "


def _grad_hint(obtained: np.ndarray, expected: np.ndarray, tol: np.ndarray, t: float) -> str:
    """Say so when the gradient is right up to a constant factor (a missing T², a mean)."""
    e, o = expected.reshape(-1), obtained.reshape(-1)
    denom = float(e @ e)
    if not (denom > 0 and np.all(np.isfinite(o))):
        return ""
    ratio = float(e @ o) / denom
    if ratio == 0 or not np.all(np.abs(o - ratio * e) <= 4 * np.abs(ratio) * tol.reshape(-1)):
        return ""
    extra = ""
    if t != 1.0 and math.isclose(ratio, t * t, rel_tol=1e-3):
        extra = " (= T²: pass t_squared=True for Hinton's T²·KL)"
    elif t != 1.0 and math.isclose(ratio, 1 / (t * t), rel_tol=1e-3):
        extra = " (= 1/T²: the loss lacks the T² factor that t_squared=True expects)"
    return f"the gradient is {ratio:.6g} × the expected one{extra}; pass scale={ratio:.6g} if that is intended"
