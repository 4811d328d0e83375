"""The klverify pytest plugin, registered through the ``pytest11`` entry point.

It gives a project's own tests:

* fixtures ``kl_backend`` (every installed backend × device), ``kl_reference`` (exact),
  ``assert_kl_close``, ``assert_kl_grad_close`` and ``kl_probe``;
* the marker ``@pytest.mark.klverify(backends=..., dtypes=...)`` narrowing ``kl_backend``;
* ``--klverify-lint`` (one lint item per Python file), ``--klverify-backends``,
  ``--klverify-devices`` and ``--klverify-report=PATH``, each also an ini option.

Every pytest run in an environment with klverify installed loads this module, so it
imports nothing but pytest and the standard library: numpy and the frameworks load when
a test first uses a fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from klverify.testing.records import CheckRecord, SessionRecords

if TYPE_CHECKING:
    from klverify.testing.backend_cases import Case, KLBackend

RECORDS = pytest.StashKey[SessionRecords]()
CASES = pytest.StashKey[dict[tuple[Any, ...], list["Case"]]]()
DEVICES = pytest.StashKey[dict[str, list[str]]]()
REPORT_WRITTEN = pytest.StashKey[str]()  # what the terminal summary says about the report
REPORT_SUFFIXES = (".json", ".md", ".markdown", ".html", ".htm")


# --------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("klverify", "klverify: KL divergence checks")
    group.addoption(
        "--klverify-lint",
        action="store_true",
        default=None,
        help="lint every collected Python file with klverify's kl_div rules (one item per file)",
    )
    group.addoption(
        "--klverify-backends",
        metavar="NAMES",
        default=None,
        help="comma-separated backends kl_backend runs: numpy,scipy,torch,jax (default: all)",
    )
    group.addoption(
        "--klverify-devices",
        metavar="DEVICES",
        default=None,
        help="comma-separated devices kl_backend runs on: cpu, cuda, cuda:1 (default: all found)",
    )
    group.addoption(
        "--klverify-report",
        metavar="PATH",
        default=None,
        help="write the session's KL checks as a consistency report (.json, .md or .html)",
    )
    parser.addini("klverify_lint", "run --klverify-lint by default", type="bool", default=False)
    parser.addini("klverify_lint_select", "lint codes to report (default: all)", type="args")
    parser.addini("klverify_lint_ignore", "lint codes to leave out", type="args")
    parser.addini("klverify_backends", "default for --klverify-backends", default="")
    parser.addini("klverify_devices", "default for --klverify-devices", default="")
    parser.addini("klverify_report", "default for --klverify-report", default="")


def _setting(config: pytest.Config, name: str) -> Any:
    """The command-line option if given, else the ini value (None when empty)."""
    value = config.getoption(name)
    if value is None:
        value = config.getini(name)
    return value or None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "klverify(backends=None, dtypes=None): run kl_backend only for these backends "
        "(names) and dtypes (one case per dtype)",
    )
    config.addinivalue_line("markers", "klverify_lint: klverify lint items (--klverify-lint)")
    report = _setting(config, "klverify_report")
    if report and not str(report).lower().endswith(REPORT_SUFFIXES):
        raise pytest.UsageError(
            f"--klverify-report={report}: the extension picks the format; end the path with "
            f"{', '.join(REPORT_SUFFIXES)}"
        )
    config.stash[RECORDS] = SessionRecords()
    config.stash[CASES] = {}
    config.stash[DEVICES] = {}


def pytest_report_header(config: pytest.Config) -> str:
    """Name the backends found; listing devices would import torch, so that waits for collection."""
    import importlib.util

    from klverify.backends import SPECS
    from klverify.testing.backend_cases import FIXTURE_BACKENDS

    found = [n for n in FIXTURE_BACKENDS if importlib.util.find_spec(SPECS[n].framework)]
    missing = [n for n in FIXTURE_BACKENDS if n not in found]
    line = f"klverify: backends {', '.join(found) or 'none'}"
    if missing:
        line += f" (not installed: {', '.join(missing)})"
    return line + "; devices are listed after collection when a test uses kl_backend"


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    devices = config.stash.get(DEVICES, {})
    if not devices:
        return None
    found = ", ".join(f"{name}-{d}" for name, ds in devices.items() for d in ds)
    return f"klverify: devices found: {found}"


# ---------------------------------------------------------------- kl_backend
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kl_backend" not in metafunc.fixturenames:
        return
    from klverify.testing.backend_cases import build_cases

    config = metafunc.config
    marker = metafunc.definition.get_closest_marker("klverify")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    unknown = set(kwargs) - {"backends", "dtypes"}
    if unknown or (marker is not None and marker.args):
        pytest.fail(
            f"{metafunc.definition.nodeid}: @pytest.mark.klverify takes only the keywords "
            f"backends=... and dtypes=... (got {sorted(unknown) or list(marker.args)})",
            pytrace=False,
        )
    key = (
        _setting(config, "klverify_backends"),
        _setting(config, "klverify_devices"),
        _freeze(kwargs.get("backends")),
        _freeze(kwargs.get("dtypes")),
    )
    cache = config.stash[CASES]
    if key not in cache:
        try:
            cache[key] = build_cases(
                option_backends=key[0],
                option_devices=key[1],
                marker_backends=kwargs.get("backends"),
                marker_dtypes=kwargs.get("dtypes"),
                devices_of=lambda name: _devices(config, name),
            )
        except ValueError as exc:
            pytest.fail(f"{metafunc.definition.nodeid}: {exc}", pytrace=False)
    params = [
        pytest.param(case.value, id=case.id, marks=[pytest.mark.skip(reason=case.skip)])
        if case.value is None
        else pytest.param(case.value, id=case.id)
        for case in cache[key]
    ]
    metafunc.parametrize("kl_backend", params, indirect=True)


def _freeze(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


def _devices(config: pytest.Config, name: str) -> list[str]:
    from klverify.backends import get_backend

    found = config.stash[DEVICES]
    if name not in found:
        found[name] = list(get_backend(name).devices())
    return found[name]


@pytest.fixture
def kl_backend(request: pytest.FixtureRequest) -> KLBackend:
    """One installed backend on one device: ``.name``, ``.device``, ``.dtype``, ``.array()``, ``.kl()``.

    Tests using it run once per backend × device (ids like ``torch-cpu``, ``jax-cpu``);
    narrow them with ``@pytest.mark.klverify(backends=..., dtypes=...)``.
    """
    if not hasattr(request, "param"):
        pytest.fail(
            "kl_backend is parametrised by the klverify plugin; request it as a test argument "
            "(not through request.getfixturevalue)",
            pytrace=False,
        )
    return request.param


@pytest.fixture(scope="session")
def kl_reference() -> Any:
    """The exact reference: ``kl_reference(p, q, space=..., ...)`` and ``kl_reference.grad(...)``."""
    from klverify.testing.reference_fixture import KLReference

    return KLReference()


@pytest.fixture
def kl_probe() -> Callable[..., Any]:
    """``klverify.probe.probe``: what a loss function computes, found by probing it."""
    try:
        from klverify.probe import probe
    except ImportError as exc:
        pytest.skip(f"klverify.probe is not available in this install ({exc})")
    return probe


# ------------------------------------------------------------------- assertions
def _run_check(
    request: pytest.FixtureRequest, check: Callable[..., Any], *args: Any, **kw: Any
) -> CheckRecord:
    from klverify.testing.assertions import KLCheckError

    try:
        record, message = check(*args, nodeid=request.node.nodeid, **kw)
    except KLCheckError as exc:
        error = f"{check.__name__.replace('check_', 'assert_')}: {exc}"
    else:
        error = ""
    if error:  # failed outside the except block, so no "during handling" chain is printed
        pytest.fail(error, pytrace=False)
    request.config.stash[RECORDS].add(record)
    if message:
        pytest.fail(message, pytrace=False)
    return record


@pytest.fixture
def assert_kl_close(request: pytest.FixtureRequest) -> Callable[..., CheckRecord]:
    """``assert_kl_close(actual, p, q, *, space, temperature, reduction, dtype, tolerance)``.

    Fails the test, with a table of expected/obtained/errors/ulps/tolerance, unless
    ``actual`` is within the dtype-aware tolerance of the exact KL(P‖Q).
    """
    from klverify.testing.assertions import check_kl_close

    def assert_kl_close(actual: Any, p: Any, q: Any, **kwargs: Any) -> CheckRecord:
        __tracebackhide__ = True
        return _run_check(request, check_kl_close, actual, p, q, **kwargs)

    return assert_kl_close


@pytest.fixture
def assert_kl_grad_close(request: pytest.FixtureRequest) -> Callable[..., CheckRecord]:
    """``assert_kl_grad_close(loss_fn, teacher_logits, student_logits, *, temperature, ...)``.

    Fails unless autograd's d loss_fn/d student matches the exact gradient of the KL
    (times T² with ``t_squared=True``, or ``scale``).
    """
    from klverify.testing.assertions import check_kl_grad_close

    def assert_kl_grad_close(
        loss_fn: Callable[[Any, Any], Any], teacher_logits: Any, student_logits: Any, **kwargs: Any
    ) -> CheckRecord:
        __tracebackhide__ = True
        return _run_check(
            request, check_kl_grad_close, loss_fn, teacher_logits, student_logits, **kwargs
        )

    return assert_kl_grad_close


# ------------------------------------------------------------------------ lint
def pytest_collect_file(file_path: Any, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix != ".py":
        return None
    config = parent.config
    enabled = config.getoption("klverify_lint")
    if enabled is None:
        enabled = config.getini("klverify_lint")
    if not enabled:
        return None
    from klverify.testing.lint_items import LintFile

    return LintFile.from_parent(parent, path=file_path)


# --------------------------------------------------------------- end of session
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    records = config.stash.get(RECORDS, None)
    if records is not None and records.checks:
        terminalreporter.write_line(records.summary_line(), red=bool(records.failed))
    note = config.stash.get(REPORT_WRITTEN, None)
    if note:
        terminalreporter.write_line(note, red=note.startswith("klverify: could not"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    path = _setting(config, "klverify_report")
    records = config.stash.get(RECORDS, None)
    if not path or records is None or hasattr(config, "workerinput"):  # xdist workers: no file
        return
    from klverify.testing.report import write_session_report

    try:
        written = write_session_report(records, str(path), config)
    except (OSError, ValueError) as exc:
        config.stash[REPORT_WRITTEN] = (
            f"klverify: could not write the report to {path} ({exc}); check the path"
        )
    else:
        config.stash[REPORT_WRITTEN] = (
            f"klverify: report of {len(records.checks)} KL check(s) written to {written}"
        )
