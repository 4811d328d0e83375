"""A lazy registry of backends, in the manner of einops' ``_backends.py``.

A backend is created on first use and cached. Finding the backend of an array only
looks at frameworks already in ``sys.modules``: an array of a framework that was never
imported cannot exist, so the lookup never imports one.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from klverify.errors import BackendNotInstalledError, KLInputError

if TYPE_CHECKING:
    from klverify.backends.base import Backend


@dataclass(frozen=True)
class BackendSpec:
    name: str
    module: str
    cls: str
    framework: str
    extra: str


SPECS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("numpy", "klverify.backends.numpy_backend", "NumpyBackend", "numpy", "all"),
        BackendSpec("scipy", "klverify.backends.scipy_backend", "ScipyBackend", "scipy", "scipy"),
        BackendSpec("torch", "klverify.backends.torch_backend", "TorchBackend", "torch", "torch"),
        BackendSpec("jax", "klverify.backends.jax_backend", "JaxBackend", "jax", "jax"),
        BackendSpec(
            "reference", "klverify.backends.reference_backend", "ReferenceBackend", "mpmath", "all"
        ),
    )
}
# Backends that own an array type, checked in this order when picking one for an input.
ARRAY_OWNERS = ("torch", "jax", "numpy")

_cache: dict[str, Backend] = {}


def is_installed(name: str) -> bool:
    """Whether the framework behind ``name`` can be imported (without importing it)."""
    return importlib.util.find_spec(SPECS[name].framework) is not None


def installed() -> list[str]:
    return [name for name in SPECS if is_installed(name)]


def get_backend(name: str) -> Backend:
    """The backend called ``name``, importing its framework on first use."""
    if name in _cache:
        return _cache[name]
    spec = SPECS.get(name)
    if spec is None:
        raise KLInputError(
            f"backend={name!r} is not a klverify backend: choose one of {', '.join(SPECS)}"
        )
    if not is_installed(name):
        raise BackendNotInstalledError(name, spec.extra)
    module = importlib.import_module(spec.module)
    backend = getattr(module, spec.cls)()
    _cache[name] = backend
    return backend


def owner_of(x: Any) -> str | None:
    """Name of the backend whose framework made ``x``, or None for non-array values."""
    for name in ARRAY_OWNERS:
        if SPECS[name].framework in sys.modules and get_backend(name).is_array(x):
            return name
    return None
