"""A gallery of distillation/KL losses, correct and broken, each with the exact diagnosis
``klverify.probe`` must give. Used by test_gallery.py and by scripts/why_order_matters.py
(the table in docs/why-order-matters.md).

Every ``expected`` dict lists ProbeResult fields; the test compares each one exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Entry:
    name: str
    loss: Callable[..., Any]
    expected: dict[str, Any]
    what: str  # one line for the docs table
    options: dict[str, Any] = field(default_factory=dict)


# Fields shared by every correct-looking torch loss with a temperature parameter.
GOOD_T = {"temperature_applied": "both", "t_squared": True, "teacher_grad": False}


# 1. The seed's canonical loss.
def distillation_loss(student_logits, teacher_logits, temperature=1.0, reduction="batchmean"):
    with torch.no_grad():
        teacher_probs = F.softmax(teacher_logits / temperature, dim=-1).detach()
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_probs, reduction=reduction)
    return (temperature**2) * kl


# 2. Arguments swapped: the teacher goes in as kl_div's input, the student as its target.
def swapped_arguments(student_logits, teacher_logits, temperature=1.0):
    with torch.no_grad():
        teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
    student_probs = F.softmax(student_logits / temperature, dim=-1)
    return F.kl_div(teacher_log_probs, student_probs, reduction="batchmean") * temperature**2


# 3. softmax where log_softmax belongs.
def softmax_input(student_logits, teacher_logits, temperature=1.0):
    with torch.no_grad():
        teacher_probs = F.softmax(teacher_logits / temperature, dim=-1)
    student_probs = F.softmax(student_logits / temperature, dim=-1)
    return F.kl_div(student_probs, teacher_probs, reduction="batchmean") * temperature**2


# 4. torch's default reduction='mean' divides by the vocabulary size too.
def mean_reduction(student_logits, teacher_logits, temperature=1.0):
    return distillation_loss(student_logits, teacher_logits, temperature, reduction="mean")


# 5. Hinton's T² forgotten.
def missing_t_squared(student_logits, teacher_logits, temperature=1.0):
    with torch.no_grad():
        teacher_probs = F.softmax(teacher_logits / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(student_log_probs, teacher_probs, reduction="batchmean")


# 6. The teacher is not detached: gradients flow into it.
def teacher_not_detached(student_logits, teacher_logits, temperature=1.0):
    teacher_probs = F.softmax(teacher_logits / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_probs, reduction="batchmean")
    return kl * temperature**2


# 7. log_target=True given probabilities.
def log_target_with_probs(student_logits, teacher_logits, temperature=1.0):
    with torch.no_grad():
        teacher_probs = F.softmax(teacher_logits / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_probs, reduction="batchmean", log_target=True)
    return kl * temperature**2


# 8. Reverse KL on purpose (as in MiniLLM), both sides as log-probabilities.
def reverse_kl(student_logits, teacher_logits, temperature=1.0):
    with torch.no_grad():
        teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(teacher_log_probs, student_log_probs, reduction="batchmean", log_target=True)
    return kl * temperature**2


# 9. Generalised JSD as in TRL's GKD trainer (beta = 0.5: the symmetric JSD).
def make_jsd(beta: float) -> Callable[..., Any]:
    def generalized_jsd(student_logits, teacher_logits, temperature=1.0):
        student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
        with torch.no_grad():
            teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
        b = torch.tensor(beta, dtype=student_log_probs.dtype)
        mixture = torch.logsumexp(
            torch.stack([student_log_probs + torch.log1p(-b), teacher_log_probs + torch.log(b)]),
            dim=0,
        )
        kl_teacher = F.kl_div(mixture, teacher_log_probs, reduction="none", log_target=True)
        kl_student = F.kl_div(mixture, student_log_probs, reduction="none", log_target=True)
        jsd = b * kl_teacher + (1 - b) * kl_student
        return jsd.sum() / jsd.shape[0] * temperature**2

    generalized_jsd.__qualname__ = f"generalized_jsd_beta_{beta:g}"
    return generalized_jsd


# 10. Per-token mean over [B, L, V]: sum over the vocabulary, mean over everything else.
def per_token_mean(student_logits, teacher_logits, temperature=1.0):
    with torch.no_grad():
        teacher_probs = F.softmax(teacher_logits / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_probs, reduction="none").sum(-1)
    return kl.mean() * temperature**2


# 11. Hand-written KL with torch.log(p / q): right value, NaN at a teacher zero.
def handwritten_log_ratio(student_logits, teacher_logits, temperature=1.0):
    p = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    q = F.softmax(student_logits / temperature, dim=-1)
    return (p * torch.log(p / q)).sum(-1).mean() * temperature**2


# 12. jax with optax.
def optax_distillation(student_logits, teacher_logits, temperature=1.0):
    import jax
    import optax

    teacher_probs = jax.nn.softmax(jax.lax.stop_gradient(teacher_logits) / temperature, axis=-1)
    student_log_probs = jax.nn.log_softmax(student_logits / temperature, axis=-1)
    kl = optax.losses.kl_divergence(student_log_probs, teacher_probs)
    return kl.mean() * temperature**2


# 13. The seed's literal swap: teacher probabilities as input, student log-probs as target.
def seed_literal_swap(student_logits, teacher_logits, temperature=1.0):
    teacher_probs = F.softmax(teacher_logits / temperature, dim=-1).detach()
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(teacher_probs, student_log_probs, reduction="batchmean") * temperature**2


# 14. Symmetric KL: half forward plus half reverse.
def symmetric_kl(student_logits, teacher_logits):
    teacher_logits = teacher_logits.detach()
    forward = distillation_loss(student_logits, teacher_logits)
    reverse = F.kl_div(
        F.log_softmax(teacher_logits, -1), F.softmax(student_logits, -1), reduction="batchmean"
    )
    return 0.5 * forward + 0.5 * reverse


# 15. nn.KLDivLoss used directly: the probe must find log-probs in, probabilities as target.
kldivloss_module = torch.nn.KLDivLoss(reduction="batchmean")


# 16. Parameter names that say nothing; the teacher is detached, which gives the roles away.
def unnamed(a, b):
    return F.kl_div(F.log_softmax(b, -1), F.softmax(a.detach(), -1), reduction="batchmean")


# 17. The student detached by a round trip through .data: values right, no gradient.
def student_detached(student_logits, teacher_logits):
    return distillation_loss(student_logits.data, teacher_logits)


# 18. A loss weight on top, with the temperature fixed inside.
def weighted_fixed_temperature(student_logits, teacher_logits):
    return 0.5 * distillation_loss(student_logits, teacher_logits, temperature=1.0)


GALLERY = [
    Entry(
        "canonical distillation_loss (seed)",
        distillation_loss,
        {
            "direction": "forward",
            "scale": "batchmean",
            "problems": [],
            **GOOD_T,
            "student_grad_ok": True,
            "input_space": {"teacher": "logits", "student": "logits"},
            "robustness": {
                "teacher_zero": "ok",
                "shared_mask": "nan",
                "bfloat16": "ok",
                "float16": "ok",
            },
        },
        "F.kl_div(log_softmax(s/T), softmax(t/T), 'batchmean') · T², teacher under no_grad",
    ),
    Entry(
        "swapped arguments",
        swapped_arguments,
        {"direction": "reverse", "scale": "batchmean", "problems": ["reverse"], **GOOD_T},
        "F.kl_div(log_softmax(t/T), softmax(s/T)): teacher as input, student as target",
    ),
    Entry(
        "softmax input",
        softmax_input,
        {
            "direction": "none",
            "matches": "softmax_input",
            "problems": ["softmax_input"],
            "temperature_applied": "both",
            "t_squared": True,
        },
        "F.kl_div(softmax(s/T), softmax(t/T))",
    ),
    Entry(
        "reduction='mean'",
        mean_reduction,
        {
            "direction": "forward",
            "scale": "mean",
            "scale_factor": 0.2,
            "problems": ["mean_reduction"],
            **GOOD_T,
        },
        "the canonical loss with torch's default reduction='mean'",
    ),
    Entry(
        "missing T²",
        missing_t_squared,
        {
            "direction": "forward",
            "scale": "batchmean",
            "temperature_applied": "both",
            "t_squared": False,
            "problems": ["no_t_squared"],
        },
        "the canonical loss without the T² factor",
    ),
    Entry(
        "teacher without no_grad",
        teacher_not_detached,
        {
            "direction": "forward",
            "teacher_grad": True,
            "student_grad_ok": True,
            "problems": ["teacher_grad"],
        },
        "the canonical loss with the teacher's softmax outside torch.no_grad()",
    ),
    Entry(
        "log_target=True with probabilities",
        log_target_with_probs,
        {"direction": "none", "matches": "log_target_probs", "problems": ["log_target_probs"]},
        "F.kl_div(log_softmax(s/T), softmax(t/T), log_target=True)",
    ),
    Entry(
        "reverse KL on purpose",
        reverse_kl,
        {
            "direction": "reverse",
            "scale": "batchmean",
            "problems": ["reverse"],
            **GOOD_T,
            "student_grad_ok": True,
            "robustness": {
                "teacher_zero": "ok",
                "shared_mask": "nan",
                "bfloat16": "ok",
                "float16": "ok",
            },
        },
        "F.kl_div(log_softmax(t/T), log_softmax(s/T), log_target=True): MiniLLM-style",
    ),
    Entry(
        "JSD (β = 0.5)",
        make_jsd(0.5),
        {
            "direction": "jsd",
            "beta": 0.5,
            "scale": "batchmean",
            "problems": ["jsd"],
            **GOOD_T,
            "student_grad_ok": True,
        },
        "TRL-style generalised JSD, β = 0.5",
    ),
    Entry(
        "generalised JSD (β = 0.1)",
        make_jsd(0.1),
        {"direction": "jsd", "beta": 0.1, "scale": "batchmean", "problems": ["jsd"]},
        "TRL-style generalised JSD, β = 0.1",
    ),
    Entry(
        "per-token mean on [B, L, V]",
        per_token_mean,
        {
            "direction": "forward",
            "scale": "per_token_mean",
            "scale_factor": 1.0,
            "problems": [],
            "warnings": ["shared_mask_nan"],
            **GOOD_T,
        },
        "F.kl_div(..., reduction='none').sum(-1).mean() · T²",
    ),
    Entry(
        "hand-written torch.log(p/q)",
        handwritten_log_ratio,
        {
            "direction": "forward",
            "scale": "per_token_mean",
            "problems": [],
            **GOOD_T,
            "student_grad_ok": True,
            "robustness": {
                "teacher_zero": "nan",
                "shared_mask": "nan",
                "bfloat16": "ok",
                "float16": "inf",
            },
        },
        "(p · torch.log(p / q)).sum(-1).mean() · T²",
    ),
    Entry(
        "jax / optax",
        optax_distillation,
        {
            "framework": "jax",
            "direction": "forward",
            "scale": "per_token_mean",
            "problems": [],
            **GOOD_T,
            "student_grad_ok": True,
            "robustness": {
                "teacher_zero": "ok",
                "shared_mask": "nan",
                "bfloat16": "ok",
                "float16": "ok",
            },
        },
        "optax.losses.kl_divergence(log_softmax(s/T), softmax(stop_gradient(t)/T)).mean() · T²",
    ),
    Entry(
        "seed's literal swap",
        seed_literal_swap,
        {"direction": "none", "status": "non_finite"},
        "F.kl_div(teacher_probs, student_log_probs): NaN",
    ),
    Entry(
        "symmetric KL",
        symmetric_kl,
        {
            "direction": "mixed",
            "weights": (0.5, 0.5),
            "scale": "batchmean",
            "problems": ["mixed"],
            "student_grad_ok": True,
            "teacher_grad": False,
        },
        "½ forward + ½ reverse KL",
    ),
    Entry(
        "nn.KLDivLoss(reduction='batchmean')",
        kldivloss_module,
        {
            "direction": "forward",
            "scale": "batchmean",
            "input_space": {"teacher": "prob", "student": "log_prob"},
            "teacher_grad": True,
            "problems": ["teacher_grad"],
            "argument_order": {"teacher": "target", "student": "input", "how": "names"},
        },
        "the module itself, called as loss(input, target)",
    ),
    Entry(
        "unnamed arguments",
        unnamed,
        {
            "direction": "forward",
            "argument_order": {"teacher": "a", "student": "b", "how": "gradient"},
        },
        "loss(a, b) with a the (detached) teacher",
    ),
    Entry(
        "student detached",
        student_detached,
        {"direction": "forward", "student_grad_ok": False, "problems": ["student_grad"]},
        "the canonical loss called on student_logits.data",
    ),
    Entry(
        "loss weight 0.5",
        weighted_fixed_temperature,
        {"direction": "forward", "scale": "constant", "scale_factor": 1.5, "problems": []},
        "0.5 × the canonical loss",
    ),
]
