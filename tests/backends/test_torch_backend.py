"""The torch backend: safe paths against the exact reference, masks, gradients by autograd,
gradcheck, torch's reduction semantics, and CUDA when there is one."""

from __future__ import annotations

import numpy as np
import pytest

from klverify import kl, kl_grad
from klverify.backends import get_backend
from klverify.tolerances import TOLERANCES, allowed_error

from .cases import (
    KINDS,
    SCALAR_REDUCTIONS,
    SPACES,
    check_backend_against_reference,
    make_inputs,
    rounded,
    to_float,
)

torch = pytest.importorskip("torch", reason="torch is not installed (pip install klverify[torch])")
F = torch.nn.functional

DTYPES = ("float64", "float32", "float16", "bfloat16")
SAFE_PATHS = ("safe", "safe_prob_target")
EPS64 = 2.0**-52


def tensor(values: np.ndarray, dtype: str = "float64", device: str = "cpu"):
    return get_backend("torch").array(values, dtype, device)


@pytest.mark.parametrize("path", SAFE_PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("kind", KINDS)
def test_safe_paths_match_reference(rng, path, dtype, space, kind):
    check_backend_against_reference(
        rng, f"torch:{path}", dtype, space, kind, make_array=lambda v, d: tensor(v, d)
    )


@pytest.mark.parametrize("temperature", [0.5, 2.0, 3.0])
def test_temperature_matches_reference(rng, temperature):
    check_backend_against_reference(
        rng,
        "torch",
        "float32",
        "logits",
        "masked",
        temperature=temperature,
        make_array=lambda v, d: tensor(v, d),
    )


def test_numpy_input_with_torch_backend_returns_a_tensor(rng):
    p, q = make_inputs(rng, "prob", "random", (2, 6))
    value = kl(p, q, backend="torch")
    assert isinstance(value, torch.Tensor) and value.dtype == torch.float64
    assert to_float(value) == pytest.approx(to_float(kl(p, q)), rel=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("space", SPACES)
def test_identical_inputs_give_exactly_zero_on_the_safe_path(rng, dtype, space):
    p, _ = make_inputs(rng, space, "masked", (3, 40))
    a = tensor(rounded(p, dtype), dtype)
    assert torch.all(kl(a, a.clone(), space=space, reduction="none") == 0)


@pytest.mark.parametrize("space", SPACES)
def test_identical_inputs_on_safe_prob_target_are_within_the_bound(rng, space):
    """log_target=False compares log(exp(lp)) with lp, which differ by rounding: the value
    is exactly 0 only in prob space; elsewhere it stays within the documented bound."""
    p, _ = make_inputs(rng, space, "masked", (3, 40))
    a = tensor(rounded(p, "float32"), "float32")
    value = to_float(
        kl(a, a.clone(), space=space, reduction="sum", backend="torch:safe_prob_target")
    )
    p64 = rounded(p, "float32")
    bound = allowed_error(p64, p64, space=space, dtype="float32", reduction="sum")
    assert abs(value) <= bound
    if space == "prob":
        assert value == 0


@pytest.mark.parametrize("path", SAFE_PATHS)
def test_masked_vocabulary_gives_finite_value_and_gradient(rng, path):
    t, s = make_inputs(rng, "logits", "masked", (2, 3, 16))
    tp, tq = tensor(t), tensor(s).requires_grad_(True)
    loss = kl(tp, tq, space="logits", temperature=2.0, backend=f"torch:{path}")
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.all(torch.isfinite(tq.grad))
    assert torch.all(tq.grad[..., -4:] == 0)


def test_masked_vocabulary_is_nan_with_plain_kl_div(rng):
    """Documents the failure the safe path fixes: F.kl_div returns NaN on shared masks."""
    t, s = make_inputs(rng, "logits", "masked", (2, 16))
    value = kl(tensor(t), tensor(s), space="logits", backend="torch:kl_div")
    assert torch.isnan(value)


def test_q_zero_where_p_positive_is_inf_not_nan():
    p = tensor(np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]))
    q = tensor(np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]))
    for path in SAFE_PATHS:
        terms = kl(p, q, reduction="none", backend=f"torch:{path}")
        assert terms[0, 1] == float("inf") and not torch.isnan(terms).any()
        assert kl(p, q, reduction="sum", backend=f"torch:{path}") == float("inf")
    assert kl(p.log(), q.log(), space="logits", reduction="sum") == float("inf")


def test_p_zeros_give_zero_terms():
    p = tensor(np.array([0.0, 0.5, 0.5, 0.0]))
    q = tensor(np.array([0.1, 0.4, 0.3, 0.2]))
    for path in SAFE_PATHS:
        for space, (a, b) in {"prob": (p, q), "log_prob": (p.log(), q.log())}.items():
            terms = kl(a, b, space=space, reduction="none", backend=f"torch:{path}")
            assert terms[0] == 0 and terms[3] == 0
            assert torch.all(torch.isfinite(terms))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_peaked_logits_stay_finite_on_safe_paths(rng, dtype):
    t, s = make_inputs(rng, "logits", "peaked", (8, 1000))
    tt, ts = tensor(t, dtype), tensor(s, dtype)
    for path in SAFE_PATHS:
        value = kl(tt, ts, space="logits", temperature=0.5, backend=f"torch:{path}")
        assert torch.isfinite(value) and value > 0


# ------------------------------------------------------------------------- reductions
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
def test_reductions_equal_torch_kl_div_reductions(rng):
    """kl(p, q, reduction=r) is F.kl_div(log q, p, reduction=r) for torch's four names."""
    p, q = make_inputs(rng, "prob", "random", (2, 3, 5))
    tp, tq = tensor(p), tensor(q)
    for reduction in ("none", "sum", "batchmean", "mean"):
        ours = kl(tp, tq, reduction=reduction, backend="torch:kl_div")
        theirs = F.kl_div(tq.log(), tp, reduction=reduction)
        torch.testing.assert_close(ours, theirs, rtol=4 * EPS64, atol=0)
        safe = kl(tp, tq, reduction=reduction)
        torch.testing.assert_close(safe, theirs, rtol=1e-13, atol=1e-16)


def test_distribution_mean_is_the_per_token_mean(rng):
    B, L, V = 2, 3, 7
    p, q = make_inputs(rng, "logits", "random", (B, L, V))
    tp, tq = tensor(p), tensor(q)
    per_token = F.kl_div(
        F.log_softmax(tq, -1), F.log_softmax(tp, -1), log_target=True, reduction="none"
    ).sum(-1)
    assert per_token.shape == (B, L)
    value = kl(tp, tq, space="logits")  # the default reduction
    torch.testing.assert_close(value, per_token.mean(), rtol=1e-14, atol=0)
    # torch's batchmean divides by B only: L times the per-token mean.
    batchmean = kl(tp, tq, space="logits", reduction="batchmean")
    torch.testing.assert_close(batchmean, L * per_token.mean(), rtol=1e-14, atol=0)


# -------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("reduction", SCALAR_REDUCTIONS)
@pytest.mark.parametrize("kind", ["random", "masked", "near"])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_autograd_matches_kl_grad(rng, reduction, kind, temperature):
    t, s = make_inputs(rng, "logits", kind, (2, 3, 11))
    tq = tensor(s).requires_grad_(True)
    kl(tensor(t), tq, space="logits", temperature=temperature, reduction=reduction).backward()
    exact = kl_grad(t, s, temperature=temperature, reduction=reduction)
    scale = {"sum": 1, "batchmean": 2, "mean": 66, "distribution_mean": 6}[reduction]
    atol = TOLERANCES["float64"].k_grad * EPS64 * 2 / temperature / scale
    np.testing.assert_allclose(tq.grad.numpy(), exact, rtol=0, atol=atol)


@pytest.mark.parametrize("path", SAFE_PATHS)
def test_gradcheck_on_the_safe_path(rng, path):
    t, s = make_inputs(rng, "logits", "masked", (2, 7))
    tp, tq = tensor(t), tensor(s).requires_grad_(True)

    def loss(student):
        return kl(
            tp, student, space="logits", temperature=2.0, reduction="sum", backend=f"torch:{path}"
        )

    assert torch.autograd.gradcheck(loss, (tq,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_hinton_gradient_formula(rng):
    """d/ds of T²·KL(softmax(t/T) ‖ softmax(s/T)) = T·(softmax(s/T) − softmax(t/T))."""
    T = 2.5
    t, s = make_inputs(rng, "logits", "random", (4, 9))
    tt, ts = tensor(t), tensor(s).requires_grad_(True)
    (T**2 * kl(tt, ts, space="logits", temperature=T, reduction="sum")).backward()
    expected = T * (torch.softmax(ts.detach() / T, -1) - torch.softmax(tt / T, -1))
    torch.testing.assert_close(ts.grad, expected, rtol=0, atol=64 * EPS64 * T)
    np.testing.assert_allclose(
        T**2 * kl_grad(t, s, temperature=T, reduction="sum"),
        expected.numpy(),
        rtol=0,
        atol=64 * EPS64 * T,
    )


def test_backend_grad_method_matches_kl_grad(rng):
    t, s = make_inputs(rng, "logits", "masked", (3, 10))
    g = get_backend("torch").grad(tensor(t), tensor(s), temperature=1.5, axis=-1)
    np.testing.assert_allclose(
        g, kl_grad(t, s, temperature=1.5, reduction="sum"), rtol=0, atol=1e-14
    )


# ------------------------------------------------------------------------- devices
def test_devices_include_cpu_and_every_cuda_device():
    devices = get_backend("torch").devices()
    assert devices[0] == "cpu"
    assert len(devices) == 1 + (torch.cuda.device_count() if torch.cuda.is_available() else 0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
@pytest.mark.parametrize("space", SPACES)
def test_cuda_matches_reference(rng, dtype, space):
    check_backend_against_reference(
        rng, "torch", dtype, space, "masked", make_array=lambda v, d: tensor(v, d, "cuda:0")
    )
    p, q = make_inputs(rng, "logits", "masked", (2, 16))
    tq = tensor(q, "float32", "cuda:0").requires_grad_(True)
    kl(tensor(p, "float32", "cuda:0"), tq, space="logits").backward()
    assert tq.grad.device.type == "cuda" and torch.all(torch.isfinite(tq.grad))
