"""Tests of the klverify pytest plugin run it inside pytest's own ``pytester``."""

from __future__ import annotations

import contextlib
import importlib

import pytest

pytest_plugins = ["pytester"]

# In-process pytester runs drop the modules a run imported when it ends; torch and jaxlib
# cannot be imported a second time in one process. Importing them here, before any run,
# keeps them loaded for all runs (the loading test uses a subprocess for that reason).
for _name in ("numpy", "scipy.special", "torch", "jax", "jax.numpy", "optax", "hypothesis"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """``pytester`` with no cache dir litter and no hypothesis database in the test dir."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester
