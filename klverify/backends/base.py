"""The small protocol every backend implements.

A backend wraps one array framework. It knows how to recognise that framework's
arrays, how to build them on each device and dtype, and how to compute KL terms by
several *paths*: ``safe`` (what :func:`klverify.kl` uses: zeros, masks and peaked rows
handled) and the framework's *plain* API exactly as users write it, which the
consistency report exercises to show where the plain API fails.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

# Dtype names used across klverify, with their machine epsilon (spacing at 1).
DTYPE_EPS = {
    "float64": 2.0**-52,
    "float32": 2.0**-23,
    "float16": 2.0**-10,
    "bfloat16": 2.0**-7,
}
HALF_DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class ValueSummary:
    """What validation needs to know about an array's values, computed by its framework."""

    has_nan: bool
    has_posinf: bool
    minimum: float
    # Per row: sum of probabilities (space="prob") or of exp(log-probs) (space="log_prob"),
    # accumulated in float64; None for logits.
    worst_row_total: float | None
    # Number of rows with no finite entry (for logits and log-probs).
    empty_rows: int


@dataclass(frozen=True)
class Path:
    """One way of computing KL terms with a backend.

    ``fn(p, q, space, temperature, axis)`` returns the elementwise terms, or the
    per-distribution sums when ``gives_rows`` (optax reduces over the axis itself; the
    reference keeps exact row values). ``terms_fn`` gives elementwise terms for
    ``reduction="none"`` when ``fn`` gives rows; ``reducer(values, reduction, shape, axis)``
    replaces the plain ``.sum()`` reduction (the reference sums exactly).
    """

    name: str
    description: str
    fn: Callable[..., Any]
    plain: bool
    gives_rows: bool = False
    spaces: tuple[str, ...] = ("prob", "log_prob", "logits")
    terms_fn: Callable[..., Any] | None = None
    reducer: Callable[..., Any] | None = None


class Backend(abc.ABC):
    """Base class: subclasses import their framework in ``__init__``, never at module import."""

    name: ClassVar[str]
    framework: ClassVar[str]  # the top-level module that must be importable
    extra: ClassVar[str]  # the pip extra that installs it: ``pip install klverify[extra]``
    has_autograd: ClassVar[bool] = False

    @abc.abstractmethod
    def is_array(self, x: Any) -> bool:
        """Whether ``x`` is an array of this backend's framework."""

    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def devices(self) -> list[str]:
        """Devices this backend can compute on, e.g. ``["cpu", "cuda:0"]``."""

    @abc.abstractmethod
    def dtypes(self) -> tuple[str, ...]:
        """Floating dtypes the backend computes in natively."""

    @abc.abstractmethod
    def paths(self) -> dict[str, Path]:
        """The ways this backend computes KL; ``"safe"`` is always present."""

    @abc.abstractmethod
    def array(self, values: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        """Build a native array from float64 values, rounded to ``dtype`` on ``device``."""

    @abc.abstractmethod
    def to_float64(self, x: Any) -> np.ndarray:
        """Exact float64 copy of a native array, on the host."""

    @abc.abstractmethod
    def dtype_name(self, x: Any) -> str:
        """The dtype of ``x`` as a name: ``float32``, ``int64``, ``complex64``..."""

    @abc.abstractmethod
    def summarize(self, x: Any, space: str, axis: int) -> ValueSummary | None:
        """Facts about the values for validation; None when they cannot be read (jit tracing)."""

    def device_of(self, x: Any) -> str:
        return "cpu"

    def context(self, *arrays: Any) -> contextlib.AbstractContextManager[Any]:
        """A context the computation on ``arrays`` runs in (JAX turns on x64 for float64)."""
        return contextlib.nullcontext()

    def grad(
        self, p: Any, q: Any, *, temperature: float, axis: int, path: str = "safe"
    ) -> np.ndarray | None:
        """Gradient of the summed KL with respect to the student logits ``q``, by autograd.

        None for backends without autograd. ``p`` and ``q`` are logits.
        """
        return None
