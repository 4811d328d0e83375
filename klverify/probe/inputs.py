"""The constructed teacher/student logits the probe feeds to a loss, seeded.

Each case is built so that the hypotheses give clearly different numbers:

* the teacher favours a class that the student all but ignores (as in the seed's
  mode-covering vs zero-forcing discussion): forward KL(teacher‖student) pays for it in
  full, reverse KL(student‖teacher) barely notices, so the two differ by a large factor;
* another case has the student favouring a class the teacher ignores, so that reverse >
  forward there and no single constant maps one direction onto the other;
* batch sizes, sequence lengths and vocabulary sizes differ between cases (4×7, 3×5,
  2×3×5, 5×3), so sum, batchmean, per-token mean and elementwise mean all differ;
* logits carry an offset, so they are not log-probabilities by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPACES = ("logits", "log_prob", "prob")


@dataclass(frozen=True)
class Case:
    """One teacher/student pair of float64 logits; outcomes on the last axis."""

    name: str
    teacher: np.ndarray
    student: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.teacher.shape)


def _pair(
    rng: np.random.Generator, shape: tuple[int, ...], teacher_mode: int, student_mode: int | None
) -> tuple[np.ndarray, np.ndarray]:
    teacher = rng.normal(0.0, 1.0, shape) + 2.0
    student = teacher + rng.normal(0.0, 0.3, shape) - 1.0  # close elsewhere, offset
    teacher[..., teacher_mode] += 2.5  # the teacher's favourite class ...
    student[..., teacher_mode] -= 12.0  # ... which the student all but ignores
    if student_mode is not None:
        student[..., student_mode] += 4.0  # a class only the student believes in
        teacher[..., student_mode] -= 3.0
    return teacher, student


def base_cases(seed: int = 0) -> list[Case]:
    """The four cases every hypothesis is checked against; the first is the 'primary'."""
    rng = np.random.default_rng(seed)
    cases = []
    for name, shape, t_mode, s_mode in (
        ("[4, 7], teacher mode the student ignores", (4, 7), 0, None),
        ("[3, 5], student mode the teacher ignores", (3, 5), 1, 4),
        ("[2, 3, 5] sequence", (2, 3, 5), 2, None),
        ("[5, 3]", (5, 3), 0, 2),
    ):
        teacher, student = _pair(rng, shape, t_mode, s_mode)
        cases.append(Case(name, teacher, student))
    return cases


def teacher_zero_case(seed: int = 0) -> Case:
    """The primary case with one teacher class at probability exactly 0 (logit -inf)."""
    case = base_cases(seed)[0]
    teacher = case.teacher.copy()
    teacher[:, 3] = -np.inf
    return Case("teacher class at probability 0", teacher, case.student)


def shared_mask_case(seed: int = 0) -> Case:
    """The primary case with two classes masked (-inf) on both sides, as padding does."""
    case = base_cases(seed)[0]
    teacher, student = case.teacher.copy(), case.student.copy()
    teacher[:, [3, 5]] = -np.inf
    student[:, [3, 5]] = -np.inf
    return Case("shared -inf mask", teacher, student)


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        shifted = x - m
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def to_space(logits: np.ndarray, space: str) -> np.ndarray:
    """The same distributions as logits, log-probabilities or probabilities (float64)."""
    if space == "logits":
        return logits
    lp = log_softmax(logits)
    return lp if space == "log_prob" else np.exp(lp)


def as_logits(values: np.ndarray, space: str) -> np.ndarray:
    """Back from a space to logits (log-probabilities are logits), for expected values."""
    if space == "prob":
        with np.errstate(divide="ignore"):
            return np.log(values)
    return values
