"""The ``lint``, ``rule`` and ``rules`` subcommands (exit 0 clean, 1 findings, 2 usage)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_FINDINGS = 0, 1


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _flatten(values: list[list[str]] | None) -> list[str] | None:
    if values is None:
        return None
    return [code for group in values for code in group]


def register(subparsers: argparse._SubParsersAction) -> None:
    lint = subparsers.add_parser(
        "lint",
        help="find misuse of torch's kl_div / KLDivLoss in source code",
        description="Find misuse of PyTorch's KL API (F.kl_div, nn.KLDivLoss) by reading "
        "source, never importing it. Exit 0: clean; 1: findings; 2: usage or config error.",
    )
    lint.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: .)")
    lint.add_argument(
        "--select",
        type=_codes,
        action="append",
        metavar="CODES",
        help="comma-separated codes or prefixes to enable, or ALL (replaces the defaults)",
    )
    lint.add_argument(
        "--extend-select",
        type=_codes,
        action="append",
        metavar="CODES",
        help="codes or prefixes to enable on top of the selection",
    )
    lint.add_argument(
        "--ignore",
        type=_codes,
        action="append",
        metavar="CODES",
        help="codes or prefixes to disable",
    )
    lint.add_argument(
        "--exclude",
        type=_codes,
        action="append",
        metavar="PATTERNS",
        help="glob patterns to skip (replaces the default excludes)",
    )
    lint.add_argument(
        "--extend-exclude",
        type=_codes,
        action="append",
        metavar="PATTERNS",
        help="glob patterns to skip on top of the default excludes",
    )
    lint.add_argument(
        "--force-exclude",
        action="store_true",
        default=None,
        help="apply excludes to files named on the command line too (pre-commit)",
    )
    lint.add_argument(
        "--no-respect-gitignore",
        dest="respect_gitignore",
        action="store_false",
        default=None,
        help="lint files that .gitignore excludes",
    )
    lint.add_argument(
        "--output-format",
        choices=("text", "json", "sarif", "github"),
        default="text",
        help="how to print diagnostics (default: text)",
    )
    lint.add_argument(
        "--statistics",
        action="store_true",
        help="print how often each code fired instead of the diagnostics",
    )
    lint.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when there are findings"
    )
    lint.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe fixes (log_target=True, reduction='batchmean')",
    )
    lint.add_argument(
        "--diff",
        action="store_true",
        help="print the fixes as a unified diff instead of writing them",
    )
    lint.add_argument(
        "--config",
        type=Path,
        metavar="PYPROJECT",
        help="read [tool.klverify] from this file instead of the nearest pyproject.toml",
    )
    lint.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="processes to use (default: all cores, when there are enough files)",
    )
    lint.set_defaults(func=run_lint)

    rule = subparsers.add_parser(
        "rule",
        help="print the documentation of a lint rule",
        description="Print a lint rule's documentation.",
    )
    rule.add_argument("rule", metavar="CODE", help="a code (KLV001) or name (input-not-log-probs)")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")
    rule.set_defaults(func=run_rule)

    rules = subparsers.add_parser(
        "rules",
        help="list the lint rules",
        description="List every lint rule with its code and summary.",
    )
    rules.add_argument("--output-format", choices=("text", "json"), default="text")
    rules.set_defaults(func=run_rules)


def _rule_json(rule) -> dict:
    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.summary,
        "default": rule.default,
        "fixable": rule.fixable,
        "url": rule.url,
        "explanation": rule.doc,
    }


def run_rule(args: argparse.Namespace) -> int:
    from klverify.cli import UsageError
    from klverify.lint.rules import rule_by_code_or_name

    rule = rule_by_code_or_name(args.rule)
    if rule is None:
        raise UsageError(f"unknown rule {args.rule!r}; `klverify rules` lists them")
    if args.output_format == "json":
        print(json.dumps(_rule_json(rule), indent=2, ensure_ascii=False))
    else:
        from klverify.lint.docs import page

        sys.stdout.write(page(rule))
    return EXIT_OK


def run_rules(args: argparse.Namespace) -> int:
    from klverify.lint.rules import RULES

    if args.output_format == "json":
        print(json.dumps([_rule_json(r) for r in RULES.values()], indent=2, ensure_ascii=False))
        return EXIT_OK
    for rule in RULES.values():
        flags = ("   " if rule.default else "off") + (" [*]" if rule.fixable else "    ")
        print(f"{rule.code}  {flags}  {rule.name:<30}  {rule.summary}")
    return EXIT_OK


def run_lint(args: argparse.Namespace) -> int:
    from klverify import __version__
    from klverify.cli import UsageError
    from klverify.lint import engine, formats, project
    from klverify.lint.config import ConfigError
    from klverify.lint.selection import SelectorError

    options = project.Options(
        select=_flatten(args.select),
        ignore=_flatten(args.ignore),
        extend_select=_flatten(args.extend_select),
        exclude=_flatten(args.exclude),
        extend_exclude=_flatten(args.extend_exclude),
        force_exclude=args.force_exclude,
        respect_gitignore=args.respect_gitignore,
        config=args.config,
    )
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    try:
        jobs = project.plan(args.paths or ["."], options)
    except (ConfigError, SelectorError) as exc:
        raise UsageError(str(exc)) from None

    findings = engine.empty_named_files(args.paths) + engine.run_files(jobs, processes=args.jobs)
    fixed = 0
    if args.fix or args.diff:
        findings, fixed, diffs = _fix(jobs, findings, write=args.fix and not args.diff)
        if args.diff:
            sys.stdout.write("".join(diffs))
            return EXIT_FINDINGS if diffs and not args.exit_zero else EXIT_OK

    if args.statistics:
        text = formats.statistics(findings, args.output_format)
    else:
        text = formats.render(findings, args.output_format, __version__)
    if text:
        print(text)
    if args.output_format == "text" and not args.statistics:
        _summary(findings, fixed)
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


def _fix(jobs, findings, write: bool):
    """Fix the files that have fixable findings; returns (findings left, fixes, diffs)."""
    from klverify.lint import fix

    fixable_files = {f.diagnostic.filename for f in findings if f.edits}
    enabled_by_file = {str(path): enabled for path, enabled in jobs}
    left = [f for f in findings if f.diagnostic.filename not in fixable_files]
    fixed, diffs = 0, []
    for filename in sorted(fixable_files):
        path = Path(filename)
        result = fix.fix_file(path, enabled_by_file[filename])
        if result is None:
            continue
        old, new, remaining, applied = result
        left.extend(remaining)
        if new != old:
            fixed += applied
            if write:
                bom = path.read_bytes().startswith(b"\xef\xbb\xbf")
                fix.write_atomic(path, new, bom=bom)
            else:
                diffs.append(fix.unified_diff(filename, old, new))
    left.sort(
        key=lambda f: (
            f.diagnostic.filename,
            f.diagnostic.row,
            f.diagnostic.column,
            f.diagnostic.code,
        )
    )
    return left, fixed, diffs


def _summary(findings, fixed: int) -> None:
    fixable = sum(1 for f in findings if f.edits)
    parts = []
    if findings:
        parts.append(f"Found {len(findings)} error{'s' if len(findings) != 1 else ''}.")
    if fixed:
        parts.append(f"Fixed {fixed}.")
    if fixable:
        parts.append(f"[*] {fixable} fixable with `klverify lint --fix`.")
    if parts:
        print(" ".join(parts), file=sys.stderr)
