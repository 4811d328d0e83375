"""``import klverify`` imports no framework and not numpy; ``kl`` on NumPy input imports
no torch, jax or scipy. Each check runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "scipy", "torch", "jax", "jaxlib", "mpmath")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return {m.split(".")[0] for m in result.stdout.split()}


def test_import_klverify_imports_nothing_heavy():
    assert loaded_after("import klverify") == set()


def test_public_names_resolve_lazily():
    assert loaded_after("import klverify; klverify.KLInputError; klverify.__version__") == set()


def test_kl_on_numpy_imports_no_framework():
    code = "import numpy as np, klverify\nklverify.kl(np.array([0.25, 0.75]), np.array([0.5, 0.5]))"
    assert loaded_after(code) == {"numpy"}


def test_kl_on_lists_imports_no_framework():
    assert loaded_after("import klverify\nklverify.kl([0.25, 0.75], [0.5, 0.5])") == {"numpy"}


def test_asking_for_a_backend_imports_only_its_framework():
    pytest.importorskip("torch", reason="torch is not installed")
    code = "import numpy as np, klverify\nklverify.kl(np.array([0.25, 0.75]), np.array([0.5, 0.5]), backend='torch')"
    loaded = loaded_after(code)
    assert "torch" in loaded and "jax" not in loaded and "scipy" not in loaded


def test_issue_one_liner():
    result = subprocess.run(
        [sys.executable, "-c", "import klverify, sys; assert 'torch' not in sys.modules"],
        timeout=60,
    )
    assert result.returncode == 0
