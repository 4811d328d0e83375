"""``--klverify-report``: the session's KL checks written as a consistency report.

Each ``assert_kl_close`` / ``assert_kl_grad_close`` call becomes one ``Cell`` of
:mod:`klverify.crosscheck.model`, with the test's node id as the case, so the same
renderers (JSON, Markdown, HTML by the file's extension) show a project's own checks next
to klverify's cross-checks.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from klverify.testing.records import CheckRecord, SessionRecords


def _environment(config: Any) -> dict[str, Any]:
    from klverify.backends import SPECS
    from klverify.crosscheck.engine import package_versions

    packages = package_versions()
    devices: dict[str, list[str]] = {}
    if config is not None:
        from klverify.testing.plugin import DEVICES

        devices = dict(config.stash.get(DEVICES, {}))
    return {
        "machine": platform.node(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "packages": packages,
        "devices": devices,
        "missing": {n: s.extra for n, s in SPECS.items() if packages.get(s.framework) is None},
        "source": "pytest",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def to_cell_fields(record: CheckRecord) -> dict[str, Any]:
    """The fields of a report ``Cell`` for one check."""
    fields: dict[str, Any] = {
        "backend": record.framework,
        "path": "user",
        "device": record.device,
        "dtype": record.dtype,
        "case": record.nodeid,
        "family": f"pytest-{record.kind}",
        "status": "pass" if record.passed else "fail",
        "message": record.hint,
    }
    if record.kind == "value":
        fields.update(
            value=record.obtained,
            reference=record.expected,
            abs_error=record.abs_error,
            rel_error=record.rel_error,
            ulps=record.ulps,
            tolerance=record.tolerance,
        )
    elif record.grad_unit > 0:
        fields.update(
            grad_error=record.abs_error / record.grad_unit,
            grad_tolerance=record.tolerance / record.grad_unit,
        )
    return fields


def build_report(records: SessionRecords, config: Any = None) -> Any:
    """A ``klverify.crosscheck.model.Report`` of the session's checks."""
    from klverify.crosscheck.model import Cell, Report
    from klverify.tolerances import TOLERANCES

    cases: dict[str, dict[str, Any]] = {}
    for r in records.checks:
        cases.setdefault(
            r.nodeid,
            {
                "space": r.space,
                "temperature": r.temperature,
                "description": f"pytest check ({r.kind}), reduction={r.reduction!r}, "
                f"shape {list(r.shape)}",
            },
        )
    return Report(
        cells=[Cell(**to_cell_fields(r)) for r in records.checks],
        environments=[_environment(config)],
        tolerances=[
            {"dtype": d, "k": t.k, "k_grad": t.k_grad, "reason": t.reason}
            for d, t in TOLERANCES.items()
        ],
        cases=cases,
    )


def write_session_report(records: SessionRecords, path: str, config: Any = None) -> str:
    """Write the report at ``path`` (format by extension) and return the path written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = build_report(records, config)
    try:
        from klverify.crosscheck.render import write_report
    except ImportError:
        return write_json_only(report, target)
    write_report(report, target)
    return str(target)


def write_json_only(report: Any, target: Path) -> str:
    """Fallback while the renderers are missing: JSON (the report's source of truth) only."""
    if target.suffix.lower() != ".json":
        target = target.with_suffix(".json")
    target.write_text(report.to_json(), encoding="utf-8")
    return str(target)
