"""The comparison logic, on constructed good and bad backends.

A fake backend that is off by a known amount must fail exactly the cells whose tolerance
is smaller than that amount; NaN and exceptions become failing and errored cells.
"""

from __future__ import annotations

import numpy as np
import pytest

from klverify.backends.base import DTYPE_EPS, Path
from klverify.backends.numpy_backend import NumpyBackend
from klverify.crosscheck import engine
from klverify.crosscheck.cases import FAMILIES, Case, case_family
from klverify.crosscheck.known import parse
from klverify.tolerances import TOLERANCES, condition_scale

OFFSET = 1e-9  # added to every distribution's KL by the "biased" path


class FakeBackend(NumpyBackend):
    """NumPy's safe path, plus paths that are wrong in known ways."""

    name = "fake"

    def paths(self) -> dict[str, Path]:
        safe = self._safe  # elementwise terms of the NumPy safe path

        def biased(p, q, space, temperature, axis):
            terms = safe(p, q, space, temperature, axis)
            return terms + OFFSET / terms.shape[-1]

        def nan_on_masks(p, q, space, temperature, axis):
            terms = safe(p, q, space, temperature, axis)
            if space == "logits":
                terms = np.where(np.asarray(p) == -np.inf, np.nan, terms)
            return terms

        def broken(p, q, space, temperature, axis):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

        return {
            "safe": Path("safe", "numpy safe", safe, False),
            "biased": Path("biased", "KL + 1e-9", biased, True),
            "nan_on_masks": Path("nan_on_masks", "NaN at -inf logits", nan_on_masks, True),
            "broken": Path("broken", "raises", broken, True),
        }


@pytest.fixture(scope="module")
def report():
    options = engine.Options(
        backends=[FakeBackend()],
        families=["dirichlet", "near-identical", "masked", "q-zero"],
        max_vocab=1000,
        dtypes=["float64", "float32"],
        known=[],
        machine="test",
    )
    return engine.run(options)


def cells(report, path):
    return [c for c in report.cells if c.path == path]


def test_the_safe_path_passes_every_cell(report):
    assert {c.status for c in cells(report, "safe")} == {"pass"}


def test_biased_path_fails_exactly_where_its_offset_exceeds_the_tolerance(report):
    cases = {
        c.name: c
        for c in __import__("klverify.crosscheck.cases", fromlist=["generate"]).generate(
            ["dirichlet", "near-identical", "masked", "q-zero"], 0, 1000
        )
    }
    checked = 0
    for cell in cells(report, "biased"):
        case = cases[cell.case]
        fake = FakeBackend()
        p = fake.to_float64(fake.array(case.p, cell.dtype))
        q = fake.to_float64(fake.array(case.q, cell.dtype))
        tol = (
            TOLERANCES[cell.dtype].k
            * DTYPE_EPS[cell.dtype]
            * condition_scale(p, q, space=case.space, temperature=case.temperature).sum(-1)
        )
        if case.expect == "inf":
            continue  # +inf + offset is still +inf: agrees with the reference
        should_fail = bool(np.any(OFFSET > tol * (1 + 1e-6)))
        assert (cell.status == "fail") == should_fail, (cell.case, cell.dtype, tol, cell.message)
        checked += 1
    statuses = {c.status for c in cells(report, "biased") if c.case in cases}
    assert checked > 4
    assert statuses == {"pass", "fail"}  # the offset is below float32's tolerance, above float64's


def test_nan_on_masked_vocabulary_is_a_failure_naming_nan(report):
    masked = [c for c in cells(report, "nan_on_masks") if c.family == "masked"]
    assert masked and all(c.status == "fail" for c in masked)
    assert all("NaN in 4 of 4 distributions" in c.message for c in masked)
    others = [c for c in cells(report, "nan_on_masks") if c.family != "masked"]
    assert all(c.status == "pass" for c in others)


def test_an_exception_marks_the_cell_errored_and_the_run_goes_on(report):
    broken = cells(report, "broken")
    assert broken and {c.status for c in broken} == {"error"}
    assert "CUDA error" in broken[0].message
    assert len(cells(report, "safe")) == len(broken)  # every other cell still ran


def test_infinite_kl_must_be_inf_not_nan(report):
    inf_cells = [c for c in cells(report, "safe") if c.family == "q-zero"]
    assert inf_cells and all(c.status == "pass" and c.value == np.inf for c in inf_cells)


def test_known_failures_are_shown_as_known_with_their_reason():
    known = parse("fake:nan_on_masks/*/*/masked/*  # NaN by design of this test\n", "inline")
    options = engine.Options(
        backends=[FakeBackend()], families=["masked"], dtypes=["float64"], known=known
    )
    report = engine.run(options)
    masked = [c for c in report.cells if c.path == "nan_on_masks"]
    assert {c.status for c in masked} == {"known"}
    assert "NaN by design of this test" in masked[0].message
    assert report.failed  # the "broken" path still errors


def test_known_entry_needs_a_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        parse("fake:x/*/*/*/*\n", "inline")


def test_gradients_are_checked_against_the_analytic_gradient():
    pytest.importorskip("torch")
    options = engine.Options(
        backends=["torch"], families=["masked"], dtypes=["float64", "float32"], known=[]
    )
    report = engine.run(options)
    safe = [c for c in report.cells if c.path == "safe"]
    assert safe and all(c.grad_error is not None and c.grad_error <= c.grad_tolerance for c in safe)
    assert all(c.fd_error is not None for c in safe if c.dtype == "float64")
    plain = [c for c in report.cells if c.path == "kl_div"]
    assert all(c.status == "fail" and "NaN" in c.message for c in plain)


def test_user_case_families_plug_in():
    @case_family("test-user-family", description="a user's own inputs")
    def user_family(rng):
        t = rng.normal(size=(2, 7))
        yield Case("test-user-family/tiny", "logits", t, t + 0.1)

    try:
        report = engine.run(
            engine.Options(backends=["numpy"], families=["test-user-family"], known=[])
        )
        assert {c.case for c in report.cells} == {"test-user-family/tiny"}
        assert report.cases["test-user-family/tiny"]["description"] == "a user's own inputs"
        assert not report.failed
    finally:
        del FAMILIES["test-user-family"]


def test_missing_backend_is_reported_not_raised(monkeypatch):
    import klverify.crosscheck.engine as eng

    monkeypatch.setattr(eng, "installed", lambda: ["numpy"])
    report = eng.run(eng.Options(backends=["numpy", "torch"], families=["one-hot"], known=[]))
    assert report.environments[0]["missing"] == {
        "torch": "not installed (pip install klverify[torch])"
    }
    assert {c.backend for c in report.cells} == {"numpy"}


def test_runs_are_reproducible_from_the_seed():
    opts = dict(backends=["numpy"], families=["dirichlet"], max_vocab=1000, known=[])
    a = engine.run(engine.Options(seed=3, **opts))
    b = engine.run(engine.Options(seed=3, **opts))
    c = engine.run(engine.Options(seed=4, **opts))
    assert [x.reference for x in a.cells] == [x.reference for x in b.cells]
    assert [x.reference for x in a.cells] != [x.reference for x in c.cells]
