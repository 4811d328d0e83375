"""``kl_reference`` (the exact values) and ``kl_probe`` (the loss prober) fixtures."""

from __future__ import annotations

import importlib.util

import pytest


def test_kl_reference_gives_exact_values_and_gradients(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import mpmath
        import numpy as np
        import torch

        def test_reference(kl_reference):
            p, q = [0.5, 0.5], [0.25, 0.75]
            with mpmath.workprec(200):
                exact = float(mpmath.log(2) / 2 + mpmath.log(mpmath.mpf(2) / 3) / 2)
            assert kl_reference(p, q, reduction="sum") == exact
            terms = kl_reference(p, q, reduction="none")
            assert terms.shape == (2,)
            t, s = torch.zeros(1, 3, dtype=torch.float64), torch.tensor([[1.0, 0.0, 0.0]])
            g = kl_reference.grad(t, s, reduction="sum")
            q_ = np.exp([1.0, 0.0, 0.0]) / np.exp([1.0, 0.0, 0.0]).sum()
            np.testing.assert_allclose(g[0], q_ - 1 / 3, rtol=1e-15)

        def test_session_scoped(kl_reference, request):
            assert request.getfixturevalue("kl_reference") is kl_reference
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.skipif(
    importlib.util.find_spec("klverify.probe") is None, reason="klverify.probe not built yet"
)
def test_kl_probe_diagnoses_a_reversed_loss(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import torch.nn.functional as F

        def reversed_loss(student_logits, teacher_logits):
            return F.kl_div(F.log_softmax(teacher_logits, -1), F.softmax(student_logits, -1),
                            reduction="batchmean")

        def test_probe(kl_probe):
            result = kl_probe(reversed_loss, framework="torch")
            assert result.direction == "reverse"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_kl_probe_skips_when_the_prober_is_missing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys
        import pytest

        @pytest.fixture(autouse=True)
        def no_probe(monkeypatch):
            monkeypatch.setitem(sys.modules, "klverify.probe", None)  # import now fails
        """
    )
    pytester.makepyfile("def test_probe(kl_probe):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *klverify.probe is not available in this install*"])
