"""What the plugin remembers about each KL check of a session.

The terminal summary and ``--klverify-report`` are built from these records, so every
``assert_kl_close`` / ``assert_kl_grad_close`` call leaves one, passed or failed. Standard
library only: this module is imported when pytest starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckRecord:
    """One comparison of a user's KL value (``kind="value"``) or gradient (``"grad"``).

    For arrays (``reduction="none"``, gradients) the numbers are those of the worst element,
    the one with the largest error relative to its tolerance.
    """

    kind: str
    nodeid: str
    framework: str  # who computed ``actual``: numpy, torch, jax or python
    device: str
    dtype: str  # the dtype whose tolerance was applied
    space: str
    reduction: str
    temperature: float
    shape: tuple[int, ...]
    expected: float
    obtained: float
    abs_error: float
    rel_error: float
    ulps: float
    tolerance: float
    passed: bool
    elements_failed: int = 0
    hint: str = ""
    # Gradients only: the unit max(P + Q)/T · factor ÷ divisor that errors are measured in.
    grad_unit: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shape"] = list(self.shape)
        return data


@dataclass
class SessionRecords:
    """All checks of one pytest session, in the order they ran."""

    checks: list[CheckRecord] = field(default_factory=list)

    def add(self, record: CheckRecord) -> None:
        self.checks.append(record)

    @property
    def failed(self) -> list[CheckRecord]:
        return [c for c in self.checks if not c.passed]

    def summary_line(self) -> str:
        """``klverify: 12 KL checks ran (10 value, 2 gradient), 1 failed``."""
        n = len(self.checks)
        values = sum(c.kind == "value" for c in self.checks)
        grads = n - values
        noun = "check" if n == 1 else "checks"
        return (
            f"klverify: {n} KL {noun} ran ({values} value, {grads} gradient), "
            f"{len(self.failed)} failed"
        )
