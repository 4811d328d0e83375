"""The rule table: one row per code, with the documentation ``klverify rule`` prints.

Codes are stable: a code is never reused for a different check. Every rule's ``doc`` has
the four parts of Ruff's rule pages (what it does, why is this bad, example, use
instead), and ``docs/rules/*.md`` is generated from this text by
``python -m klverify.lint.docs``, so the CLI and the documentation cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: Base of every rule's documentation URL; a rule's page is ``f"{DOCS_URL}{code}.md"``.
DOCS_URL = "https://github.com/klverify/klverify/blob/main/docs/rules/"

#: Code of the one-line diagnostic for a file that cannot be read or parsed (as Ruff's E902).
IO_ERROR_CODE = "E902"


@dataclass(frozen=True)
class Rule:
    """A lint rule: stable ``code``, kebab-case ``name``, one-line ``summary``, markdown ``doc``."""

    code: str
    name: str
    summary: str
    doc: str
    default: bool = True
    fixable: bool = False

    @property
    def url(self) -> str:
        return f"{DOCS_URL}{self.code}.md"


_RULES = [
    Rule(
        "KLV001",
        "input-not-log-probs",
        "The first argument of `kl_div` is a probability, not a log-probability",
        """\
## What it does
Checks for `F.kl_div(input, target)` (and `nn.KLDivLoss()(input, target)`) where
`input` is traced to probability space: the output of `softmax`, `sigmoid`, `exp(...)`
or a value divided by its own sum.

## Why is this bad?
`kl_div` reads `input` as **log**-probabilities and computes
`sum(target * (log(target) - input))`. Given probabilities it silently returns a
number that is not a KL divergence (it can be negative, and its gradient is wrong);
PyTorch raises nothing.

## Example
```python
loss = F.kl_div(F.softmax(student_logits, dim=-1), teacher_probs, reduction="batchmean")
```

## Use instead
```python
loss = F.kl_div(F.log_softmax(student_logits, dim=-1), teacher_probs, reduction="batchmean")
```
""",
    ),
    Rule(
        "KLV002",
        "input-raw-scores",
        "The first argument of `kl_div` is raw scores (logits), not log-probabilities",
        """\
## What it does
Checks for `kl_div` calls whose `input` provably never went through a log-softmax and
is not a probability either: the output of an `nn.Linear`, `F.linear`, `matmul` or
`@` in the same scope, or a tensor that the same function also passes to
`cross_entropy` (which takes logits).

## Why is this bad?
`kl_div` expects normalised log-probabilities. Logits are shifted by an arbitrary
per-row constant, so the result is not a divergence and the gradient pushes the
logits in the wrong direction.

## Example
```python
logits = self.head(hidden)             # nn.Linear
ce = F.cross_entropy(logits, labels)
kd = F.kl_div(logits, teacher_probs, reduction="batchmean")
```

## Use instead
```python
kd = F.kl_div(F.log_softmax(logits, dim=-1), teacher_probs, reduction="batchmean")
```
""",
    ),
    Rule(
        "KLV003",
        "log-target-without-flag",
        "The target of `kl_div` is a log-probability but `log_target` is not set",
        """\
## What it does
Checks for `kl_div` calls whose `target` is traced to log space (`log_softmax`,
`logsigmoid`, `torch.log`, `.log()`) while `log_target` is absent or `False`.

## Why is this bad?
Without `log_target=True` the target is read as probabilities: PyTorch computes
`xlogy(target, target)`, which for negative "probabilities" is NaN or zero, so the
loss is wrong, usually without an error.

## Example
```python
loss = F.kl_div(log_q, F.log_softmax(teacher_logits, dim=-1), reduction="batchmean")
```

## Use instead
```python
loss = F.kl_div(
    log_q, F.log_softmax(teacher_logits, dim=-1), reduction="batchmean", log_target=True
)
```

## Fix safety
`--fix` adds `log_target=True`; this is safe because the target is known to be in log
space.
""",
        fixable=True,
    ),
    Rule(
        "KLV004",
        "prob-target-with-log-flag",
        "`log_target=True` but the target of `kl_div` is a probability",
        """\
## What it does
Checks for `kl_div(..., log_target=True)` calls whose `target` is traced to
probability space (`softmax`, `sigmoid`, `exp(...)`, a value divided by its sum).

## Why is this bad?
With `log_target=True` PyTorch computes `exp(target) * (target - input)`: probabilities
read as log-probabilities give a number that is not the KL divergence, silently.

## Example
```python
loss = F.kl_div(log_q, F.softmax(teacher_logits, dim=-1), log_target=True, reduction="batchmean")
```

## Use instead
```python
loss = F.kl_div(
    log_q, F.log_softmax(teacher_logits, dim=-1), log_target=True, reduction="batchmean"
)
# or keep the probabilities and drop the flag:
loss = F.kl_div(log_q, F.softmax(teacher_logits, dim=-1), reduction="batchmean")
```
""",
    ),
    Rule(
        "KLV005",
        "mean-reduction",
        "`kl_div` with `reduction='mean'` divides by the number of elements: it is not the KL",
        """\
## What it does
Checks for `F.kl_div` / `nn.KLDivLoss` with `reduction` omitted or `'mean'`, the legacy
`size_average`/`reduce` combinations that mean the same, and `reduction='none'`
followed directly by a `.mean()` over all elements.

## Why is this bad?
`'mean'` divides the summed divergence by `input.numel()`, i.e. by batch size times
the number of classes. That is the KL divided by the vocabulary size: it shrinks the
loss (and its gradient) by a factor that changes with the model, and PyTorch itself
warns that it "does not align with the mathematical definition of KL divergence".
`'batchmean'` divides by the batch size and gives the mean KL per example.

## Example
```python
loss = F.kl_div(log_q, p)
loss = nn.KLDivLoss()(log_q, p)
loss = F.kl_div(log_q, p, reduction="none").mean()
```

## Use instead
```python
loss = F.kl_div(log_q, p, reduction="batchmean")
loss = nn.KLDivLoss(reduction="batchmean")(log_q, p)
loss = F.kl_div(log_q, p, reduction="none").sum(-1).mean()
```

## Fix safety
`--fix` writes `reduction='batchmean'` where `reduction` was omitted or the literal
`'mean'` (not for the legacy arguments, not for `torch.kl_div`, whose reduction is an
integer enum). The value of the loss changes by a constant factor, which is the point:
learning rates tuned for the old scale may need a look.
""",
        fixable=True,
    ),
    Rule(
        "KLV006",
        "swapped-arguments",
        "`kl_div` arguments are in math order: the input is a probability and the target a log-probability",
        """\
## What it does
Checks for `kl_div(input, target)` calls where `input` is in probability space and
`target` is in log space.

## Why is this bad?
`F.kl_div(input, target)` computes KL(target ‖ input), with `input` in log space. A
caller who writes the arguments in the order of the formula KL(P ‖ Q) as
`kl_div(p, log_q)` gets neither KL(P‖Q) nor KL(Q‖P). See
[why the order matters](../why-order-matters.md).

## Example
```python
kl = F.kl_div(F.softmax(p_logits, -1), F.log_softmax(q_logits, -1), reduction="batchmean")
```

## Use instead
```python
# KL(P ‖ Q): the model Q goes first, in log space; the reference P second.
kl = F.kl_div(F.log_softmax(q_logits, -1), F.softmax(p_logits, -1), reduction="batchmean")
```
""",
    ),
    Rule(
        "KLV007",
        "log-of-softmax",
        "`log(softmax(x))` is unstable; use `log_softmax(x)`",
        """\
## What it does
Checks for `torch.log(F.softmax(x, dim))`, `F.softmax(x, dim).log()` and the same
through a variable, and the `sigmoid` / `logsigmoid` equivalent.

## Why is this bad?
Softmax underflows to exactly zero for entries far below the maximum, and the log of
that is `-inf`; `log_softmax` computes `x - logsumexp(x)` and stays finite. This is a
numerical warning, not a correctness error.

## Example
```python
log_p = torch.log(F.softmax(logits, dim=-1))
```

## Use instead
```python
log_p = F.log_softmax(logits, dim=-1)
```
""",
    ),
    Rule(
        "KLV008",
        "deprecated-arguments",
        "`size_average` and `reduce` are deprecated; use `reduction`",
        """\
## What it does
Checks for `kl_div` / `KLDivLoss` calls that pass `size_average` or `reduce`.

## Why is this bad?
Both arguments are deprecated, and when either is given PyTorch ignores `reduction`
altogether. `size_average=True, reduce=True` (the defaults) mean `'mean'`, which is not
the KL divergence.

## Example
```python
loss = F.kl_div(log_q, p, size_average=False)
```

## Use instead
```python
loss = F.kl_div(log_q, p, reduction="sum")
```
""",
    ),
    Rule(
        "KLV101",
        "teacher-student-by-name",
        "A teacher-looking value is the input and a student-looking value the target",
        """\
## What it does
Checks for `kl_div(input, target)` where the input's name says *teacher* and the
target's name says *student*. Off by default: names are a hint, not evidence; enable
with `--extend-select KLV101`.

## Why is this bad?
Distillation minimises KL(teacher ‖ student) = `kl_div(log_student, teacher)`. With
the roles swapped the student learns the mode-seeking reverse KL, and the gradient
flows into the teacher.

## Example
```python
loss = F.kl_div(teacher_log_probs, student_probs, reduction="batchmean")
```

## Use instead
```python
loss = F.kl_div(student_log_probs, teacher_probs, reduction="batchmean")
```
""",
        default=False,
    ),
    Rule(
        "KLV102",
        "teacher-target-not-detached",
        "The teacher target of `kl_div` is not computed under `no_grad` or detached",
        """\
## What it does
Checks for `kl_div` calls whose target is computed from a value named like a teacher
outside `torch.no_grad()` / `torch.inference_mode()` and without `.detach()`. Off by
default (a frozen teacher with `requires_grad_(False)` is fine); enable with
`--extend-select KLV102`.

## Why is this bad?
Gradients then flow into the teacher: memory and time are spent on a graph nobody
uses, and if the teacher's parameters are in the optimiser it drifts towards the
student.

## Example
```python
teacher_probs = F.softmax(teacher(x) / T, dim=-1)
loss = F.kl_div(F.log_softmax(student(x) / T, dim=-1), teacher_probs, reduction="batchmean")
```

## Use instead
```python
with torch.no_grad():
    teacher_probs = F.softmax(teacher(x) / T, dim=-1)
loss = F.kl_div(F.log_softmax(student(x) / T, dim=-1), teacher_probs, reduction="batchmean")
```
""",
        default=False,
    ),
    Rule(
        "KLV103",
        "temperature-without-t-squared",
        "Logits divided by a temperature but the loss is not multiplied by T²",
        """\
## What it does
Checks for functions that divide logits by a temperature `T` before the softmax of a
`kl_div` argument but never multiply by `T ** 2` (or `T * T`). Off by default; enable
with `--extend-select KLV103`.

## Why is this bad?
The gradient of the softened KL scales as 1/T² (Hinton et al., 2015). Without the T²
factor, changing the temperature silently changes the weight of the distillation term
relative to the hard-label loss.

## Example
```python
loss = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
```

## Use instead
```python
loss = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T**2
```
""",
        default=False,
    ),
]

#: Every rule by code, in code order.
RULES: Mapping[str, Rule] = MappingProxyType({rule.code: rule for rule in _RULES})

#: Codes enabled when no ``select`` is given.
DEFAULT_CODES: frozenset[str] = frozenset(code for code, rule in RULES.items() if rule.default)


def rule_by_code_or_name(key: str) -> Rule | None:
    """Find a rule by its code (``KLV001``) or its name (``input-not-log-probs``)."""
    rule = RULES.get(key.upper())
    if rule is not None:
        return rule
    return next((r for r in RULES.values() if r.name == key.lower()), None)
