"""Benchmark ``klverify lint`` against ``ruff check`` and bare ``ast.parse``, side by side.

Run by hand (not a test): ``.venv/bin/python benchmarks/bench_lint.py [--tree DIR]``.

1. Real tree: every ``.py`` file of the installed ``torch`` package (about 2,300 files,
   46 MB), copied to a temporary folder so that no .gitignore or venv exclude applies.
   Times ``klverify lint`` and ``ruff check --no-cache --isolated`` (default rules) as
   subprocesses, cold start included, best of ``--repeat``.
2. Worst case: the same files, each with a small function that calls ``F.kl_div``
   appended, so the prefilter lets every file through. Compares one process of
   klverify's parse + analysis with bare ``ast.parse`` of the same texts, and the CLI
   with one process against all cores.
3. Startup: which heavy modules ``klverify lint``'s own modules import (none allowed).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
RUFF = shutil.which("ruff") or str(Path(PYTHON).parent / "ruff")
SNIPPET = """

import torch.nn.functional as _klv_F


def _klverify_bench(student_logits, teacher_logits):
    log_q = _klv_F.log_softmax(student_logits, dim=-1)
    p = _klv_F.softmax(teacher_logits, dim=-1)
    return _klv_F.kl_div(log_q, p, reduction="batchmean")
"""


def copy_tree(source: Path, target: Path, suffix: str = "") -> tuple[int, int]:
    files = size = 0
    for folder, _, names in os.walk(source):
        for name in names:
            if not name.endswith(".py"):
                continue
            src = Path(folder) / name
            dst = target / src.relative_to(source)
            dst.parent.mkdir(parents=True, exist_ok=True)
            data = src.read_bytes() + suffix.encode()
            dst.write_bytes(data)
            files += 1
            size += len(data)
    return files, size


def best_of(repeat: int, command: list[str]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def in_process(repeat: int, texts: list[tuple[str, str]]) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from klverify.lint import engine, selection

    enabled = selection.resolve(None)
    parse_times, lint_times = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        for name, text in texts:
            with contextlib.suppress(SyntaxError, ValueError):
                ast.parse(text, filename=name)
        parse_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        for name, text in texts:
            engine.lint_text(text, name, enabled)
        lint_times.append(time.perf_counter() - start)
    return min(parse_times), min(lint_times)


def heavy_imports() -> list[str]:
    code = (
        "import sys, argparse\n"
        "from klverify.lint import command\n"
        "p = argparse.ArgumentParser(); command.register(p.add_subparsers())\n"
        "print(sorted(m for m in ('numpy', 'torch', 'jax', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout)  # a printed list of names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(sysconfig.get_paths()["purelib"]) / "torch"
    parser.add_argument("--tree", type=Path, default=default, help="real tree (default: torch)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    klverify = [PYTHON, "-m", "klverify", "lint", "--exit-zero"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, ruff: {RUFF}")
    with tempfile.TemporaryDirectory() as tmp:
        real = Path(tmp) / "real"
        files, size = copy_tree(args.tree, real)
        print(f"\n1. real tree {args.tree}: {files} files, {size / 1e6:.1f} MB")
        ruff = best_of(
            args.repeat, [RUFF, "check", "--no-cache", "--isolated", "--exit-zero", str(real)]
        )
        ours = best_of(args.repeat, [*klverify, str(real)])
        print(f"   ruff check --no-cache --isolated : {ruff:6.2f} s")
        print(f"   klverify lint                     : {ours:6.2f} s  ({ours / ruff:.2f}x ruff)")

        worst = Path(tmp) / "worst"
        copy_tree(args.tree, worst, SNIPPET)
        texts = []
        for path in sorted(worst.rglob("*.py")):
            texts.append((str(path), path.read_bytes().decode("utf-8", "replace")))
        parse, lint = in_process(args.repeat, texts)
        print(f"\n2. every file calls kl_div ({len(texts)} files), one process:")
        print(f"   bare ast.parse                    : {parse:6.2f} s")
        print(
            f"   klverify parse + analysis         : {lint:6.2f} s  ({lint / parse:.2f}x ast.parse)"
        )
        one = best_of(args.repeat, [*klverify, "--jobs", "1", str(worst)])
        many = best_of(args.repeat, [*klverify, str(worst)])
        print(f"   klverify lint --jobs 1 (CLI)      : {one:6.2f} s")
        print(
            f"   klverify lint, all {os.cpu_count()} cores (CLI)  : {many:6.2f} s  ({one / many:.2f}x speed-up)"
        )
    print(f"\n3. heavy modules imported by the lint command: {heavy_imports() or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
