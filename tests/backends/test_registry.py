"""The lazy registry: names, errors for unknown or missing backends, owner lookup."""

from __future__ import annotations

import numpy as np
import pytest

import klverify.backends as registry
from klverify import BackendNotInstalledError, KLInputError, kl
from klverify.backends import SPECS, get_backend, installed, owner_of
from klverify.backends.base import Backend


def test_all_four_backends_and_the_reference_are_registered():
    assert list(SPECS) == ["numpy", "scipy", "torch", "jax", "reference"]
    assert {s.extra for s in SPECS.values()} <= {"all", "scipy", "torch", "jax"}


def test_installed_backends_are_instances_of_the_protocol():
    for name in installed():
        backend = get_backend(name)
        assert isinstance(backend, Backend)
        assert backend.name == name
        assert "safe" in backend.paths() and not backend.paths()["safe"].plain
        assert "cpu" in backend.devices()
        assert "float64" in backend.dtypes()
        assert get_backend(name) is backend  # cached


def test_unknown_backend_names_the_choices():
    with pytest.raises(KLInputError, match=r"backend='mxnet' is not a klverify backend.*numpy"):
        get_backend("mxnet")


@pytest.mark.parametrize(
    ("name", "extra"), [("torch", "torch"), ("jax", "jax"), ("scipy", "scipy")]
)
def test_missing_framework_says_which_extra_installs_it(monkeypatch, name, extra):
    monkeypatch.setattr(registry, "_cache", {})
    monkeypatch.setattr(registry, "is_installed", lambda n: n != name)
    with pytest.raises(BackendNotInstalledError) as info:
        get_backend(name)
    assert isinstance(info.value, KLInputError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert f"backend={name!r}" in message
    assert f"pip install klverify[{extra}]" in message
    assert info.value.extra == extra
    # Through the public entry point too.
    with pytest.raises(BackendNotInstalledError, match=rf"klverify\[{extra}\]"):
        kl(np.array([0.5, 0.5]), np.array([0.5, 0.5]), backend=name)


def test_owner_of_numpy_and_plain_values():
    assert owner_of(np.zeros(3)) == "numpy"
    assert owner_of(np.float64(1.0)) == "numpy"
    assert owner_of([0.5, 0.5]) is None
    assert owner_of("abc") is None


def test_owner_of_framework_arrays():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    jnp = pytest.importorskip("jax.numpy", reason="jax is not installed")
    assert owner_of(torch.zeros(3)) == "torch"
    assert owner_of(jnp.zeros(3)) == "jax"


def test_backend_of_the_input_is_picked_by_default():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    p = torch.tensor([0.25, 0.75], dtype=torch.float64)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)
    assert isinstance(kl(p, q), torch.Tensor)
    assert isinstance(kl(p.numpy(), q.numpy()), np.floating)
    assert isinstance(kl([0.25, 0.75], [0.5, 0.5]), np.floating)  # lists go to numpy
