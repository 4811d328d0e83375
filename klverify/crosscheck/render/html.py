"""One self-contained HTML file: tables, an error heatmap (backend path × case) per dtype
and a scatter of relative error against KL magnitude, drawn as inline SVG (no scripts,
no network, no plotting library)."""

from __future__ import annotations

import html
import math

from klverify.crosscheck import summary
from klverify.crosscheck.model import Cell, Report

STATUS_COLOURS = {"known": "#f0a030", "fail": "#d7301f", "error": "#7b3294", "skip": "#dddddd"}
DTYPE_COLOURS = {
    "float64": "#1b9e77",
    "float32": "#377eb8",
    "float16": "#e7298a",
    "bfloat16": "#d95f02",
}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin-bottom:4px} .verdict{font-size:1.2em;font-weight:600;margin:8px 0 16px}
.ok{color:#1a7f37}.bad{color:#cf222e} table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left} th{background:#f6f8fa}
code{font-size:12px} .legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.find li{margin:3px 0} .b{display:inline-block;min-width:22px;padding:0 5px;margin-right:3px;border-radius:8px;color:#fff;font-size:12px;text-align:center}
.b-pass{background:#2da44e}.b-known{background:#f0a030}.b-fail{background:#d7301f}.b-error{background:#7b3294}.b-skip{background:#aaa} .muted{color:#666;font-size:13px} svg text{font-family:system-ui,sans-serif}
"""


def badges(counts: dict[str, int]) -> str:
    """Status counts as coloured badges (no emoji: not every browser has an emoji font)."""
    order = ("pass", "known", "fail", "error", "skip")
    return "".join(
        f'<span class="b b-{s}" title="{s}">{counts[s]}</span>' for s in order if counts.get(s)
    )


def _esc(x: object) -> str:
    return html.escape(str(x))


def _pass_colour(cell: Cell) -> str:
    """Green, darker as the error approaches its tolerance."""
    if not cell.abs_error or not cell.tolerance:
        ratio = 1e-6
    else:
        ratio = max(cell.abs_error / cell.tolerance, 1e-6)
    t = min(max((math.log10(ratio) + 6) / 6, 0.0), 1.0)  # 0 at 1e-6, 1 at the tolerance
    r, g, b = (int(199 - 170 * t), int(233 - 120 * t), int(192 - 140 * t))
    return f"rgb({r},{g},{b})"


def heatmap(report: Report, dtype: str) -> str:
    cells = [c for c in report.cells if c.dtype == dtype]
    rows = list(dict.fromkeys(summary.row_key(c, report) for c in cells))
    cols = list(dict.fromkeys(c.case for c in cells))
    if not rows or not cols:
        return ""
    cw, ch, left, top = 22, 18, 290, 230
    width, height = left + cw * len(cols) + 160, top + ch * len(rows) + 10
    out = [f'<svg width="{width}" height="{height}" role="img" aria-label="heatmap {dtype}">']
    for j, case in enumerate(cols):
        x = left + j * cw + cw / 2
        out.append(
            f'<text x="{x}" y="{top - 6}" font-size="11" transform="rotate(-55 {x} {top - 6})">{_esc(case)}</text>'
        )
    lookup = {(summary.row_key(c, report), c.case): c for c in cells}
    for i, row in enumerate(rows):
        y = top + i * ch
        out.append(
            f'<text x="{left - 6}" y="{y + 12}" font-size="11" text-anchor="end">{_esc(row)}</text>'
        )
        for j, case in enumerate(cols):
            c = lookup.get((row, case))
            if c is None:
                continue
            fill = _pass_colour(c) if c.status == "pass" else STATUS_COLOURS[c.status]
            tip = f"{row} {dtype} {case}: {c.status}"
            if c.abs_error is not None:
                tip += f"; error {c.abs_error:.3g} (tolerance {c.tolerance:.2g})"
            if c.grad_error is not None:
                tip += f"; gradient error {c.grad_error:.2g}"
            if c.message:
                tip += f"; {c.message}"
            out.append(
                f'<rect x="{left + j * cw}" y="{y}" width="{cw - 1}" height="{ch - 1}" fill="{fill}">'
                f"<title>{_esc(tip)}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def scatter(report: Report) -> str:
    """Relative error against |KL| (log-log), one point per finite cell, coloured by dtype."""
    pts = [
        c
        for c in report.cells
        if c.rel_error
        and c.reference
        and c.reference > 0
        and math.isfinite(c.reference)
        and 0 < c.rel_error < math.inf
    ]
    if not pts:
        return ""
    W, H, L, B, T, R = 760, 380, 70, 50, 20, 150
    xs = [math.log10(c.reference) for c in pts]
    ys = [math.log10(c.rel_error) for c in pts]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def px(v: float) -> float:
        return L + (v - x0) / (x1 - x0) * (W - L - R)

    def py(v: float) -> float:
        return H - B - (v - y0) / (y1 - y0) * (H - B - T)

    out = [f'<svg width="{W}" height="{H}" role="img" aria-label="error against KL">']
    out.append(
        f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - B - T}" fill="none" stroke="#999"/>'
    )
    for v in range(x0, x1 + 1):
        out.append(
            f'<text x="{px(v)}" y="{H - B + 16}" font-size="11" text-anchor="middle">1e{v}</text>'
        )
    for v in range(y0, y1 + 1):
        out.append(
            f'<text x="{L - 6}" y="{py(v) + 4}" font-size="11" text-anchor="end">1e{v}</text>'
        )
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{py(v)}" y2="{py(v)}" stroke="#eee"/>')
    out.append(
        f'<text x="{(W - R + L) / 2}" y="{H - 8}" font-size="12" text-anchor="middle">exact KL (per distribution, mean over the case)</text>'
    )
    out.append(
        f'<text x="14" y="{(H - B) / 2}" font-size="12" transform="rotate(-90 14 {(H - B) / 2})" text-anchor="middle">relative error</text>'
    )
    for c, x, y in zip(pts, xs, ys, strict=True):
        colour = DTYPE_COLOURS.get(c.dtype, "#555")
        shape = "rect" if c.plain else "circle"
        tip = _esc(f"{c.label} {c.dtype} {c.case}: rel. error {c.rel_error:.2g}")
        if shape == "circle":
            out.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}" fill-opacity="0.7"><title>{tip}</title></circle>'
            )
        else:
            out.append(
                f'<rect x="{px(x) - 3:.1f}" y="{py(y) - 3:.1f}" width="6" height="6" fill="none" stroke="{colour}"><title>{tip}</title></rect>'
            )
    for k, (dtype, colour) in enumerate(DTYPE_COLOURS.items()):
        out.append(
            f'<circle cx="{W - R + 20}" cy="{T + 14 + 18 * k}" r="5" fill="{colour}"/><text x="{W - R + 30}" y="{T + 18 + 18 * k}" font-size="12">{dtype}</text>'
        )
    out.append(
        f'<circle cx="{W - R + 20}" cy="{T + 100}" r="4" fill="#555"/><text x="{W - R + 30}" y="{T + 104}" font-size="12">safe path</text>'
    )
    out.append(
        f'<rect x="{W - R + 16}" y="{T + 114}" width="8" height="8" fill="none" stroke="#555"/><text x="{W - R + 30}" y="{T + 122}" font-size="12">plain API</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _header(report: Report) -> list[str]:
    ok = not report.failed
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        "<title>klverify consistency report</title>",
        f"<style>{CSS}</style><body>",
        "<h1>klverify consistency report</h1>",
        f'<div class="verdict {"ok" if ok else "bad"}">{_esc(summary.headline(report))}</div>',
    ]
    for env in report.environments:
        pkgs = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
        parts.append(
            f'<div class="muted"><b>{_esc(env.get("machine"))}</b>: Python '
            f"{_esc(env.get('python'))}, {_esc(env.get('platform'))}; {_esc(pkgs)}; "
            f"devices {_esc(env.get('devices'))}</div>"
        )
        for name, why in env.get("missing", {}).items():
            parts.append(f'<div class="muted">{_esc(name)}: {_esc(why)}</div>')
    return parts


def _status_table(report: Report, dtypes: list[str]) -> list[str]:
    parts = ["<h2>Status by backend path and dtype</h2><table><tr><th>backend:path @device</th>"]
    parts += [f"<th>{d}</th>" for d in dtypes] + ["</tr>"]
    for row, by_dtype in summary.status_matrix(report).items():
        cells = "".join(f"<td>{badges(by_dtype.get(d, {}))}</td>" for d in dtypes)
        parts.append(f"<tr><td><code>{_esc(row)}</code></td>{cells}</tr>")
    legend = " ".join(
        badges({status: label})
        for status, label in (
            ("pass", "pass"),
            ("known", "known framework behaviour (allow-listed)"),
            ("fail", "fail"),
            ("error", "error"),
        )
    )
    return [*parts, "</table>", f'<div class="muted">{legend}</div>']


def _plots(report: Report, dtypes: list[str]) -> list[str]:
    parts = [
        "<h2>Error heatmaps</h2>",
        '<div class="legend muted">colour: green = pass (darker as the error nears its tolerance)'
        + "".join(f'<span style="background:{c}"></span>{s}' for s, c in STATUS_COLOURS.items())
        + ". Hover a square for its numbers.</div>",
    ]
    parts += [f"<h3>{d}</h3>{heatmap(report, d)}" for d in dtypes]
    parts += [
        "<h2>Relative error against KL magnitude</h2>",
        '<div class="muted">Errors grow as the KL shrinks: the sum cancels when P ≈ Q.</div>',
        scatter(report),
    ]
    return parts


def _findings(report: Report) -> list[str]:
    found = summary.findings(report)
    if not found:
        return [
            "<h2>Findings</h2><p>Every cell agrees with the exact reference within its tolerance.</p>"
        ]
    parts = [
        "<h2>Findings</h2><table><tr><th></th><th>backend:path @device</th><th>problem</th>"
        "<th>cells</th><th>why</th></tr>"
    ]
    for f in found:
        tag = badges({"fail": "FAIL"}) if f.status == "fail" else badges({"known": "known"})
        examples = ", ".join(f.where[:3]) + (
            f", … {len(f.where) - 3} more" if len(f.where) > 3 else ""
        )
        parts.append(
            f"<tr><td>{tag}</td><td><code>{_esc(f.row)}</code></td><td>{_esc(f.what)}</td>"
            f'<td><span class="muted">{_esc(examples)}</span></td><td><i>{_esc(f.reason)}</i></td></tr>'
        )
    return [*parts, "</table>"]


def _reference_tables(report: Report) -> list[str]:
    parts = [
        "<h2>Tolerances</h2><table><tr><th>dtype</th><th>value</th><th>gradient</th><th>why</th></tr>"
    ]
    for t in report.tolerances:
        parts.append(
            f"<tr><td>{_esc(t['dtype'])}</td><td>{t['k']:g}·eps·S</td>"
            f"<td>{t['k_grad']:g}·eps·max(P+Q)/T</td><td>{_esc(t['reason'])}</td></tr>"
        )
    parts.append(
        "</table><h2>Cases</h2><table><tr><th>case</th><th>space</th><th>T</th><th>what</th></tr>"
    )
    for name, info in report.cases.items():
        parts.append(
            f"<tr><td>{_esc(name)}</td><td>{_esc(info['space'])}</td>"
            f"<td>{info['temperature']:g}</td><td>{_esc(info['description'])}</td></tr>"
        )
    return [*parts, "</table>"]


def render(report: Report) -> str:
    """Verdict and status first, then the pictures, then the findings and reference tables."""
    dtypes = summary.dtypes_of(report)
    parts = [
        *_header(report),
        *_status_table(report, dtypes),
        *_plots(report, dtypes),
        *_findings(report),
        *_reference_tables(report),
        "</body></html>",
    ]
    return "\n".join(parts)
