"""``klverify report``: run the cross-check and write the consistency report.

Stdlib-only at import time (the CLI builds every subcommand's parser on each run).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

DESCRIPTION = """\
Run the same KL computations through every installed backend (NumPy, SciPy, PyTorch,
JAX and optax), on every device and dtype, compare each with the exact reference and
the gradients with the analytic ones, and write klverify-report.{json,md,html}.
Exit status: 0 when every cell passes or is a known (allow-listed) framework
behaviour, 1 when a cell fails, 2 on bad usage."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="cross-check every backend against the exact reference and write the report",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backends", help="comma-separated backends (default: every installed one)")
    p.add_argument(
        "--devices", help="comma-separated devices, e.g. cpu,cuda:0 (default: all found)"
    )
    p.add_argument(
        "--dtypes", help="comma-separated dtypes (default: float64,float32,float16,bfloat16)"
    )
    p.add_argument(
        "--families", help="comma-separated case families (default: all; see --list-families)"
    )
    p.add_argument(
        "--max-vocab", type=int, metavar="N", help="skip cases with more than N outcomes"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the case generators (default 0)")
    p.add_argument("--no-grad", action="store_true", help="skip the gradient checks")
    p.add_argument(
        "--known",
        action="append",
        metavar="FILE",
        default=[],
        help="extra allow-list of known failures (PATTERN  # reason per line)",
    )
    p.add_argument(
        "--cases-from",
        action="append",
        metavar="MODULE",
        default=[],
        help="import MODULE first so its @case_family functions are registered",
    )
    p.add_argument(
        "--output",
        default="klverify-report",
        metavar="PREFIX",
        help="write PREFIX.json, PREFIX.md and PREFIX.html (default klverify-report)",
    )
    p.add_argument(
        "--formats", default="json,md,html", help="which files to write (default json,md,html)"
    )
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="do not run: merge these reports (e.g. from CPU and GPU runners) into one",
    )
    p.add_argument("--label", help="name of this machine in the report (default: hostname)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no table")
    p.add_argument("--list-families", action="store_true", help="list the case families and exit")
    p.set_defaults(func=run)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def run(args: argparse.Namespace) -> int:
    from klverify.cli import UsageError
    from klverify.crosscheck import cases as case_module
    from klverify.crosscheck.model import Report, ReportFormatError, merge

    for module in args.cases_from:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UsageError(f"--cases-from {module}: cannot import it ({exc})") from None
    if args.list_families:
        for fam in case_module.FAMILIES.values():
            print(f"{fam.name:16} {fam.description}")
        return 0
    formats = _split(args.formats) or []
    bad = sorted(set(formats) - {"json", "md", "html"})
    if bad:
        raise UsageError(f"--formats: unknown {', '.join(bad)}; choose from json, md, html")

    if args.merge:
        try:
            report = merge([Report.load(path) for path in args.merge])
        except ReportFormatError as exc:
            raise UsageError(f"--merge: {exc}") from None
    else:
        report = _run_matrix(args)
    written = []
    from klverify.crosscheck.render import write_report

    for fmt in formats:
        written.append(str(write_report(report, f"{args.output}.{fmt}")))
    if not args.quiet:
        from klverify.crosscheck.render.terminal import render

        render(report, written)
    else:
        from klverify.crosscheck.summary import headline

        print(headline(report))
    return 1 if report.failed else 0


def _run_matrix(args: argparse.Namespace) -> Any:
    from klverify.backends import SPECS
    from klverify.backends.base import DTYPE_EPS
    from klverify.cli import UsageError
    from klverify.crosscheck import engine, known
    from klverify.crosscheck.cases import FAMILIES

    options = engine.Options(
        backends=_split(args.backends),
        devices=_split(args.devices),
        dtypes=_split(args.dtypes),
        families=_split(args.families),
        max_vocab=args.max_vocab,
        seed=args.seed,
        grads=not args.no_grad,
    )
    if args.label:
        options.machine = args.label
    for name, given, valid in (
        ("--backends", options.backends, [n for n in SPECS if n != "reference"]),
        ("--dtypes", options.dtypes, list(DTYPE_EPS)),
        ("--families", options.families, list(FAMILIES)),
    ):
        unknown = [v for v in given or [] if v not in valid]
        if unknown:
            raise UsageError(
                f"{name}: unknown {', '.join(unknown)}; choose from {', '.join(valid)}"
            )
    if args.max_vocab is not None and args.max_vocab < 1:
        raise UsageError("--max-vocab must be a positive number of outcomes")
    try:
        options.known = known.load(args.known)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--known: {exc}") from None
    found, missing = engine.targets(options)
    if not found:
        available = sorted(
            {d for t in engine.targets(engine.Options(known=[]))[0] for d in [t.device]}
        )
        why = "; ".join(f"{name}: {reason}" for name, reason in missing.items())
        raise UsageError(
            "nothing to cross-check: no installed backend matches "
            f"--backends/--devices/--dtypes (devices here: {', '.join(available) or 'none'})"
            + (f"; {why}" if why else "")
        )
    if args.quiet:
        return engine.run(options)
    return _with_progress(engine, options)


def _with_progress(engine: Any, options: Any) -> Any:
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:

        def plain(done: int, total: int, label: str) -> None:
            if done == total or done % 100 == 0:
                print(f"\r{done}/{total} cells", end="\n" if done == total else "", file=sys.stderr)

        return engine.run(options, plain)
    with Progress(
        TextColumn("cross-checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        return engine.run(options, update)
