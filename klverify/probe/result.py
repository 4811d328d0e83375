"""``ProbeResult``: what a loss function was found to compute, with the evidence.

Standard library only: the command module imports this before any framework loads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

DIRECTIONS = ("forward", "reverse", "jsd", "mixed", "none", "error")
SCALES = ("sum", "batchmean", "per_token_mean", "mean", "constant")
DOC_LINK = "docs/why-order-matters.md"


@dataclass
class ProbeResult:
    """The probe's diagnosis of one loss function.

    ``direction`` is ``"forward"`` for KL(teacher‖student), ``"reverse"`` for
    KL(student‖teacher), ``"jsd"`` (with ``beta``), ``"mixed"`` (a·forward + b·reverse, with
    ``weights``), ``"none"`` when the function returns numbers that match no KL, and
    ``"error"`` when it could not be measured (it raised, hung or returned a non-scalar:
    see ``status``). ``scale`` names the reduction; ``scale_factor`` is the loss divided by
    the true mean KL per distribution on the [B, L, V] input (on [B, V] when the function
    takes only 2-D input). ``problems`` lists what is likely wrong for a distillation
    loss, ``warnings`` inputs on which it breaks; both are short codes explained in
    ``verdict``.
    """

    target: str
    status: str = "ok"  # ok, raised, timeout, non_scalar, non_finite, bad_signature
    framework: str | None = None
    direction: str = "error"
    beta: float | None = None
    weights: tuple[float, float] | None = None
    matches: str | None = None  # a known mistake whose values the loss reproduces
    scale: str | None = None
    scale_factor: float | None = None
    fit: str | None = None  # "exact" (within the dtype's tolerance) or "approximate" (≤ 1 %)
    input_space: dict[str, str] = field(default_factory=dict)
    argument_order: dict[str, str] = field(default_factory=dict)
    temperature_arg: str | None = None
    temperature_applied: str | None = None  # both, student, teacher, neither
    t_squared: bool | None = None
    teacher_grad: bool | None = None
    student_grad_ok: bool | None = None
    robustness: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdict: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True for a forward-KL loss with no problem found (warnings allowed)."""
        return self.direction == "forward" and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become strings)."""
        data = asdict(self)
        data["ok"] = self.ok
        if self.weights is not None:
            data["weights"] = list(self.weights)
        for key in ("beta", "scale_factor"):
            value = data[key]
            if isinstance(value, float) and not math.isfinite(value):
                data[key] = str(value)
        return data

    def expect(self, **expected: Any) -> ProbeResult:
        """Assert fields, e.g. ``probe(loss).expect(direction="forward", t_squared=True)``.

        The AssertionError shows the whole verdict, which says why it differs.
        """
        wrong = {k: getattr(self, k) for k, v in expected.items() if getattr(self, k) != v}
        if wrong:
            lines = [f"  {k}: expected {expected[k]!r}, got {v!r}" for k, v in wrong.items()]
            raise AssertionError("probe verdict differs:\n" + "\n".join(lines) + "\n" + str(self))
        return self

    def __str__(self) -> str:
        head = f"klverify probe {self.target}"
        if self.framework:
            head += f" ({self.framework})"
        lines = [head, *(f"  {line}" for line in self.verdict)]
        if self.evidence:
            lines.append("  evidence:")
            lines += [f"    {line}" for line in self.evidence]
        return "\n".join(lines)
