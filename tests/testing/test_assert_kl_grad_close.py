"""``assert_kl_grad_close``: autograd's gradient of a user's loss against the exact one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from klverify.testing.assertions import KLCheckError, check_kl_grad_close

T = 2.0


def hinton(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    log_q = F.log_softmax(student / T, dim=-1)
    return F.kl_div(log_q, F.softmax(teacher / T, dim=-1), reduction="batchmean") * T * T


def test_hinton_loss_matches_with_t_squared() -> None:
    torch.manual_seed(0)
    teacher, student = torch.randn(4, 64), torch.randn(4, 64)
    record, message = check_kl_grad_close(
        hinton, teacher, student, temperature=T, reduction="batchmean", t_squared=True
    )
    assert record.passed, message
    assert record.kind == "grad" and record.dtype == "float32" and record.grad_unit > 0


def test_float64_is_held_to_float64_precision() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(3, 40, dtype=torch.float64)
    student = torch.randn(3, 40, dtype=torch.float64)
    record, message = check_kl_grad_close(
        hinton, teacher, student, temperature=T, reduction="batchmean", scale=T * T
    )
    assert record.passed, message
    assert record.tolerance < 1e-12
    # a float32 computation of the same loss is far outside the float64 tolerance
    record, _ = check_kl_grad_close(
        lambda t, s: hinton(t.float(), s.float()).double(),
        teacher,
        student,
        temperature=T,
        reduction="batchmean",
        t_squared=True,
    )
    assert not record.passed


def test_jax_loss_is_differentiated_with_jax_grad() -> None:
    import jax
    import jax.numpy as jnp

    def loss(t: jax.Array, s: jax.Array) -> jax.Array:
        lp, lq = jax.nn.log_softmax(t / T), jax.nn.log_softmax(s / T)
        return jnp.sum(jnp.exp(lp) * (lp - lq)) / t.shape[0]

    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    teacher, student = jax.random.normal(key1, (4, 32)), jax.random.normal(key2, (4, 32))
    record, message = check_kl_grad_close(
        loss, teacher, student, temperature=T, reduction="batchmean"
    )
    assert record.passed, message
    assert record.framework == "jax"


def test_a_missing_t_squared_fails_with_a_table_and_a_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import torch
        import torch.nn.functional as F

        def loss(t, s):
            return F.kl_div(F.log_softmax(s / 2, -1), F.softmax(t / 2, -1), reduction="batchmean") * 4

        def test_grad(assert_kl_grad_close):
            torch.manual_seed(0)
            assert_kl_grad_close(loss, torch.randn(4, 16), torch.randn(4, 16), temperature=2.0,
                                 reduction="batchmean")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "assert_kl_grad_close: the gradient of loss_fn with respect to the student logits "
            "differs from d KL(P‖Q)/d student",
            "  64 of 64 elements are outside the tolerance",
            "",
            "    index*expected*obtained*abs error*rel error*ulps*tolerance",
            "  (*, *)  *",
            "  Hint: the gradient is 4 × the expected one (= T²: pass t_squared=True*",
            "klverify: 1 KL check ran (0 value, 1 gradient), 1 failed",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.parametrize(
    ("loss", "kwargs", "message"),
    [
        (lambda t, s: (s - t).sum(-1), {}, "loss_fn returned an array of shape (2,)*"),
        (lambda t, s: s.detach().sum(), {}, "*does not depend on the student logits*"),
        (hinton, {"t_squared": True, "scale": 4.0}, "pass either t_squared=True or scale*"),
        (hinton, {"reduction": "none"}, "reduction='none' has no gradient*"),
        (hinton, {"tolerance": [1e-3]}, "tolerance=[[]0.001[]] is a list*"),
    ],
)
def test_bad_calls_say_what_to_do(loss, kwargs, message) -> None:
    teacher, student = torch.randn(2, 5), torch.randn(2, 5)
    with pytest.raises(KLCheckError) as excinfo:
        check_kl_grad_close(loss, teacher, student, **kwargs)
    from fnmatch import fnmatch

    assert fnmatch(str(excinfo.value), message), str(excinfo.value)


def test_numpy_inputs_are_refused_because_there_is_no_autograd() -> None:
    import numpy as np

    with pytest.raises(KLCheckError, match="pass torch tensors or JAX arrays"):
        check_kl_grad_close(lambda t, s: 0.0, np.zeros((1, 3)), np.zeros((1, 3)))
