"""SciPy backend: ``scipy.special.rel_entr`` summed, with SciPy's ``log_softmax`` for logits."""

from __future__ import annotations

from typing import Any

import numpy as np

from klverify.backends.base import Path
from klverify.backends.numpy_backend import HostArrays, log_space_terms


class ScipyBackend(HostArrays):
    name = "scipy"
    framework = "scipy"
    extra = "scipy"

    def __init__(self) -> None:
        import scipy
        import scipy.special

        self.scipy = scipy
        self.special = scipy.special

    def is_array(self, x: Any) -> bool:
        return False  # SciPy computes on NumPy arrays, which the numpy backend owns

    def version(self) -> str:
        return self.scipy.__version__

    def devices(self) -> list[str]:
        return ["cpu"]

    def dtypes(self) -> tuple[str, ...]:
        return ("float64", "float32")  # rel_entr has no float16 loop: it upcasts

    def paths(self) -> dict[str, Path]:
        return {
            "safe": Path(
                "safe", "rel_entr on probabilities; log_softmax in log space", self._safe, False
            ),
            "rel_entr": Path(
                "rel_entr",
                "scipy.special.rel_entr(softmax(p), softmax(q)) summed, as users write it",
                self._rel_entr,
                True,
            ),
            "entropy": Path(
                "entropy",
                "scipy.stats.entropy(p, q, axis=axis): renormalises both rows first",
                self._entropy,
                True,
                gives_rows=True,
                spaces=("prob", "logits"),
            ),
        }

    def _safe(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        if space == "prob":
            return self.special.rel_entr(p, q)
        if space == "logits":
            p = self.special.log_softmax(p / temperature, axis=axis)
            q = self.special.log_softmax(q / temperature, axis=axis)
        return log_space_terms(np.asarray(p), np.asarray(q))

    def _probs(self, x: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        if space == "logits":
            return self.special.softmax(x / temperature, axis=axis)
        return np.exp(x) if space == "log_prob" else x

    def _rel_entr(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        return self.special.rel_entr(
            self._probs(p, space, temperature, axis), self._probs(q, space, temperature, axis)
        )

    def _entropy(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> np.ndarray:
        import scipy.stats

        return scipy.stats.entropy(
            self._probs(p, space, temperature, axis),
            self._probs(q, space, temperature, axis),
            axis=axis,
        )
