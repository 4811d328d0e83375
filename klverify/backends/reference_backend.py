"""The exact reference as a backend: ``klverify.kl(p, q, backend="reference")``."""

from __future__ import annotations

from typing import Any

import numpy as np

from klverify import reference
from klverify.backends.base import Path
from klverify.backends.numpy_backend import HostArrays


class ReferenceBackend(HostArrays):
    name = "reference"
    framework = "mpmath"
    extra = "all"

    def is_array(self, x: Any) -> bool:
        return False

    def version(self) -> str:
        import mpmath

        return f"mpmath {mpmath.__version__}, long double eps {reference.EPS_LD:.3g}"

    def devices(self) -> list[str]:
        return ["cpu"]

    def dtypes(self) -> tuple[str, ...]:
        return ("float64",)

    def paths(self) -> dict[str, Path]:
        return {
            "safe": Path(
                "safe",
                "exact value, correctly rounded to float64",
                self._rows,
                plain=False,
                gives_rows=True,
                terms_fn=reference.terms,
                reducer=reference.reduce_exact,
            )
        }

    def array(self, values: np.ndarray, dtype: str, device: str = "cpu") -> np.ndarray:
        return np.asarray(values, dtype=np.float64)  # exact: always float64

    def _rows(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        return reference.kl_rows(
            p, q, space=space, temperature=temperature, axis=axis, dtype=np.longdouble
        )
