"""The ``klverify`` command line: one subcommand per concern, each in its own module.

Every command module imports only the standard library at import time and exposes
``register(subparsers)``; heavy imports (numpy, frameworks) happen inside the command's
``run``. That keeps ``klverify lint`` and ``klverify --help`` free of numpy, torch and jax.
Exit codes follow Ruff: 0 success, 1 findings or failed checks, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute subcommands, in the order `klverify --help` lists them.
COMMAND_MODULES = (
    "klverify.crosscheck.command",
    "klverify.backends.command",
    "klverify.lint.command",
    "klverify.probe.command",
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how the command was called; reported in one line with exit 2."""


def build_parser() -> argparse.ArgumentParser:
    from klverify import __version__

    parser = argparse.ArgumentParser(
        prog="klverify",
        description="Check that your KL divergence computes what you think it computes.",
    )
    parser.add_argument("--version", action="version", version=f"klverify {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a concern not built into this install
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise  # the module exists but something it imports is missing: a real bug
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"klverify {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("klverify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
