"""The cross-check: every backend path × device × dtype × case against the exact reference.

Each dtype's inputs are the case's float64 values rounded to that dtype, and the reference
is the exact KL *of those rounded values*: a cell measures the computation, not the
rounding of its inputs.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from klverify import reference
from klverify.backends import SPECS, get_backend, installed
from klverify.backends.base import DTYPE_EPS, Backend, Path
from klverify.crosscheck.cases import FAMILIES, Case, generate
from klverify.crosscheck.known import KnownEntry, load, match
from klverify.crosscheck.model import Cell, Report
from klverify.tolerances import TOLERANCES, condition_scale

DEFAULT_DTYPES = ("float64", "float32", "float16", "bfloat16")
# Finite differences: central, h = 1e-5·T, on the 3 coordinates with the largest gradient.
# Their error is at most (error of f)/h + h²·|f'''|/6: we allow (Σ value tolerance)/h +
# h²·max(P+Q)/T³, in units of max(P+Q)/T like the gradient error. It catches gradients
# that are wrong by a factor, not rounding.
FD_STEP = 1e-5
FD_COORDINATES = 3


@dataclass
class Options:
    backends: list[str | Backend] | None = None  # names, or Backend instances of your own
    devices: list[str] | None = None
    dtypes: list[str] | None = None
    families: list[str] | None = None
    max_vocab: int | None = None
    seed: int = 0
    grads: bool = True
    known: list[KnownEntry] = field(default_factory=load)  # the built-in allow-list
    machine: str = field(default_factory=platform.node)


@dataclass
class Target:
    backend: Backend
    path: Path
    device: str
    dtype: str

    @property
    def label(self) -> str:
        return f"{self.backend.name}:{self.path.name}"


@dataclass
class Expected:
    """The exact answers for one case rounded to one dtype."""

    p: np.ndarray
    q: np.ndarray
    rows: np.ndarray
    tolerance: np.ndarray
    grad: np.ndarray | None
    grad_scale: float  # max(P + Q) / T


def targets(options: Options) -> tuple[list[Target], dict[str, str]]:
    """What to run, and the backends skipped with the reason (not installed, ...)."""
    wanted = options.backends or [n for n in SPECS if n != "reference"]
    found, missing = [], {}
    available = set(installed())
    for name in wanted:
        if isinstance(name, Backend):  # a user's own implementation, cross-checked like ours
            backend = name
        elif name not in available:
            missing[name] = f"not installed (pip install klverify[{SPECS[name].extra}])"
            continue
        else:
            backend = get_backend(name)
        for device in backend.devices():
            if options.devices and device not in options.devices:
                continue
            for dtype in backend.dtypes():
                if options.dtypes and dtype not in options.dtypes:
                    continue
                for path in backend.paths().values():
                    found.append(Target(backend, path, device, dtype))
    return found, missing


def expected_for(case: Case, p: np.ndarray, q: np.ndarray, dtype: str, grads: bool) -> Expected:
    rows = reference.rows(p, q, case.space, case.temperature)
    k = TOLERANCES[dtype].k
    scale = condition_scale(p, q, space=case.space, temperature=case.temperature).sum(axis=-1)
    grad, grad_scale = None, math.nan
    if grads and case.space == "logits" and np.all(np.isfinite(rows)):
        grad = reference.kl_grad(p, q, temperature=case.temperature, reduction="sum")
        from klverify.backends.numpy_backend import log_softmax

        T = case.temperature
        pq = np.exp(log_softmax(p / T, -1)) + np.exp(log_softmax(q / T, -1))
        grad_scale = float(pq.max()) / T
    return Expected(p, q, rows, k * DTYPE_EPS[dtype] * scale, grad, grad_scale)


def evaluate(target: Target, case: Case, exp: Expected, options: Options) -> Cell:
    """Compute one cell; exceptions become an 'error' cell so the run goes on."""
    backend, path, dtype = target.backend, target.path, target.dtype
    cell = Cell(
        backend=backend.name,
        path=path.name,
        device=target.device,
        dtype=dtype,
        case=case.name,
        family=case.family,
        status="pass",
        plain=path.plain,
        machine=options.machine,
    )
    if case.space not in path.spaces:
        cell.status, cell.message = "skip", f"{path.name} does not take space={case.space!r}"
        return cell
    start = time.perf_counter()
    try:
        problems = _compare_values(target, case, exp, cell)
        if exp.grad is not None and backend.has_autograd:
            problems += _compare_grads(target, case, exp, cell)
    except Exception as exc:  # a framework or device failure: record it and go on
        cell.status = "error"
        cell.message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        cell.seconds = time.perf_counter() - start
        return _apply_known(cell, options.known)
    cell.seconds = time.perf_counter() - start
    if problems:
        cell.status = "fail"
        cell.message = "; ".join(problems)
    return _apply_known(cell, options.known)


def _rows(target: Target, case: Case, P: Any, Q: Any) -> np.ndarray:
    backend, path = target.backend, target.path
    with backend.context(P, Q):
        values = path.fn(P, Q, case.space, case.temperature, -1)
        rows = values if path.gives_rows else values.sum(axis=-1)
        return backend.to_float64(rows)


def _compare_values(target: Target, case: Case, exp: Expected, cell: Cell) -> list[str]:
    backend = target.backend
    P = backend.array(exp.p, target.dtype, target.device)
    Q = backend.array(exp.q, target.dtype, target.device)
    got = _rows(target, case, P, Q)
    ref = exp.rows
    problems = []
    finite_ref = np.isfinite(ref)
    cell.reference = float(np.mean(ref))
    cell.value = float(np.mean(got))
    if np.isnan(got).any():
        problems.append(f"NaN in {int(np.isnan(got).sum())} of {got.size} distributions")
    bad_inf = ~finite_ref & ~np.isposinf(got) & ~np.isnan(got)
    if bad_inf.any():
        problems.append(f"finite value {got[bad_inf][0]:.4g} where the KL is +inf")
    spurious = finite_ref & np.isinf(got)
    if spurious.any():
        problems.append(f"{got[spurious][0]} for a finite KL ({ref[spurious][0]:.4g})")
    both = finite_ref & np.isfinite(got)
    if both.any():
        err = np.abs(got[both] - ref[both])
        tol = exp.tolerance[both]
        worst = int(np.argmax(err / np.maximum(tol, np.finfo(float).tiny)))
        cell.abs_error = float(err[worst])
        cell.tolerance = float(tol[worst])
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = err / np.abs(ref[both])
        cell.rel_error = float(np.nanmax(rel)) if np.isfinite(rel).any() else None
        ulp = DTYPE_EPS[target.dtype] * np.exp2(
            np.floor(np.log2(np.maximum(np.abs(ref[both]), 1e-300)))
        )
        cell.ulps = float(np.max(err / ulp))
        if err[worst] > tol[worst]:
            problems.append(
                f"off by {err[worst]:.3g} (relative {err[worst] / max(abs(ref[both][worst]), 1e-300):.2g}) "
                f"> tolerance {tol[worst]:.2g}"
            )
        negative = got[both] < -tol
        if negative.any():
            problems.append(f"negative KL {got[both][negative][0]:.3g}")
    return problems


def _compare_grads(target: Target, case: Case, exp: Expected, cell: Cell) -> list[str]:
    backend, dtype = target.backend, target.dtype
    P = backend.array(exp.p, dtype, target.device)
    Q = backend.array(exp.q, dtype, target.device)
    g = backend.grad(P, Q, temperature=case.temperature, axis=-1, path=target.path.name)
    if g is None or exp.grad is None:
        return []
    problems = []
    if not np.all(np.isfinite(g)):
        problems.append(f"non-finite gradient ({int((~np.isfinite(g)).sum())} entries)")
        cell.grad_error = math.nan
        return problems
    cell.grad_error = float(np.max(np.abs(g - exp.grad)) / exp.grad_scale)
    cell.grad_tolerance = TOLERANCES[dtype].k_grad * DTYPE_EPS[dtype]
    if cell.grad_error > cell.grad_tolerance:
        problems.append(
            f"gradient off by {cell.grad_error:.2g}·max(P+Q)/T > {cell.grad_tolerance:.2g}"
        )
    if dtype == "float64" and not target.path.plain:
        # klverify's own paths get a second, independent check; plain paths already
        # meet the analytic gradient above.
        problems += _finite_differences(target, case, exp, Q, g, cell)
    return problems


def _finite_differences(
    target: Target, case: Case, exp: Expected, Q: Any, g: np.ndarray, cell: Cell
) -> list[str]:
    backend = target.backend
    P = backend.array(exp.p, "float64", target.device)
    h = FD_STEP * case.temperature
    worst = 0.0
    for flat in np.argsort(-np.abs(exp.grad).ravel())[:FD_COORDINATES]:
        index = np.unravel_index(flat, exp.q.shape)
        values = []
        for sign in (1, -1):
            q = exp.q.copy()
            q[index] += sign * h
            values.append(_rows(target, case, P, backend.array(q, "float64", target.device)).sum())
        fd = (values[0] - values[1]) / (2 * h)
        worst = max(worst, abs(fd - g[index]) / exp.grad_scale)
    cell.fd_error = worst
    T = case.temperature
    allowed = (float(exp.tolerance.sum()) / h + h * h * exp.grad_scale / (T * T)) / exp.grad_scale
    if worst > allowed:
        return [
            f"finite differences disagree with autograd by {worst:.2g}·max(P+Q)/T > {allowed:.2g}"
        ]
    return []


def _apply_known(cell: Cell, known: list[KnownEntry]) -> Cell:
    if cell.status in ("fail", "error"):
        entry = match(known, f"{cell.backend}:{cell.path}/{cell.device}/{cell.dtype}/{cell.case}")
        if entry is not None:
            cell.status = "known"
            cell.message = f"{cell.message} [known: {entry.reason}]"
    return cell


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a report depends on (None when missing)."""
    from importlib import metadata

    packages: dict[str, str | None] = {}
    for name in ("klverify", "numpy", "scipy", "torch", "jax", "jaxlib", "optax", "mpmath"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return packages


def environment(
    options: Options, missing: dict[str, str], devices: dict[str, list[str]]
) -> dict[str, Any]:
    packages = package_versions()
    return {
        "machine": options.machine,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "packages": packages,
        "devices": devices,
        "missing": missing,
        "seed": options.seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run(options: Options, progress: Callable[[int, int, str], None] | None = None) -> Report:
    """Run the matrix and return the report; ``progress(done, total, label)`` is optional."""
    start = time.perf_counter()
    cases = generate(options.families, options.seed, options.max_vocab)
    todo, missing = targets(options)
    devices = {t.backend.name: t.backend.devices() for t in todo}
    report = Report(
        environments=[environment(options, missing, devices)],
        tolerances=[
            {"dtype": d, "k": t.k, "k_grad": t.k_grad, "reason": t.reason}
            for d, t in TOLERANCES.items()
        ],
        cases={
            c.name: {
                "space": c.space,
                "temperature": c.temperature,
                "description": c.description or FAMILIES[c.family].description,
            }
            for c in cases
        },
    )
    total, done = len(cases) * len(todo), 0
    for case in cases:
        expected: dict[str, Expected] = {}
        for target in todo:
            exp = expected.get(target.dtype)
            if exp is None:
                rounded = _rounded(case, target)
                exp = expected[target.dtype] = expected_for(
                    case, *rounded, target.dtype, options.grads
                )
            report.cells.append(evaluate(target, case, exp, options))
            done += 1
            if progress is not None:
                progress(done, total, f"{case.name} {target.label} {target.dtype}")
    report.seconds = time.perf_counter() - start
    return report


def _rounded(case: Case, target: Target) -> tuple[np.ndarray, np.ndarray]:
    """The case's inputs as they are after rounding to the target's dtype (exact float64)."""
    backend = target.backend
    return (
        backend.to_float64(backend.array(case.p, target.dtype, "cpu")),
        backend.to_float64(backend.array(case.q, target.dtype, "cpu")),
    )
