"""klverify: trust your KL divergence.

``klverify.kl(p, q)`` computes KL(P‖Q) with P the reference/teacher and Q the
model/student, through NumPy, SciPy, PyTorch or JAX, and ``backend="reference"``
gives the exact value. Importing this package imports no framework (torch, jax,
scipy) and not even numpy: everything heavy loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from klverify.errors import BackendNotInstalledError, KLInputError

# Eager, and stdlib-only: ``klverify.probe`` must stay the function even after a submodule
# such as ``klverify.probe.command`` is imported (importing a package binds it on its
# parent only once, when it is first loaded).
from klverify.probe import probe

__version__ = "0.1.0"

__all__ = [
    "REDUCTIONS",
    "SPACES",
    "BackendNotInstalledError",
    "KLInputError",
    "__version__",
    "kl",
    "kl_grad",
    "probe",
]

if TYPE_CHECKING:
    from klverify.divergence import REDUCTIONS, SPACES, kl
    from klverify.reference import kl_grad

_LAZY = {
    "kl": "klverify.divergence",
    "REDUCTIONS": "klverify.divergence",
    "SPACES": "klverify.divergence",
    "kl_grad": "klverify.reference",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'klverify' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
