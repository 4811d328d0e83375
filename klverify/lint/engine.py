"""Lint sources, files and trees: prefilter, parse, analyse, locate, honour ``noqa``.

A file is only parsed when its bytes name ``kl_div`` or ``KLDivLoss`` (every spelling of
the API does, so the prefilter loses nothing); on a real tree that skips almost every
file. Many candidate files are spread over processes.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from klverify.lint import noqa
from klverify.lint.diagnostic import Diagnostic, Edit, Finding
from klverify.lint.rules import IO_ERROR_CODE

_WORDS = re.compile(rb"\b(?:kl_div|KLDivLoss)\b")
_BOUNDED = ("kl_div", "KLDivLoss")
_UNBOUNDED = ("softmax", "Softmax", "sigmoid", "Sigmoid")
_LHS = re.compile(r"^\s*(?:self\.)?(\w+)\s*(?::[^=\n]*)?=(?!=)")
_AS = re.compile(r"\bkl_div\s+as\s+(\w+)")
_CLASS = re.compile(r"^\s*class\s+(\w+)\s*\(")
_GLOBAL = re.compile(r"^[ \t]*global[ \t]+([\w \t,]+)", re.MULTILINE)
_NEWLINE = re.compile(r"\r\n|\r|\n")
#: Processes pay for their start-up (~50 ms) past this much source to parse (bytes).
PARALLEL_MIN_BYTES = 1_000_000


def may_contain_kl(data: bytes) -> bool:
    """The sound byte prefilter: can this file contain a call of the KL API?"""
    if b"kl_div" not in data and b"KLDivLoss" not in data:
        return False
    return _WORDS.search(data) is not None


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _find(source: str, word: str, bounded: bool) -> list[int]:
    """Offsets of ``word`` in ``source`` (as a whole word if ``bounded``), by ``str.find``."""
    out = []
    size, end = len(word), len(source)
    i = source.find(word)
    while i != -1:
        if not bounded or (
            (i == 0 or not _is_word_char(source[i - 1]))
            and (i + size == end or not _is_word_char(source[i + size]))
        ):
            out.append(i)
        i = source.find(word, i + size)
    return out


def _line_at(source: str, offset: int) -> str:
    start = source.rfind("\n", 0, offset) + 1
    stop = source.find("\n", offset)
    return source[start : stop if stop != -1 else len(source)]


def _names_bound(source: str, offsets: list[int], word: str) -> set[str]:
    """Names that lines mentioning ``word`` bind: ``crit = nn.KLDivLoss()``, ``kl_div as kd``."""
    names: set[str] = set()
    for offset in offsets:
        line = _line_at(source, offset)
        names.update(_AS.findall(line))
        match = _CLASS.match(line)
        if match:
            names.add(match.group(1))
            continue
        if word == "kl_div" and "kl_div(" in line.replace(" ", ""):
            continue
        match = _LHS.match(line)
        if match:
            names.add(match.group(1))
    return names


def _hit_lines(source: str) -> list[int]:
    """Lines the analysis must look at: KL names, softmax/sigmoid, and names bound to them.

    Found with ``str.find`` rather than one big regular expression: an alternation of
    words makes ``re`` try every position, which costs more than parsing the file.
    """
    offsets: list[int] = []
    names: set[str] = set()
    for word in _BOUNDED:
        found = _find(source, word, True)
        offsets += found
        names |= _names_bound(source, found, word)
    for word in _UNBOUNDED:
        offsets += _find(source, word, False)
    seen = set(_BOUNDED)
    for _ in range(3):  # names bound to those names (instances of KLDivLoss subclasses)
        fresh = names - seen - {"self", "cls", "_"}
        if not fresh:
            break
        seen |= fresh
        for name in sorted(fresh):
            found = _find(source, name, True)
            offsets += found
            names |= _names_bound(source, found, name)
    lines: list[int] = []
    last, line = 0, 1
    for offset in sorted(offsets):
        line += source.count("\n", last, offset)
        last = offset
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


class _Locator:
    """Turns AST positions (UTF-8 byte columns) into 1-based character columns."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = _NEWLINE.split(self.source)
        return self._lines

    def line(self, row: int) -> str:
        lines = self.lines
        return lines[row - 1] if 0 < row <= len(lines) else ""

    def column(self, row: int, byte_col: int) -> int:
        text = self.line(row)
        if text.isascii():
            return byte_col + 1
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="replace")) + 1


def _io_error(filename: str, message: str) -> Finding:
    return Finding(Diagnostic(IO_ERROR_CODE, message, filename, 1, 1, 1, 1))


def lint_text(
    source: str,
    filename: str,
    enabled: frozenset[str],
    tree: ast.Module | None = None,
) -> list[Finding]:
    """Findings for one source text, with ``noqa`` honoured and only ``enabled`` codes."""
    from klverify.lint.analysis import FileAnalysis
    from klverify.lint.checks import check_kl

    if tree is None:
        try:
            tree = ast.parse(source, filename=filename)
        except SyntaxError as exc:
            row = exc.lineno or 1
            column = (exc.offset or 1) if exc.lineno else 1
            message = f"failed to parse: {exc.msg}"
            return [Finding(Diagnostic(IO_ERROR_CODE, message, filename, row, column, row, column))]
        except (ValueError, RecursionError, MemoryError) as exc:
            return [_io_error(filename, f"failed to parse: {exc or type(exc).__name__}")]
    exempt_file = noqa.file_exemption(source) if "klverify" in source else False
    if exempt_file is noqa.ALL:
        return []
    hits = _hit_lines(source)
    if not hits:
        return []
    locator = _Locator(source)
    found: dict[tuple[str, int, int], Finding] = {}

    def report(code: str, node: ast.AST, message: str, edits=()) -> None:
        if code not in enabled or noqa.is_exempt(code, exempt_file):
            return
        row, col = node.lineno, node.col_offset  # type: ignore[attr-defined]
        key = (code, row, col)
        if key in found:
            return
        end_row, end_col = node.end_lineno, node.end_col_offset  # type: ignore[attr-defined]
        if noqa.is_exempt(code, noqa.line_exemption(locator.line(row))):
            return
        diagnostic = Diagnostic(
            code,
            message,
            filename,
            row,
            locator.column(row, col),
            end_row,
            locator.column(end_row, end_col),
        )
        converted = tuple(
            Edit(r, locator.column(r, c), er, locator.column(er, ec), text)
            for r, c, er, ec, text in edits
        )
        found[key] = Finding(diagnostic, converted)

    global_names = {name.strip() for names in _GLOBAL.findall(source) for name in names.split(",")}
    analysis = FileAnalysis(tree, hits, global_names, report, check_kl)
    analysis.quote_of = lambda node: _quote_of(locator, node)  # type: ignore[attr-defined]
    try:
        analysis.run()
    except RecursionError:
        found[("E902", 0, 0)] = _io_error(filename, "too deeply nested to analyse")
    return sorted(found.values(), key=_order)


def _quote_of(locator: _Locator, node: ast.AST) -> str:
    text = locator.line(node.lineno).encode("utf-8")  # type: ignore[attr-defined]
    quote = text[node.col_offset : node.col_offset + 1]  # type: ignore[attr-defined]
    return "'" if quote == b"'" else '"'


def _order(finding: Finding) -> tuple:
    d = finding.diagnostic
    return (d.row, d.column, d.code)


def decode(data: bytes, filename: str) -> str | Finding:
    """UTF-8 text of a file (a BOM is allowed), or an E902 finding."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _io_error(filename, f"not UTF-8: cannot decode byte at offset {exc.start}")


def lint_file(path: Path, enabled: frozenset[str], filename: str | None = None) -> list[Finding]:
    """Read, prefilter and lint one file; never raises for a bad file."""
    shown = filename if filename is not None else str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [_io_error(shown, f"cannot read: {exc.strerror or exc}")]
    if not may_contain_kl(data):
        return []
    text = decode(data, shown)
    if isinstance(text, Finding):
        return [text]
    return lint_text(text, shown, enabled)


def empty_named_files(paths: Sequence[str | os.PathLike[str]]) -> list[Finding]:
    """E902 for files named on the command line that are empty: naming an empty file is
    most likely a mistake. Empty files found by walking a folder (``__init__.py``) are
    valid Python and stay silent."""
    findings = []
    for given in paths:
        path = Path(given)
        try:
            if path.is_file() and path.stat().st_size == 0:
                findings.append(_io_error(str(given), "file is empty: nothing to lint"))
        except OSError:
            continue  # unreadable: reported by run_files
    return findings


def _worker(job: tuple[str, str, frozenset[str]]) -> list[Finding]:
    path, shown, enabled = job
    return lint_file(Path(path), enabled, shown)


def run_files(
    jobs: Sequence[tuple[Path, frozenset[str]]], processes: int | None = None
) -> list[Finding]:
    """Lint many files; candidates (after the prefilter) go to a process pool if many."""
    candidates: list[tuple[str, str, frozenset[str]]] = []
    sizes: dict[str, int] = {}
    results: list[Finding] = []
    for path, enabled in jobs:
        shown = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            results.append(_io_error(shown, f"cannot read: {exc.strerror or exc}"))
            continue
        if may_contain_kl(data):
            candidates.append((str(path), shown, enabled))
            sizes[str(path)] = len(data)
    workers = processes if processes is not None else (os.cpu_count() or 1)
    if workers > 1 and len(candidates) > 1 and sum(sizes.values()) >= PARALLEL_MIN_BYTES:
        candidates.sort(key=lambda job: -sizes[job[0]])  # largest first: even finish
        results.extend(_parallel(candidates, workers))
    else:
        for job in candidates:
            results.extend(_worker(job))
    return sorted(results, key=lambda f: (f.diagnostic.filename, *_order(f)))


def _parallel(candidates: list[tuple[str, str, frozenset[str]]], workers: int) -> Iterable[Finding]:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    chunk = max(1, min(16, len(candidates) // (workers * 8)))
    with context.Pool(min(workers, len(candidates))) as pool:
        for findings in pool.imap_unordered(_worker, candidates, chunksize=chunk):
            yield from findings
