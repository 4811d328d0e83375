"""Turning the probe's measurements into plain words: verdict lines, problem and warning
codes, and the evidence behind each. Every problem line says what to do about it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from klverify.probe.analysis import MISTAKES, Fit
from klverify.probe.result import DOC_LINK, ProbeResult
from klverify.tolerances import TOLERANCES

if TYPE_CHECKING:
    from klverify.probe.runner import _Attempt, _Session

SPACE_WORDS = {"logits": "logits", "log_prob": "log-probabilities", "prob": "probabilities"}
HOW_WORDS = {
    "given": "as you named them",
    "names": "from the parameter names",
    "gradient": "from the gradient: the argument that gets no gradient is the teacher",
    "assumed": "assumed: student first, as in F.kl_div(input, target); if your teacher comes "
    "first the direction is the opposite, so name it with --teacher-arg",
}
MISTAKE_FIX = {
    "softmax_input": "pass log_softmax(student_logits / T) as the input",
    "log_target_probs": "pass log_softmax(teacher_logits / T) as the target with "
    "log_target=True, or the probabilities with log_target=False",
}
ROBUST_WORDS = {
    "teacher_zero": "a teacher class at probability 0",
    "shared_mask": "a -inf mask shared by teacher and student",
    "bfloat16": "bfloat16 inputs",
    "float16": "float16 inputs",
}
ROBUST_FIX = {
    "teacher_zero": "0·log 0 must be 0: use F.kl_div / torch.xlogy (or klverify.kl) instead of "
    "p·log(p/q), and do not pass teacher log-probabilities with -inf to log_target=True",
    "shared_mask": "F.kl_div and optax compute 0·(−inf) at masked entries: set both sides to 0 "
    "there with torch.where / jnp.where before the KL, or use klverify.kl",
    "bfloat16": "compute the loss in float32: cast the logits with .float() before log_softmax",
    "float16": "compute the loss in float32: cast the logits with .float() before log_softmax",
}


def timeout(result: ProbeResult, seconds: float) -> None:
    result.verdict = [
        f"It did not return within {seconds:g} s, so the probe gave up on it (the call is "
        "left running in a background thread). If the loss is merely slow, raise --timeout; "
        "the probe's inputs are tiny, so a loss that takes this long is probably stuck."
    ]


def _fail_text(outcome: Any) -> tuple[str, str]:
    """(status, sentence) for a call that gave no usable number."""
    from klverify.probe.runner import _Failure

    if isinstance(outcome, _Failure):
        return "raised", f"it raised {outcome.describe()}"
    if outcome.kind == "non_scalar":
        return "non_scalar", (
            f"it returned a {outcome.type_name} of shape {list(outcome.shape or ())}, not a "
            "scalar: the probe needs the reduced loss, so use a reduction such as 'batchmean' "
            "or wrap it (lambda s, t: loss(s, t).sum())"
        )
    if outcome.kind in ("bad_type", "foreign"):
        return "non_scalar", (
            f"it returned a {outcome.type_name}, not a number or a 0-d tensor: return the loss "
            "itself"
        )
    return "non_finite", (
        f"it returned {outcome.value} on ordinary finite inputs, so it computes no usable "
        "divergence"
    )


def _unusable(r: ProbeResult, session: _Session) -> None:
    missing = getattr(session, "missing_framework", None)
    if missing:
        r.status, r.direction = "raised", "error"
        r.verdict = [f"Cannot run it: {missing} is not installed; install the framework it uses."]
        return
    failures = session.failures
    pick = next((f for f in failures if getattr(f[2], "kind", "") == "non_scalar"), None)
    combo, case, outcome = pick or failures[0]
    r.status, sentence = _fail_text(outcome)
    r.direction = "none" if r.status == "non_finite" else "error"
    spaces = f"teacher {SPACE_WORDS[combo[0]]}, student {SPACE_WORDS[combo[1]]}"
    r.verdict = [
        f"Cannot diagnose it: {sentence} (called with {spaces} on the {case} case).",
        "Every input space was tried (logits, log-probabilities, probabilities). If it needs "
        "other arguments or other inputs, wrap it, or say how to call it with "
        "--teacher-arg/--student-arg/--teacher-space/--student-space.",
    ]
    order = r.argument_order
    r.evidence.append(
        f"arguments: teacher={order.get('teacher')}, student={order.get('student')} "
        f"({HOW_WORDS[order.get('how', 'assumed')]})"
    )
    trace = getattr(outcome, "trace", "")
    if trace:
        r.evidence += ["traceback (last frames):", *trace.rstrip().splitlines()[-6:]]


def finish(
    r: ProbeResult,
    att: _Attempt | None,
    session: _Session,
    temp_fit: tuple[str, str, Fit] | None = None,
) -> None:
    if att is None:
        _unusable(r, session)
        return
    fit = att.fit
    h = fit.hypothesis if fit else None
    lines, ev = r.verdict, r.evidence
    order = r.argument_order
    ev.append(
        f"called with teacher → {order['teacher']} ({SPACE_WORDS[att.combo[0]]}), student → "
        f"{order['student']} ({SPACE_WORDS[att.combo[1]]})"
        + (f", {order['temperature']} = 1" if "temperature" in order else "")
        + f"; {r.framework} {session.adapter.base_dtype}, result in {att.dtype}"
    )
    # ------------------------------------------------------------- direction
    from klverify.probe.analysis import Model

    for case, value in zip(att.cases, att.values, strict=True):
        n = math.prod(case.shape[:-1])
        fwd = Model("forward").rows(case.teacher, case.student).sum() / n
        rev = Model("reverse").rows(case.teacher, case.student).sum() / n
        ev.append(
            f"{case.name}: loss = {value:.10g}; mean per distribution: forward KL {fwd:.6g}, "
            f"reverse KL {rev:.6g} (forward/reverse = {fwd / rev:.3g})"
        )
    if h is None or fit is None:
        r.direction = "none"
        lines.append(
            "Direction: none. Its values match no forward KL, reverse KL, JSD or mix of the "
            "two at any scale tried (sum, batchmean, per-token mean, mean, or a constant "
            f"times one): it is not a KL divergence of these inputs. The numbers are below; "
            f"why direction matters: {DOC_LINK}"
        )
        r.problems.append("not_kl")
    else:
        tol = TOLERANCES[att.dtype]
        ev.append(
            f"fit: {h.model.describe()}, {h.scale}"
            + (f" × {h.constant:.6g}" if h.constant != 1 else "")
            + f" — {fit.kind} on all {len(att.cases)} cases; expected "
            + ", ".join(f"{e:.10g}" for e in fit.expected)
            + f"; worst relative difference {fit.worst_rel:.1e}; tolerance "
            + f"{tol.k:g}·eps({att.dtype})·Σp(|log p|+|log q|+1) (klverify.tolerances)"
        )
        r.fit = fit.kind
        _direction(r, h, fit)
        _scale(r, h, att)
    lines.append(
        f"Inputs: teacher as {SPACE_WORDS[att.combo[0]]} ({order['teacher']}), student as "
        f"{SPACE_WORDS[att.combo[1]]} ({order['student']}); roles {HOW_WORDS[order['how']]}."
    )
    _temperature(r, session, att, temp_fit)
    _gradients(r, session)
    _robustness(r, session)
    for w in sorted(session.seen_warnings):
        ev.append(f"the function warned: {w}")


def _direction(r: ProbeResult, h: Any, fit: Fit) -> None:
    kind = h.model.kind
    approx = ""
    if fit.kind == "approximate":
        approx = (
            f" Only approximately (worst relative difference {fit.worst_rel:.1e}, beyond "
            "floating-point rounding): an epsilon or clamp inside the loss biases it."
        )
        r.warnings.append("approximate")
    if kind == "mistake":
        r.direction, r.matches = "none", h.model.mistake
        r.problems.append(h.model.mistake)
        r.verdict.append(
            f"Direction: none — not a KL divergence. Its values match {MISTAKES[h.model.mistake]}. "
            f"Fix: {MISTAKE_FIX[h.model.mistake]}.{approx}"
        )
        return
    r.direction = kind
    if kind == "forward":
        text = "forward KL(teacher‖student), what distillation wants (mode covering)."
    elif kind == "reverse":
        text = (
            "REVERSE KL(student‖teacher): the student's own probabilities weight the loss, so "
            "it can drop teacher modes (zero forcing). Fine if you meant reverse KL; otherwise "
            "swap the sides: F.kl_div(input=student log-probs, target=teacher probs). Why: "
            f"{DOC_LINK}"
        )
        r.problems.append("reverse")
    elif kind == "jsd":
        r.beta = round(h.model.beta, 6)
        text = (
            f"generalised Jensen–Shannon divergence, β = {h.model.beta:.4g} "
            "(β·KL(P‖M) + (1−β)·KL(Q‖M), M = β·teacher + (1−β)·student). Not forward KL: "
            f"fine if you chose JSD (see {DOC_LINK})."
        )
        r.problems.append("jsd")
    else:
        a, b = h.model.weights
        r.weights = (round(a, 6), round(b, 6))
        text = (
            f"a mix, {a:.4g}·forward + {b:.4g}·reverse KL (symmetric when equal). Not "
            f"forward KL: fine if you meant it (see {DOC_LINK})."
        )
        r.problems.append("mixed")
    r.verdict.append(f"Direction: {text}{approx}")


def _scale(r: ProbeResult, h: Any, att: _Attempt) -> None:
    seq = next((c for c in att.cases if len(c.shape) == 3), None)
    shape = (seq or att.cases[0]).shape
    factor = h.scale_factor(shape)
    r.scale_factor = round(factor, 9)
    shape_txt = "×".join(map(str, shape))
    if h.constant != 1:
        r.scale = "constant"
        text = (
            f"{h.constant:.6g} × {h.scale}: a constant factor on top (a loss weight, or T² with "
            f"a fixed T); {factor:.6g} × the mean KL per distribution on {shape_txt} input."
        )
        r.warnings.append("constant_factor")
    else:
        r.scale = h.scale
        text = {
            "batchmean": "batchmean (sum / batch size).",
            "per_token_mean": "the mean KL per distribution (per token on [B, L, V]).",
            "sum": f"the sum over all distributions ({factor:g} × the mean on {shape_txt}).",
            "mean": "elementwise mean (reduction='mean'): it also divides by the vocabulary "
            f"size, so the loss is {factor:.4g} × the KL on {shape_txt}; use "
            "reduction='batchmean' (or the per-token mean for sequences).",
        }[h.scale]
        if h.scale == "mean":
            r.problems.append("mean_reduction")
        if h.scale == "batchmean":
            if seq is not None:
                text += (
                    f" On [B, L, V] input that is L × the per-token mean ({factor:g}× on "
                    f"{shape_txt}): for sequences divide by B·L, e.g. reduction='sum' / "
                    "(B·L) or a mean over tokens."
                )
                r.warnings.append("batchmean_on_sequences")
            else:
                text += " It took only 2-D input, where this is the mean per distribution."
    if seq is None and h.scale != "batchmean":
        text += " (It rejected [B, L, V] input, so only 2-D input was tested.)"
    r.verdict.append(f"Scale: {text}")


def _temperature(r: ProbeResult, session: _Session, att: _Attempt, found: Any) -> None:
    plan = session.plan
    if plan.temperature is None:
        r.verdict.append(
            "Temperature: no temperature parameter found, so not checked (name it with "
            "--temperature-arg)."
        )
        return
    name = str(plan.temperature)
    if att.fit is None or att.combo != ("logits", "logits"):
        why = "it matched no hypothesis" if att.fit is None else "the inputs are not logits"
        r.verdict.append(f"Temperature: parameter {name!r} found but not checked: {why}.")
        return
    values = getattr(session, "t_values", [])
    if found is None:
        r.problems.append("temperature_unknown")
        r.verdict.append(
            f"Temperature: at {name} = 2 the value matches no way of applying T (both sides, "
            "one side, neither; × 1, T, T², 1/T): check how the loss uses it."
        )
        r.evidence.append("at T = 2: " + ", ".join(f"{v:.10g}" for v in values))
        return
    applied, mult, fit = found
    r.evidence.append(
        f"at {name} = 2: loss = "
        + ", ".join(f"{v:.10g}" for v in values)
        + f"; T divides {applied}, × {mult}: expected "
        + ", ".join(f"{e:.10g}" for e in fit.expected)
        + f" ({fit.kind})"
    )
    if applied == "both":
        text = "T divides both teacher and student logits"
    elif applied == "neither":
        text = f"the parameter {name!r} does not soften the distributions"
        r.problems.append("temperature_ignored")
    else:
        other = "teacher" if applied == "student" else "student"
        text = f"T divides only the {applied}'s logits, not the {other}'s: soften both sides"
        r.problems.append("temperature_one_side")
    if mult == "T²":
        text += ", and the loss is multiplied by T² (keeps gradients comparable across T)."
    else:
        text += (
            f"; the loss is multiplied by {mult}, not T²: its gradients shrink like 1/T² as T "
            "grows (Hinton et al. multiply by T²); multiply the loss by T**2."
        )
        r.problems.append("no_t_squared")
    r.verdict.append(f"Temperature: {text[0].upper()}{text[1:]}")


def _gradients(r: ProbeResult, session: _Session) -> None:
    detail = getattr(session, "grad_detail", None)
    m = getattr(session, "grad_measurement", None)
    if r.teacher_grad is None and r.student_grad_ok is None:
        why = "the loss returned a plain number" if m is not None else "no gradient run"
        if m is not None and not hasattr(m, "kind"):
            why = f"the gradient run raised {m.describe()}"
        r.verdict.append(f"Gradients: not checked ({why}).")
        return
    parts = []
    if r.teacher_grad:
        r.problems.append("teacher_grad")
        parts.append(
            "they reach the teacher logits, which should stay fixed: compute the teacher side "
            "under torch.no_grad() or .detach() (jax.lax.stop_gradient)"
        )
    else:
        parts.append("none reaches the teacher (detached, as it should be)")
    if r.student_grad_ok is True:
        parts.append("the student gradient matches the analytic one")
    elif r.student_grad_ok is False:
        r.problems.append("student_grad")
        parts.append(
            "the student gradient is WRONG: "
            + (detail or "")
            + " (is the student detached, or a .data / numpy round trip in the loss?)"
        )
    elif detail:
        parts.append(f"student gradient {detail}")
    r.verdict.append("Gradients: " + "; ".join(parts) + ".")
    if detail and r.student_grad_ok is not None:
        r.evidence.append(detail)
    if m is not None and getattr(m, "grad_error", None):
        r.evidence.append(f"backward raised {m.grad_error}")


def _robustness(r: ProbeResult, session: _Session) -> None:
    details = getattr(session, "robust_detail", {})
    bad = {k: v for k, v in r.robustness.items() if v != "ok"}
    summary = "; ".join(f"{ROBUST_WORDS[k]}: {v}" for k, v in r.robustness.items())
    r.verdict.append(f"Robustness: {summary}.")
    for key, value in bad.items():
        r.warnings.append(f"{key}_{value}")
        r.verdict.append(
            f"  {ROBUST_WORDS[key]} → {value} ({details.get(key, '')}): {ROBUST_FIX[key]}."
        )
    for key, text in details.items():
        if key not in bad:
            r.evidence.append(f"{ROBUST_WORDS[key]}: {text}")
