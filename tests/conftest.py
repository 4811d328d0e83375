"""Shared fixtures for klverify's tests (fixtures only: no hooks, no plugins)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, fresh per test, so every test is reproducible on its own."""
    return np.random.default_rng(20240601)
