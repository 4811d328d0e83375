"""The report's data: one ``Cell`` per backend path × device × dtype × case, and a
``Report`` holding the cells with the environments they ran in. JSON is the source of
truth; every renderer reads a Report."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA = "klverify-report/1"
STATUSES = ("pass", "known", "fail", "error", "skip")


class ReportFormatError(ValueError):
    """A file given to --merge is not a klverify report."""


@dataclass
class Cell:
    """One computation compared with the exact reference."""

    backend: str
    path: str
    device: str
    dtype: str
    case: str
    family: str
    status: str  # one of STATUSES
    plain: bool = False  # the framework's API as users write it (not klverify's safe path)
    machine: str = ""
    value: float | None = None  # mean KL over the case's distributions
    reference: float | None = None
    abs_error: float | None = None  # worst over distributions
    rel_error: float | None = None
    ulps: float | None = None  # worst |error| in ulps of the dtype at the reference value
    tolerance: float | None = None  # allowed |error| for the worst distribution
    grad_error: float | None = None  # max |g − g_ref| in units of max(P+Q)/T
    grad_tolerance: float | None = None
    fd_error: float | None = None  # finite-difference check (float64 only)
    message: str = ""
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.path}"

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "error")

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_number(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        known = {f.name for f in fields(cls)}
        return cls(**{k: _from_json_number(v) for k, v in data.items() if k in known})


@dataclass
class Report:
    cells: list[Cell] = field(default_factory=list)
    environments: list[dict[str, Any]] = field(default_factory=list)
    tolerances: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → description
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for cell in self.cells:
            out[cell.status] += 1
        return out

    @property
    def failed(self) -> bool:
        return any(cell.failed for cell in self.cells)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "seconds": self.seconds,
            "environments": self.environments,
            "tolerances": self.tolerances,
            "cases": self.cases,
            "counts": self.counts(),
            "cells": [c.to_dict() for c in self.cells],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "<data>") -> Report:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ReportFormatError(
                f"{source}: not a klverify report (expected a JSON object with "
                f'"schema": "{SCHEMA}")'
            )
        try:
            return cls(
                cells=[Cell.from_dict(c) for c in data["cells"]],
                environments=list(data.get("environments", [])),
                tolerances=list(data.get("tolerances", [])),
                cases=dict(data.get("cases", {})),
                seconds=float(data.get("seconds", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportFormatError(f"{source}: malformed klverify report ({exc})") from None

    @classmethod
    def load(cls, path: str | Path) -> Report:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ReportFormatError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ReportFormatError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, str(path))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)


def merge(reports: list[Report]) -> Report:
    """Combine reports from several machines (a CI matrix) into one; cells keep their machine."""
    out = Report()
    for report in reports:
        out.cells.extend(report.cells)
        out.environments.extend(report.environments)
        out.seconds += report.seconds
        out.cases.update(report.cases)
        if not out.tolerances:
            out.tolerances = report.tolerances
    return out


def _json_number(v: Any) -> Any:
    """JSON has no inf/NaN: store them as strings so the file stays strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _from_json_number(v: Any) -> Any:
    return float(v) if v in ("nan", "inf", "-inf") else v
