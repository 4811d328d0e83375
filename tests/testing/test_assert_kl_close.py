"""``assert_kl_close``: passes within the dtype's tolerance, fails with a table and a hint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from klverify.testing.assertions import KLCheckError, check_kl_close

HEADER = "  *expected*obtained*abs error*rel error*ulps*tolerance"


def test_a_correct_loss_passes_for_every_framework(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import jax.numpy as jnp
        import numpy as np
        import torch
        import torch.nn.functional as F

        rng = np.random.default_rng(0)
        P, Q = rng.normal(size=(4, 50)), rng.normal(size=(4, 50))

        def test_torch(assert_kl_close):
            p, q = torch.from_numpy(P).float(), torch.from_numpy(Q).float()
            loss = F.kl_div(F.log_softmax(q, -1), F.log_softmax(p, -1), reduction="batchmean",
                            log_target=True)
            record = assert_kl_close(loss, p, q, space="logits", reduction="batchmean")
            assert record.passed and record.dtype == "float32" and record.framework == "torch"

        def test_jax(assert_kl_close):
            lp = jnp.asarray(P) - jnp.log(jnp.exp(jnp.asarray(P)).sum(-1, keepdims=True))
            lq = jnp.asarray(Q) - jnp.log(jnp.exp(jnp.asarray(Q)).sum(-1, keepdims=True))
            value = (jnp.exp(lp) * (lp - lq)).sum(-1).mean()
            assert_kl_close(value, jnp.asarray(P, dtype=jnp.float32), jnp.asarray(Q, dtype=jnp.float32), space="logits")

        def test_python_float_and_numpy_inputs(assert_kl_close, kl_reference):
            exact = kl_reference(P, Q, space="logits", temperature=3.0, reduction="sum")
            record = assert_kl_close(exact, P, Q, space="logits", temperature=3.0, reduction="sum")
            assert record.abs_error == 0 and record.dtype == "float64"

        def test_elementwise_terms(assert_kl_close):
            p, q = np.full((2, 4), 0.25), np.array([[0.1, 0.2, 0.3, 0.4]] * 2)
            assert_kl_close(p * np.log(p / q), p, q, reduction="none")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["klverify: 4 KL checks ran (4 value, 0 gradient), 0 failed"])


def test_a_failing_comparison_prints_a_table_and_a_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import torch
        import torch.nn.functional as F

        def test_swapped(assert_kl_close):
            torch.manual_seed(0)
            p, q = torch.randn(8, 100), torch.randn(8, 100)
            loss = F.kl_div(F.log_softmax(p, -1), F.softmax(q, -1), reduction="batchmean")
            assert_kl_close(loss, p, q, space="logits", reduction="batchmean")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "assert_kl_close: the KL differs from the exact reference by more than the float32 "
            "tolerance",
            "  KL(P‖Q) with space='logits', temperature=1, reduction='batchmean'; "
            "p, q: torch float32 (8, 100) on cpu; actual: torch float32 () on cpu",
            "",
            HEADER,
            "  *[0-9]  *[0-9]  *[0-9]  *[0-9]  *[0-9]  *[0-9]",
            "",
            "  Hint: the value equals KL(Q‖P): p and q are swapped.*",
            "  tolerance = *·eps(float32)·Σ p·(|log p|+|log q|+1)*",
            "  What to do: *pass tolerance=<absolute error>.",
            "klverify: 1 KL check ran (1 value, 0 gradient), 1 failed",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*klverify/testing/*.py:*")  # no internal frames


def test_t_squared_and_reduction_mistakes_are_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import torch
        import torch.nn.functional as F

        p, q = torch.randn(2, 3, 20), torch.randn(2, 3, 20)

        def test_t_squared(assert_kl_close):
            loss = F.kl_div(F.log_softmax(q / 2, -1), F.softmax(p / 2, -1), reduction="sum") * 4
            assert_kl_close(loss, p, q, space="logits", temperature=2.0, reduction="sum")

        def test_batchmean_on_3d(assert_kl_close):
            loss = F.kl_div(F.log_softmax(q, -1), F.softmax(p, -1), reduction="batchmean")
            assert_kl_close(loss, p, q, space="logits")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "  Hint: the value is T²·KL (T = 2), Hinton's distillation loss*",
            "  Hint: the value matches reduction='batchmean', not 'distribution_mean'",
        ]
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "assert_kl_close(0.0, torch.ones(3) / 3, np.ones(3) / 3)",
            "assert_kl_close: p is a torch array but q is a numpy array: pass both from one "
            "framework*",
        ),
        (
            "assert_kl_close(0.0, np.ones((2, 3)) / 3, np.ones((3, 2)) / 2)",
            "assert_kl_close: p has shape (2, 3) but q has shape (3, 2)*pass arrays of one shape",
        ),
        (
            "assert_kl_close(0.0, np.ones(3) / 3, np.ones(3) / 3, tolerance='1e-6')",
            "assert_kl_close: tolerance='1e-6' is a str: pass an absolute error as a float*",
        ),
        (
            "assert_kl_close(np.zeros(2), np.ones((2, 3)) / 3, np.ones((2, 3)) / 3)",
            "assert_kl_close: actual has shape (2,), but reduction='distribution_mean' gives one "
            "number*",
        ),
        (
            "assert_kl_close('0.1', np.ones(3) / 3, np.ones(3) / 3)",
            "assert_kl_close: actual is a str: pass numbers*",
        ),
        (
            "assert_kl_close(0.0, np.ones(3) / 3, np.ones(3) / 3, dtype='int8')",
            "assert_kl_close: dtype='int8' is not a floating dtype klverify knows*",
        ),
    ],
)
def test_bad_input_is_a_clean_failure(pytester: pytest.Pytester, call: str, message: str) -> None:
    pytester.makepyfile(
        f"""
        import numpy as np
        import torch

        def test_bad(assert_kl_close):
            {call}
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")


def test_dtype_defaults_to_the_least_precise_of_actual_and_inputs() -> None:
    p = torch.softmax(torch.randn(2, 30, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(2, 30, dtype=torch.float64), -1)
    exact = float(torch.sum(p * (p.log() - q.log())) / 2)
    record, _ = check_kl_close(torch.tensor(exact, dtype=torch.float16), p, q)
    assert record.dtype == "float16"
    record, _ = check_kl_close(exact, p, q)
    assert record.dtype == "float64"
    record, _ = check_kl_close(exact, p, q, dtype=torch.bfloat16)
    assert record.dtype == "bfloat16"


def test_tolerance_overrides_and_decides() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    exact = 0.5 * np.log(2) + 0.5 * np.log(2 / 3)
    record, message = check_kl_close(exact + 1e-3, p, q, tolerance=2e-3)
    assert record.passed and record.tolerance == 2e-3 and message == ""
    record, message = check_kl_close(exact + 1e-3, p, q, tolerance=5e-4)
    assert not record.passed and "the given tolerance" in message
    with pytest.raises(KLCheckError, match="must be a float >= 0"):
        check_kl_close(exact, p, q, tolerance=-1.0)


def test_ulps_count_spacings_of_the_dtype() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    exact = float(check_kl_close(0.0, p, q, tolerance=1.0)[0].expected)
    off = np.nextafter(np.nextafter(exact, 1), 1)  # two float64 spacings away
    record, _ = check_kl_close(off, p, q)
    assert record.passed and record.ulps == pytest.approx(2)


def test_infinite_kl_matches_infinity_only() -> None:
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    assert check_kl_close(float("inf"), p, q)[0].passed
    record, message = check_kl_close(40.0, p, q)
    assert not record.passed and "inf" in message
