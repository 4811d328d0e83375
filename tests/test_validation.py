"""Every bad input raises KLInputError (a ValueError) whose message names the argument
and the problem."""

from __future__ import annotations

import numpy as np
import pytest

from klverify import BackendNotInstalledError, KLInputError, kl
from klverify.validation import sum_tolerance

P = np.array([[0.25, 0.75], [0.5, 0.5]])
Q = np.array([[0.5, 0.5], [0.125, 0.875]])


def raises(fragments: list[str], p=P, q=Q, **kwargs) -> KLInputError:
    with pytest.raises(KLInputError) as info:
        kl(p, q, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert isinstance(info.value, ValueError)
    return info.value


def test_shape_mismatch():
    raises(["p has shape (2, 2)", "q has shape (2, 3)"], q=np.full((2, 3), 1 / 3))


def test_empty_arrays():
    raises(["empty", "(0, 2)"], p=np.empty((0, 2)), q=np.empty((0, 2)))
    raises(["empty"], p=np.empty((2, 0)), q=np.empty((2, 0)))


def test_scalars():
    raises(["scalars"], p=np.float64(1.0), q=np.float64(1.0))


@pytest.mark.parametrize("space", ["prob", "log_prob", "logits"])
@pytest.mark.parametrize("arg", ["p", "q"])
def test_nan(space, arg):
    bad = np.log(P) if space != "prob" else P.copy()
    bad[0, 0] = np.nan
    good = np.log(Q) if space != "prob" else Q
    kwargs = {"p": bad, "q": good} if arg == "p" else {"p": good, "q": bad}
    raises([f"{arg} contains NaN"], space=space, **kwargs)


def test_negative_probabilities():
    raises(
        ["q has negative entries", "-0.5", "space='log_prob'"],
        q=np.array([[1.5, -0.5], [0.5, 0.5]]),
    )


def test_positive_infinity():
    raises(
        ["p contains +inf", "space='logits'"],
        p=np.array([[np.inf, 0.0], [0, 0]]),
        q=Q,
        space="logits",
    )
    raises(
        ["q contains +inf", "at most 0"],
        p=np.log(P),
        q=np.array([[np.inf, 0.0], [0, 0]]),
        space="log_prob",
    )


def test_all_masked_row():
    t = np.array([[-np.inf, -np.inf], [0.0, 1.0]])
    raises(["1 distribution(s) of p are all -inf"], p=t, q=np.zeros((2, 2)), space="logits")


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_probabilities_not_summing_to_one_report_the_sum(dtype):
    p = (P * 1.05).astype(dtype)  # float16 allows 2^-10·18 ≈ 0.018 over 2 outcomes
    error = raises(
        ["probabilities of p do not sum to 1", "a row sums to 1.0", dtype, "over 2 outcomes"],
        p=p,
        q=Q.astype(dtype),
    )
    assert "allowed error" in str(error)


def test_sums_within_the_dtype_tolerance_pass():
    tol = sum_tolerance("float64", 2)
    p = np.array([[0.5, 0.5 + tol / 2]])
    assert np.isfinite(kl(p, np.array([[0.5, 0.5]])))
    with pytest.raises(KLInputError, match="sums to"):
        kl(np.array([[0.5, 0.5 + 2 * tol]]), np.array([[0.5, 0.5]]))


def test_log_probabilities_not_normalised():
    raises(
        ["exp(log-probabilities) of q do not sum to 1", "log_softmax"],
        p=np.log(P),
        q=np.log(Q) + 0.1,
        space="log_prob",
    )


@pytest.mark.parametrize("dtype", ["int64", "int32", "complex128", "bool"])
def test_non_float_dtypes(dtype):
    raises(["p has dtype", dtype, "floating-point"], p=np.array([[1, 0], [0, 1]], dtype=dtype), q=Q)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_temperature(temperature):
    raises(
        [f"temperature={temperature!r}", "finite and > 0"], space="logits", temperature=temperature
    )


@pytest.mark.parametrize("temperature", ["2", None, True])
def test_temperature_of_the_wrong_type(temperature):
    raises([f"temperature={temperature!r}", "real number"], space="logits", temperature=temperature)


def test_temperature_outside_logits():
    raises(["temperature=2.0 applies to logits only", "space='prob'"], temperature=2.0)


def test_unknown_space():
    raises(["space='probs' is not known", "'logits'"], space="probs")


def test_unknown_reduction():
    raises(["reduction='avg' is not known", "'batchmean'"], reduction="avg")
    raises(
        ["'elementwise_mean' is not known", "torch's 'elementwise_mean' is 'mean'"],
        reduction="elementwise_mean",
    )


def test_batchmean_on_one_distribution():
    raises(["reduction='batchmean' on a 1-D input"], p=P[0], q=Q[0], reduction="batchmean")


def test_bad_axis():
    raises(["axis=2 is out of range"], axis=2)
    raises(["axis=0.5 must be an int"], axis=0.5)


def test_non_arrays():
    raises(["p is a str"], p="abc")
    raises(["q could not be read as an array"], q=[[0.5, 0.5], [0.5]])


def test_unknown_backend_and_path():
    raises(["backend='mxnet' is not a klverify backend"], backend="mxnet")
    raises(["backend='numpy:nope'", "no path 'nope'", "safe"], backend="numpy:nope")


def test_mixing_torch_and_numpy():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    raises(
        ["p is a torch.Tensor but q is a numpy.ndarray", "one framework"], p=torch.tensor(P), q=Q
    )
    raises(["p is a numpy.ndarray but q is a torch.Tensor"], p=P, q=torch.tensor(Q))


def test_mixing_torch_and_jax():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    jnp = pytest.importorskip("jax.numpy", reason="jax is not installed")
    raises(["p is a torch.Tensor but q is a jax"], p=torch.tensor(P), q=jnp.asarray(Q))


def test_torch_path_that_does_not_exist():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    raises(
        ["backend='torch:nope'", "no path 'nope'", "kl_div"],
        p=torch.tensor(P),
        q=torch.tensor(Q),
        backend="torch:nope",
    )


def test_tensor_inputs_with_another_framework_backend():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    raises(
        ["backend='jax' but p and q are torch.Tensors"],
        p=torch.tensor(P),
        q=torch.tensor(Q),
        backend="jax",
    )


def test_torch_dtype_checks_name_the_argument():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    raises(["q has dtype int64"], p=torch.tensor(P), q=torch.ones(2, 2, dtype=torch.int64))
    raises(["p contains NaN"], p=torch.tensor([[float("nan"), 1.0]]), q=torch.tensor([[0.5, 0.5]]))


def test_backend_not_installed_is_a_kl_input_error():
    assert issubclass(BackendNotInstalledError, KLInputError)
    message = str(BackendNotInstalledError("torch", "torch"))
    assert (
        "backend='torch' is not installed" in message and "pip install klverify[torch]" in message
    )


def test_sum_tolerance_grows_with_eps_and_outcomes():
    assert sum_tolerance("float32", 1000) > sum_tolerance("float64", 1000)
    assert sum_tolerance("float64", 152064) > sum_tolerance("float64", 2)
    assert sum_tolerance("float64", 2) == 2.0**-52 * 18
