"""Which quantity a loss computes: every hypothesis's exact value on the constructed
cases, compared with what the loss returned.

A hypothesis is a *model* (forward KL, reverse KL, generalised JSD with its β, a mix
a·forward + b·reverse, or a known mistake), a *scale* (sum, batchmean, per-token mean,
elementwise mean, times an optional constant) and, for the temperature check, which side
is divided by T and what multiplies the result. Expected values come from
``klverify.reference`` (exact to 1 ulp) for KL and from float64 formulas for JSD and the
mistakes. A hypothesis *fits exactly* when it is within ``klverify.tolerances`` of the
measured value on every case, *approximately* when within 1 % (an epsilon or a clamp
inside the loss); the probe picks the first exact fit in the order above, else the
closest approximate one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from klverify.backends.base import DTYPE_EPS
from klverify.probe.inputs import Case, log_softmax
from klverify.reference import kl_grad, kl_rows
from klverify.tolerances import TOLERANCES, condition_scale

APPROX = 0.01
SCALES = ("batchmean", "per_token_mean", "sum", "mean")
MISTAKES = {
    "softmax_input": "F.kl_div(softmax(student), softmax(teacher)): the student went in as "
    "probabilities where F.kl_div expects log-probabilities",
    "log_target_probs": "F.kl_div(log_softmax(student), softmax(teacher), log_target=True): "
    "log_target=True reads the teacher's probabilities as log-probabilities",
}


def divisor(scale: str, shape: tuple[int, ...]) -> int:
    """What each reduction divides the summed KL by, for an input of ``shape``."""
    return {
        "sum": 1,
        "batchmean": shape[0],
        "per_token_mean": math.prod(shape[:-1]),
        "mean": math.prod(shape),
    }[scale]


@dataclass(frozen=True)
class Model:
    """The per-distribution quantity: forward, reverse, jsd(beta), mixed(weights), mistake."""

    kind: str
    beta: float | None = None
    weights: tuple[float, float] | None = None
    mistake: str | None = None

    def rows(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Values per distribution for teacher logits ``t`` and student logits ``s``."""
        if self.kind == "forward":
            return kl_rows(t, s, space="logits").reshape(-1)
        if self.kind == "reverse":
            return kl_rows(s, t, space="logits").reshape(-1)
        if self.kind == "mixed":
            a, b = self.weights or (1.0, 1.0)
            return a * Model("forward").rows(t, s) + b * Model("reverse").rows(t, s)
        if self.kind == "jsd":
            return jsd_rows(t, s, np.array([self.beta]))[0]
        return mistake_rows(self.mistake or "", t, s)

    def condition(self, t: np.ndarray, s: np.ndarray) -> float:
        """Σ pᵢ(|log pᵢ| + |log qᵢ| + 1): the yardstick of klverify.tolerances."""
        fwd = float(condition_scale(t, s, space="logits").sum())
        if self.kind == "forward":
            return fwd
        rev = float(condition_scale(s, t, space="logits").sum())
        if self.kind == "reverse":
            return rev
        if self.kind == "mixed" and self.weights:
            return abs(self.weights[0]) * fwd + abs(self.weights[1]) * rev
        return fwd + rev

    def describe(self) -> str:
        if self.kind == "forward":
            return "forward KL(teacher‖student)"
        if self.kind == "reverse":
            return "reverse KL(student‖teacher)"
        if self.kind == "jsd":
            return f"generalised JSD, β = {self.beta:.4g}"
        if self.kind == "mixed" and self.weights:
            return f"{self.weights[0]:.4g}·forward + {self.weights[1]:.4g}·reverse KL"
        return f"the known mistake {self.mistake}"


def jsd_rows(t: np.ndarray, s: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """β·KL(P‖M) + (1−β)·KL(Q‖M), M = β·P + (1−β)·Q, per row, for each β: [len(betas), rows]."""
    lp = log_softmax(t).reshape(-1, t.shape[-1])
    lq = log_softmax(s).reshape(-1, s.shape[-1])
    p, q = np.exp(lp), np.exp(lq)
    b = betas.reshape(-1, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.log(b * p + (1 - b) * q)
        kl_pm = np.where(p > 0, p * (lp - lm), 0).sum(-1)
        kl_qm = np.where(q > 0, q * (lq - lm), 0).sum(-1)
    return b[:, :, 0] * kl_pm + (1 - b[:, :, 0]) * kl_qm


def mistake_rows(name: str, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    lp = log_softmax(t).reshape(-1, t.shape[-1])
    lq = log_softmax(s).reshape(-1, s.shape[-1])
    p, q = np.exp(lp), np.exp(lq)
    with np.errstate(invalid="ignore"):
        if name == "softmax_input":
            return (np.where(p > 0, p * lp, 0) - p * q).sum(-1)
        return (np.exp(p) * (p - lq)).sum(-1)  # log_target_probs


@dataclass(frozen=True)
class Hypothesis:
    """A model, a scale, and how the temperature enters (for the T check)."""

    model: Model
    scale: str
    constant: float = 1.0
    teacher_div: float = 1.0
    student_div: float = 1.0
    multiplier: float = 1.0

    def _sides(self, case: Case) -> tuple[np.ndarray, np.ndarray]:
        return case.teacher / self.teacher_div, case.student / self.student_div

    def factor(self, shape: tuple[int, ...]) -> float:
        return self.constant * self.multiplier / divisor(self.scale, shape)

    def expected(self, case: Case) -> float:
        t, s = self._sides(case)
        return math.fsum(self.model.rows(t, s).tolist()) * self.factor(case.shape)

    def tolerance(self, case: Case, dtype: str) -> float:
        t, s = self._sides(case)
        k = TOLERANCES[dtype].k
        return k * DTYPE_EPS[dtype] * self.model.condition(t, s) * abs(self.factor(case.shape))

    def scale_factor(self, shape: tuple[int, ...]) -> float:
        """The loss over the true mean per distribution, for input of ``shape``."""
        return self.factor(shape) * math.prod(shape[:-1])

    def student_grad(self, case: Case) -> tuple[np.ndarray, bool]:
        """d loss / d student logits, and whether it is analytic (else finite differences)."""
        t, s = self._sides(case)
        tau = self.student_div
        factor = self.factor(case.shape)
        kind, w = self.model.kind, self.model.weights or (1.0, 1.0)
        if kind in ("forward", "reverse", "mixed"):
            g = np.zeros_like(s)
            if kind in ("forward", "mixed"):
                fw = kl_grad(t * tau, case.student, temperature=tau, reduction="sum")
                g = g + (w[0] if kind == "mixed" else 1.0) * fw
            if kind in ("reverse", "mixed"):
                g = g + (w[1] if kind == "mixed" else 1.0) * _reverse_grad(t, s) / tau
            return g * factor, True
        return _finite_difference(self.model, t, s) / tau * factor, False


def _reverse_grad(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """d KL(Q‖P) / d s with Q = softmax(s): Q·(log Q − log P − KL(Q‖P))."""
    lp, lq = log_softmax(t), log_softmax(s)
    q = np.exp(lq)
    with np.errstate(invalid="ignore"):
        d = np.where(q > 0, lq - lp, 0)
    kl = (q * d).sum(-1, keepdims=True)
    return q * (d - kl)


def _finite_difference(model: Model, t: np.ndarray, s: np.ndarray, h: float = 1e-5) -> np.ndarray:
    g = np.zeros_like(s)
    flat = s.reshape(-1)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        f_up = model.rows(t, up.reshape(s.shape)).sum()
        f_down = model.rows(t, down.reshape(s.shape)).sum()
        g.reshape(-1)[i] = (f_up - f_down) / (2 * h)
    return g


@dataclass
class Fit:
    """A hypothesis that matched, with the numbers that show it."""

    hypothesis: Hypothesis
    kind: str  # "exact" or "approximate"
    expected: list[float]
    tolerance: list[float]
    worst_rel: float


def check(
    h: Hypothesis, cases: list[Case], measured: list[float], dtype: str, slack: float = 0.0
) -> Fit | None:
    expected = [h.expected(c) for c in cases]
    tol = [h.tolerance(c, dtype) + slack * abs(e) for c, e in zip(cases, expected, strict=True)]
    diffs = [abs(m - e) for m, e in zip(measured, expected, strict=True)]
    if not all(math.isfinite(e) for e in expected):
        return None
    rel = max(
        d / abs(e) if e else (0.0 if d == 0 else math.inf)
        for d, e in zip(diffs, expected, strict=True)
    )
    if all(d <= t for d, t in zip(diffs, tol, strict=True)):
        return Fit(h, "exact", expected, tol, rel)
    if all(d <= t + APPROX * abs(e) for d, t, e in zip(diffs, tol, expected, strict=True)):
        return Fit(h, "approximate", expected, tol, rel)
    return None


def _best(fits: list[Fit]) -> Fit | None:
    exact = [f for f in fits if f.kind == "exact"]
    if exact:
        return exact[0]
    return min(fits, key=lambda f: f.worst_rel) if fits else None


def fit_base(cases: list[Case], measured: list[float], dtype: str) -> Fit | None:
    """The hypothesis (at T = 1) that matches the loss on every case, or None."""
    fits: list[Fit] = []
    simple = [Hypothesis(Model(d), s) for d in ("forward", "reverse") for s in SCALES]
    fits += [f for h in simple if (f := check(h, cases, measured, dtype))]
    if any(f.kind == "exact" for f in fits):
        return _best(fits)
    for h in simple:  # a constant factor (alpha, 0.5, T² at a fixed T...) on top
        c = measured[0] / h.expected(cases[0])
        if 1e-4 < c < 1e4 and abs(c - 1) > 1e-6:
            f = check(replace(h, constant=c), cases, measured, dtype, slack=1e-12)
            if f:
                fits.append(f)
    if any(f.kind == "exact" for f in fits):
        return _best(fits)
    fits += _fit_jsd(cases, measured, dtype) + _fit_mixed(cases, measured, dtype)
    return _best(fits)


def fit_mistake(cases: list[Case], measured: list[float], dtype: str) -> Fit | None:
    """A known mistake's formula that reproduces the loss's values, or None."""
    fits = [
        f
        for name in MISTAKES
        for s in SCALES
        if (f := check(Hypothesis(Model("mistake", mistake=name), s), cases, measured, dtype))
    ]
    return _best(fits)


def _fit_jsd(cases: list[Case], measured: list[float], dtype: str) -> list[Fit]:
    grid = np.linspace(0.01, 0.99, 99)
    sums = [jsd_rows(c.teacher, c.student, grid).sum(-1) for c in cases]
    fits = []
    for scale in SCALES:
        divs = [divisor(scale, c.shape) for c in cases]

        def misfit(beta: float, divs: list[int] = divs) -> float:
            values = [
                jsd_rows(c.teacher, c.student, np.array([beta]))[0].sum() / d
                for c, d in zip(cases, divs, strict=True)
            ]
            return max(abs(m / v - 1) for m, v in zip(measured, values, strict=True))

        errors = np.max(
            [np.abs(m / (sm / d) - 1) for m, sm, d in zip(measured, sums, divs, strict=True)],
            axis=0,
        )
        i = int(np.argmin(errors))
        if errors[i] > 0.2:
            continue
        beta = _golden(misfit, max(grid[i] - 0.01, 1e-6), min(grid[i] + 0.01, 1 - 1e-6))
        f = check(Hypothesis(Model("jsd", beta=beta), scale), cases, measured, dtype, 1e-9)
        if f:
            fits.append(f)
    return fits


def _golden(f, lo: float, hi: float, iterations: int = 80) -> float:
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2


def _fit_mixed(cases: list[Case], measured: list[float], dtype: str) -> list[Fit]:
    fwd = [Model("forward").rows(c.teacher, c.student).sum() for c in cases]
    rev = [Model("reverse").rows(c.teacher, c.student).sum() for c in cases]
    fits = []
    for scale in SCALES:
        d = np.array([divisor(scale, c.shape) for c in cases], dtype=float)
        a_mat = np.stack([np.array(fwd) / d, np.array(rev) / d], axis=1)
        m = np.array(measured)
        w = np.linalg.lstsq(a_mat / m[:, None], np.ones_like(m), rcond=None)[0]
        a, b = float(w[0]), float(w[1])
        if a <= 0 or b <= 0 or min(a, b) / max(a, b) < 1e-3:
            continue
        h = Hypothesis(Model("mixed", weights=(a, b)), scale)
        f = check(h, cases, measured, dtype, slack=1e-10)
        if f:
            fits.append(f)
    return fits


# ----------------------------------------------------------------- temperature
def temperature_hypotheses(base: Hypothesis, T: float) -> list[tuple[str, str, Hypothesis]]:
    """(applied, multiplier name, hypothesis) for every way T might enter the loss."""
    out = []
    sides = {"both": (T, T), "student": (1.0, T), "teacher": (T, 1.0), "neither": (1.0, 1.0)}
    mults = {"T²": T * T, "1": 1.0, "T": T, "1/T": 1 / T}
    for applied, (td, sd) in sides.items():
        for name, mult in mults.items():
            out.append(
                (applied, name, replace(base, teacher_div=td, student_div=sd, multiplier=mult))
            )
    return out


def fit_temperature(
    base: Hypothesis, T: float, cases: list[Case], measured: list[float], dtype: str
) -> tuple[str, str, Fit] | None:
    """How T enters, judged from the loss at temperature ``T`` (base fitted at T = 1)."""
    found = []
    for applied, mult, h in temperature_hypotheses(base, T):
        f = check(h, cases, measured, dtype, slack=1e-9 if base.model.kind == "jsd" else 0.0)
        if f:
            found.append((applied, mult, f))
    exact = [x for x in found if x[2].kind == "exact"]
    if exact:
        return exact[0]
    return min(found, key=lambda x: x[2].worst_rel) if found else None
