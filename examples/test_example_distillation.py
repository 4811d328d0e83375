"""klverify in a project's own test suite: the three most common uses.

1. Check a distillation loss, its value and its gradient, against the exact reference.
2. Lint the project for kl_div misuse in CI:  ``pytest --klverify-lint``
   (or ``klverify_lint = true`` under ``[tool.pytest.ini_options]``).
3. Property-test the loss with Hypothesis strategies that generate valid inputs.

The fixtures come from the klverify pytest plugin, active once klverify is installed.
"""

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings

from klverify.strategies import near_identical_pairs

T = 2.0


def distillation_loss(teacher_logits, student_logits, temperature=T):
    """Hinton's loss: T² · KL(softmax(teacher/T) ‖ softmax(student/T)), mean over the batch."""
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
    return kl * temperature**2


# 1. value and gradient: fails with a table of expected/obtained/errors/ulps if wrong
def test_distillation_loss_value(assert_kl_close):
    torch.manual_seed(0)
    teacher, student = torch.randn(8, 32000), torch.randn(8, 32000)
    loss = distillation_loss(teacher, student)
    assert_kl_close(
        loss / T**2, teacher, student, space="logits", temperature=T, reduction="batchmean"
    )


def test_distillation_loss_gradient(assert_kl_grad_close):
    torch.manual_seed(0)
    teacher, student = torch.randn(4, 1000), torch.randn(4, 1000)
    assert_kl_grad_close(
        distillation_loss, teacher, student, temperature=T, reduction="batchmean", t_squared=True
    )


# 3. property test: near-identical teacher and student, where cancellation hurts most
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pair=near_identical_pairs(space="logits", dtype="float32", shape=(4,)))
def test_loss_is_accurate_near_zero(assert_kl_close, pair):
    teacher, student = (torch.from_numpy(x) for x in pair)
    loss = distillation_loss(teacher, student)
    assert_kl_close(
        loss / T**2, teacher, student, space="logits", temperature=T, reduction="batchmean"
    )
