"""What a reader needs from the cells, computed once for every renderer: a status matrix
(backend path × dtype), the findings (what fails, where), and how far each dtype drifts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from klverify.crosscheck.model import Cell, Report

DTYPE_ORDER = ("float64", "float32", "float16", "bfloat16")


def row_key(cell: Cell, report: Report) -> str:
    """Row label: backend:path, plus device (and machine when reports were merged)."""
    machines = {env.get("machine") for env in report.environments}
    where = cell.device if len(machines) <= 1 else f"{cell.machine}/{cell.device}"
    return f"{cell.label} @{where}"


def dtypes_of(report: Report) -> list[str]:
    present = {c.dtype for c in report.cells}
    return [d for d in DTYPE_ORDER if d in present] + sorted(present - set(DTYPE_ORDER))


def status_matrix(report: Report) -> dict[str, dict[str, dict[str, int]]]:
    """row → dtype → status → count."""
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for cell in report.cells:
        out[row_key(cell, report)][cell.dtype][cell.status] += 1
    return out


def kind(message: str) -> str:
    for needle, name in (
        ("NaN in", "returns NaN"),
        ("for a finite KL", "returns +inf for a finite KL"),
        ("where the KL is +inf", "finite where the KL is +inf"),
        ("non-finite gradient", "non-finite gradient"),
        ("gradient off", "wrong gradient"),
        ("finite differences", "gradient disagrees with finite differences"),
        ("negative KL", "negative KL"),
        ("off by", "value outside tolerance"),
    ):
        if needle in message:
            return name
    return "error"


@dataclass
class Finding:
    row: str
    what: str
    status: str  # "fail" or "known"
    where: list[str]  # "dtype case"
    reason: str


def findings(report: Report) -> list[Finding]:
    """Failing and known cells grouped by row, kind of problem and allow-list reason."""
    groups: dict[tuple[str, str, str, str], list[Cell]] = defaultdict(list)
    for cell in report.cells:
        if cell.status in ("fail", "error", "known"):
            status = "known" if cell.status == "known" else "fail"
            reason = cell.message.split("[known: ", 1)[1].rstrip("]") if status == "known" else ""
            groups[(row_key(cell, report), kind(cell.message), status, reason)].append(cell)
    out = []
    for (row, what, status, reason), cells in groups.items():
        where = [f"{c.dtype} {c.case}" for c in cells]
        out.append(Finding(row, what, status, where, reason or cells[0].message))
    out.sort(key=lambda f: (f.status != "fail", f.row, f.what))
    return out


def drift(report: Report) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """row → dtype → (worst relative error where KL ≥ 1e-3, worst gradient error), over
    cells with finite values: how far each dtype drifts from the exact KL."""
    out: dict[str, dict[str, tuple[float | None, float | None]]] = defaultdict(dict)
    for cell in report.cells:
        if cell.status == "skip":
            continue
        key = row_key(cell, report)
        rel, grad = out[key].get(cell.dtype, (None, None))
        if (
            cell.rel_error is not None
            and cell.reference is not None
            and abs(cell.reference) >= 1e-3
        ):
            rel = max(rel or 0.0, cell.rel_error)
        if cell.grad_error is not None and cell.grad_error == cell.grad_error:
            grad = max(grad or 0.0, cell.grad_error)
        out[key][cell.dtype] = (rel, grad)
    return out


def headline(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[s]} {s}" for s in ("pass", "known", "fail", "error", "skip") if counts[s]]
    verdict = "FAILED" if report.failed else "OK"
    return (
        f"{verdict}: {len(report.cells)} cells — "
        + ", ".join(parts)
        + f" in {report.seconds:.1f} s"
    )
