"""Markdown: for a PR comment or ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from klverify.crosscheck import summary
from klverify.crosscheck.model import Report

ICONS = {"pass": "✅", "known": "⚠️", "fail": "❌", "error": "💥", "skip": "·"}


def cell_text(counts: dict[str, int]) -> str:
    if not counts:
        return ""
    return " ".join(
        f"{ICONS[s]}{n}"
        for s, n in sorted(counts.items(), key=lambda kv: list(ICONS).index(kv[0]))
        if n
    )


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.1e}"


def render(report: Report) -> str:
    dtypes = summary.dtypes_of(report)
    lines = ["# klverify consistency report", "", f"**{summary.headline(report)}**", ""]
    for env in report.environments:
        pkgs = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
        lines.append(
            f"- `{env.get('machine')}`: Python {env.get('python')}, {env.get('platform')}; {pkgs}"
        )
        for name, why in env.get("missing", {}).items():
            lines.append(f"  - {name}: {why}")
    lines += ["", "## Status by backend path and dtype", ""]
    lines.append("| backend:path @device | " + " | ".join(dtypes) + " |")
    lines.append("|---|" + "---|" * len(dtypes))
    for row, by_dtype in summary.status_matrix(report).items():
        lines.append(
            f"| `{row}` | " + " | ".join(cell_text(by_dtype.get(d, {})) for d in dtypes) + " |"
        )
    lines += [
        "",
        "✅ pass · ⚠️ known framework behaviour (allow-listed) · ❌ fail · 💥 error · `·` skipped",
        "",
    ]
    lines += ["## Findings", ""]
    found = summary.findings(report)
    if not found:
        lines.append("Every cell agrees with the exact reference within its tolerance.")
    for f in found:
        where = ", ".join(f.where[:4]) + (
            f" and {len(f.where) - 4} more" if len(f.where) > 4 else ""
        )
        tag = "**FAIL**" if f.status == "fail" else "known"
        lines.append(f"- {tag} `{f.row}` {f.what} — {where}. _{f.reason}_")
    lines += [
        "",
        "## Drift from the exact KL",
        "",
        "Worst relative error of the value (cases with KL ≥ 1e-3) / worst gradient error in units of max(P+Q)/T.",
        "",
    ]
    lines.append("| backend:path @device | " + " | ".join(dtypes) + " |")
    lines.append("|---|" + "---|" * len(dtypes))
    for row, by_dtype in summary.drift(report).items():
        cells = []
        for d in dtypes:
            rel, grad = by_dtype.get(d, (None, None))
            cells.append(f"{_num(rel)} / {_num(grad)}" if d in by_dtype else "")
        lines.append(f"| `{row}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Tolerances",
        "",
        "| dtype | k (value) | k (gradient) | why |",
        "|---|---|---|---|",
    ]
    for t in report.tolerances:
        lines.append(
            f"| {t['dtype']} | {t['k']:g}·eps·S | {t['k_grad']:g}·eps·max(P+Q)/T | {t['reason']} |"
        )
    lines += [
        "",
        "S = Σ p·(|log p| + |log q| + 1), the cancellation scale of the sum (see `klverify/tolerances.py`).",
        "",
    ]
    lines += ["## Cases", "", "| case | space | T | what |", "|---|---|---|---|"]
    for name, info in report.cases.items():
        lines.append(
            f"| {name} | {info['space']} | {info['temperature']:g} | {info['description']} |"
        )
    return "\n".join(lines) + "\n"
