"""``probe(fn)``: run a loss on constructed inputs and work out what it computes.

The steps, each recorded as evidence: find how to call it (framework, argument roles,
input space), fit the value at T = 1 against every hypothesis, check how the temperature
enters, compare gradients, then try the inputs that break losses (a teacher zero, a
shared mask, half precision).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from klverify.backends.base import DTYPE_EPS
from klverify.probe import analysis, verdict
from klverify.probe.calling import CallPlan, SignatureProblem, plan_call, run_limited
from klverify.probe.frameworks import Adapter, Measurement, adapter, available
from klverify.probe.inputs import (
    Case,
    as_logits,
    base_cases,
    shared_mask_case,
    teacher_zero_case,
    to_space,
)
from klverify.probe.result import ProbeResult
from klverify.tolerances import TOLERANCES

T_CHECK = 2.0
# (teacher space, student space), tried in this order: same space first, then F.kl_div's
# convention (student log-probabilities, teacher probabilities), then the rest.
COMBOS = [
    ("logits", "logits"),
    ("log_prob", "log_prob"),
    ("prob", "prob"),
    ("prob", "log_prob"),
    ("log_prob", "prob"),
    ("logits", "log_prob"),
    ("log_prob", "logits"),
    ("logits", "prob"),
    ("prob", "logits"),
]


class _Timeout(Exception):
    pass


@dataclass
class _Failure:
    error: BaseException
    trace: str

    def describe(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass
class _Attempt:
    combo: tuple[str, str]
    cases: list[Case]
    values: list[float]
    dtype: str
    fit: analysis.Fit | None = None
    outcomes: list[Measurement | _Failure] = field(default_factory=list)


def probe(
    fn: Callable[..., Any],
    *,
    teacher_arg: str | int | None = None,
    student_arg: str | int | None = None,
    temperature_arg: str | int | None = None,
    teacher_space: str | None = None,
    student_space: str | None = None,
    framework: str | None = None,
    timeout: float = 10.0,
    seed: int = 0,
) -> ProbeResult:
    """Diagnose a distillation/KL loss by running it: direction, scale, temperature,
    gradients and robustness, each with the evidence. This calls ``fn`` (your code) many
    times; each call is abandoned after ``timeout`` seconds.

    Args:
        fn: the loss, called as ``fn(student, teacher[, temperature])`` by parameter name.
        teacher_arg, student_arg, temperature_arg: parameter names (or positions) when
            the names do not say (``teacher*``, ``target``, ``student*``, ``input``,
            ``temperature``/``T``/``tau`` are recognised).
        teacher_space, student_space: ``"logits"``, ``"log_prob"`` or ``"prob"`` when
            known; otherwise each combination is tried, logits first.
        framework: ``"torch"`` or ``"jax"``; otherwise torch, then jax.
        timeout: seconds one call may take before the verdict is "timeout".
        seed: seed of the constructed inputs.
    """
    result = ProbeResult(target=_name(fn))
    for label, space in (("teacher_space", teacher_space), ("student_space", student_space)):
        if space not in (None, "logits", "log_prob", "prob"):
            raise ValueError(f"{label}={space!r}: use 'logits', 'log_prob' or 'prob'")
    if framework not in (None, "torch", "jax"):
        raise ValueError(f"framework={framework!r}: use 'torch' or 'jax' (or None to try both)")
    try:
        plan = plan_call(
            fn, teacher_arg=teacher_arg, student_arg=student_arg, temperature_arg=temperature_arg
        )
    except SignatureProblem as exc:
        result.status = "bad_signature"
        result.verdict = [f"Cannot call it: {exc}"]
        return result
    combos = COMBOS
    if teacher_space or student_space:
        combos = [
            c for c in COMBOS if (teacher_space in (None, c[0])) and (student_space in (None, c[1]))
        ]
    session = _Session(fn, plan, combos, framework, timeout, seed, result)
    try:
        out = session.run()
    except _Timeout:
        result.status = "timeout"
        result.direction = "error"
        verdict.timeout(result, timeout)
        return result
    if out is None:  # the gradient showed the roles the other way round
        swapped = _Session(
            fn, plan.swapped(), combos, framework, timeout, seed, ProbeResult(result.target)
        )
        try:
            return swapped.run(allow_swap=False) or swapped.result
        except _Timeout:
            result.status, result.direction = "timeout", "error"
            verdict.timeout(result, timeout)
            return result
    return out


def _name(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{name}"


class _Session:
    def __init__(
        self,
        fn: Callable[..., Any],
        plan: CallPlan,
        combos: list[tuple[str, str]],
        framework: str | None,
        timeout: float,
        seed: int,
        result: ProbeResult,
    ) -> None:
        self.fn, self.plan, self.combos = fn, plan, combos
        self.framework, self.timeout, self.seed = framework, timeout, seed
        self.result = result
        self.cases = base_cases(seed)
        self.seen_warnings: set[str] = set()

    # ------------------------------------------------------------ one call
    def call(
        self,
        ad: Adapter,
        combo: tuple[str, str],
        case: Case,
        *,
        T: float = 1.0,
        dtype: str | None = None,
        grad: bool = False,
        fed: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Measurement | _Failure:
        t_in, s_in = fed or (to_space(case.teacher, combo[0]), to_space(case.student, combo[1]))
        fn, plan = self.fn, self.plan

        def work() -> Measurement:
            return ad.evaluate(
                lambda a, b: plan.invoke(fn, a, b, T), t_in, s_in, dtype or ad.base_dtype, grad
            )

        outcome = run_limited(work, self.timeout)
        if outcome.timed_out:
            raise _Timeout
        if outcome.error is not None:
            return _Failure(outcome.error, outcome.trace)
        m = outcome.value
        self.seen_warnings.update(m.warnings)
        return m

    # ------------------------------------------------------------ the steps
    def run(self, allow_swap: bool = True) -> ProbeResult | None:
        r = self.result
        r.argument_order = self.plan.describe()
        attempt, ad = self.discover()
        if attempt is None or ad is None:
            verdict.finish(r, None, self)
            return r
        r.framework = ad.name
        r.input_space = {"teacher": attempt.combo[0], "student": attempt.combo[1]}
        self.attempt, self.adapter = attempt, ad
        if attempt.fit is None:
            attempt.fit = analysis.fit_mistake(attempt.cases, attempt.values, attempt.dtype)
        temp_fit = self.temperature(attempt, ad)
        grad_h = (
            temp_fit[2].hypothesis
            if temp_fit
            else (attempt.fit.hypothesis if attempt.fit else None)
        )
        swap = self.gradients(attempt, ad, grad_h, T_CHECK if temp_fit else 1.0)
        if swap and allow_swap and self.plan.how == "assumed":
            return None
        self.robustness(attempt, ad)
        verdict.finish(r, attempt, self, temp_fit)
        return r

    def discover(self) -> tuple[_Attempt | None, Adapter | None]:
        """Framework and input spaces: the first combination whose values fit a KL."""
        r = self.result
        self.failures: list[tuple[tuple[str, str], str, Measurement | _Failure]] = []
        first_finite: tuple[_Attempt, Adapter] | None = None
        names = available(self.framework)
        if not names:
            self.missing_framework = self.framework or "torch or jax"
            return None, None
        for name in names:
            try:
                ad = adapter(name)
            except ImportError:
                continue
            attempts: list[_Attempt] = []
            foreign = False
            for combo in self.combos:
                outcomes = [self.call(ad, combo, c) for c in self.cases]
                if isinstance(outcomes[0], Measurement) and outcomes[0].kind == "foreign":
                    foreign = True
                    break
                usable = [
                    (c, o)
                    for c, o in zip(self.cases, outcomes, strict=True)
                    if isinstance(o, Measurement) and o.kind == "scalar" and math.isfinite(o.value)
                ]
                for c, o in zip(self.cases, outcomes, strict=True):
                    if not (
                        isinstance(o, Measurement) and o.kind == "scalar" and math.isfinite(o.value)
                    ):
                        self.failures.append((combo, c.name, o))
                if not usable or usable[0][0] is not self.cases[0]:
                    continue
                dtype = _coarsest([ad.base_dtype, *(o.dtype for _, o in usable)])
                att = _Attempt(combo, [c for c, _ in usable], [o.value for _, o in usable], dtype)
                att.outcomes = outcomes
                att.fit = analysis.fit_base(att.cases, att.values, dtype)
                attempts.append(att)
                if att.fit is not None:
                    return att, ad
            if foreign and self.framework is None:
                continue
            for att in attempts:  # no KL anywhere: does a known mistake explain it?
                att.fit = analysis.fit_mistake(att.cases, att.values, att.dtype)
                if att.fit is not None:
                    return att, ad
            if attempts and first_finite is None:
                first_finite = (attempts[0], ad)
            if attempts or any(isinstance(o, Measurement) for _, _, o in self.failures):
                break  # this framework runs the function; do not try the next
        if first_finite is not None:
            return first_finite
        r.direction = "error"
        return None, None

    def temperature(self, att: _Attempt, ad: Adapter) -> tuple[str, str, analysis.Fit] | None:
        r = self.result
        if self.plan.temperature is None or att.fit is None or att.combo != ("logits", "logits"):
            return None
        r.temperature_arg = str(self.plan.temperature)
        outcomes = [self.call(ad, att.combo, c, T=T_CHECK) for c in att.cases]
        values = [
            o.value if isinstance(o, Measurement) and o.kind == "scalar" else math.nan
            for o in outcomes
        ]
        self.t_values = values
        if not all(math.isfinite(v) for v in values):
            r.temperature_applied = "unknown"
            return None
        found = analysis.fit_temperature(att.fit.hypothesis, T_CHECK, att.cases, values, att.dtype)
        if found is None:
            r.temperature_applied = "unknown"
            return None
        applied, mult, _ = found
        r.temperature_applied = applied
        r.t_squared = mult == "T²"
        self.t_multiplier = mult
        return found

    def gradients(
        self, att: _Attempt, ad: Adapter, h: analysis.Hypothesis | None, T: float
    ) -> bool:
        """Teacher and student gradients; True when the assumed roles look swapped."""
        r = self.result
        case = self.cases[0]
        m = self.call(ad, att.combo, case, T=T, grad=True)
        self.grad_measurement = m
        if not isinstance(m, Measurement) or m.kind != "scalar":
            return False
        if m.type_name not in ("torch.Tensor", "jax.Array"):
            return False  # a plain number: no gradient to look at
        t_live = m.teacher_grad is not None and bool(np.any(m.teacher_grad != 0))
        s_live = m.student_grad is not None and bool(np.any(m.student_grad != 0))
        if t_live and not s_live:
            return True
        r.teacher_grad = t_live
        if not s_live:
            r.student_grad_ok = False
            self.grad_detail = "no gradient reaches the student"
            return False
        if h is None or att.combo[1] != "logits":
            self.grad_detail = "not compared: " + (
                "the loss matched no hypothesis" if h is None else "the student is not logits"
            )
            return False
        ref, analytic = h.student_grad(case)
        g = m.student_grad
        assert g is not None
        scale = float(np.max(np.abs(ref)))
        k = TOLERANCES[att.dtype].k_grad * DTYPE_EPS[att.dtype]
        tol = k * scale * 4 + (0 if analytic else 1e-6 * scale)
        if att.fit is not None and att.fit.kind == "approximate":
            tol += analysis.APPROX * scale
        err = float(np.max(np.abs(g - ref))) if np.all(np.isfinite(g)) else math.inf
        r.student_grad_ok = err <= tol
        how = "analytic" if analytic else "finite-difference"
        self.grad_detail = (
            f"student gradient vs the {how} gradient of the fitted hypothesis at T = {T:g}: "
            f"max |diff| {err:.2e}, tolerance {tol:.2e} (max |grad| {scale:.3g})"
        )
        return False

    def robustness(self, att: _Attempt, ad: Adapter) -> None:
        r = self.result
        self.robust_detail: dict[str, str] = {}
        h = att.fit.hypothesis if att.fit else None
        slack = analysis.APPROX if att.fit and att.fit.kind == "approximate" else 0.0
        checks: list[tuple[str, Case, str]] = [
            ("teacher_zero", teacher_zero_case(self.seed), ad.base_dtype),
            ("shared_mask", shared_mask_case(self.seed), ad.base_dtype),
            ("bfloat16", self.cases[0], "bfloat16"),
            ("float16", self.cases[0], "float16"),
        ]
        for key, case, dtype in checks:
            t_in = _round(to_space(case.teacher, att.combo[0]), dtype)
            s_in = _round(to_space(case.student, att.combo[1]), dtype)
            m = self.call(ad, att.combo, case, dtype=dtype, grad=True, fed=(t_in, s_in))
            if isinstance(m, _Failure):
                r.robustness[key], self.robust_detail[key] = "raised", m.describe()
                continue
            if m.kind != "scalar":
                r.robustness[key] = "raised"
                self.robust_detail[key] = f"returned {m.type_name} {m.shape or ''}, not a scalar"
                continue
            fed_case = Case(case.name, as_logits(t_in, att.combo[0]), as_logits(s_in, att.combo[1]))
            expected = h.expected(fed_case) if h is not None else math.nan
            if math.isinf(expected) and m.value == expected:
                r.robustness[key] = "ok"
                self.robust_detail[key] = (
                    f"loss {m.value}, as the exact value is ({h.model.describe()} is infinite here)"
                )
                continue
            if math.isnan(m.value):
                r.robustness[key], self.robust_detail[key] = "nan", "loss is NaN"
                continue
            if math.isinf(m.value):
                r.robustness[key], self.robust_detail[key] = "inf", "loss is inf"
                continue
            g = m.student_grad
            if g is not None and not np.all(np.isfinite(g[np.isfinite(s_in)])):
                r.robustness[key] = "nan_grad"
                self.robust_detail[key] = f"loss {m.value:.6g} but the student gradient has NaN/inf"
                continue
            if h is None:
                r.robustness[key] = "ok"
                self.robust_detail[key] = f"finite ({m.value:.6g}); no hypothesis to compare with"
                continue
            tol = h.tolerance(fed_case, _coarsest([dtype, att.dtype])) + (slack + 1e-12) * abs(
                expected
            )
            err = abs(m.value - expected)
            ok = err <= tol
            r.robustness[key] = (
                "ok" if ok else ("inaccurate" if dtype in ("bfloat16", "float16") else "wrong")
            )
            self.robust_detail[key] = (
                f"loss {m.value:.6g}, exact {expected:.6g} (|diff| {err:.1e}, tolerance {tol:.1e})"
            )


def _coarsest(dtypes: list[str | None]) -> str:
    known = [d for d in dtypes if d in DTYPE_EPS]
    return max(known, key=lambda d: DTYPE_EPS[d])


def _round(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` (to nearest, ties to even) and back to float64."""
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        f = np.ascontiguousarray(x, dtype=np.float32)
        bits = f.view(np.uint32).astype(np.uint64)
        finite = np.isfinite(f)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        out = np.where(finite, rounded, bits).astype(np.uint32).view(np.float32)
        return out.astype(np.float64)
    if dtype == "float32":
        return x.astype(np.float32).astype(np.float64)
    return x
