"""``klverify.probe`` on functions that misbehave, on calling conventions, and its result."""

from __future__ import annotations

import json
import threading

import pytest
import torch
import torch.nn.functional as F

from klverify.probe import ProbeResult, probe
from klverify.probe.calling import SignatureProblem, plan_call

from .gallery import distillation_loss, swapped_arguments


def test_raises_gives_an_error_verdict() -> None:
    def loss(student_logits, teacher_logits):
        raise RuntimeError("boom")

    r = probe(loss)
    assert (r.status, r.direction) == ("raised", "error")
    assert "RuntimeError: boom" in r.verdict[0]
    assert any("traceback" in line for line in r.evidence)
    assert not r.ok


def test_hang_gives_a_timeout_verdict() -> None:
    release = threading.Event()

    def loss(student_logits, teacher_logits):
        release.wait()  # hangs until the test lets it go
        return (student_logits - teacher_logits).sum()

    try:
        r = probe(loss, timeout=0.2)
    finally:
        release.set()
    assert (r.status, r.direction) == ("timeout", "error")
    assert "did not return within 0.2 s" in r.verdict[0]


def test_non_scalar_gives_a_clear_verdict() -> None:
    def loss(student_logits, teacher_logits):
        return F.kl_div(
            F.log_softmax(student_logits, -1), F.softmax(teacher_logits, -1), reduction="none"
        )

    r = probe(loss)
    assert (r.status, r.direction) == ("non_scalar", "error")
    assert "shape [4, 7], not a scalar" in r.verdict[0]


def test_nan_gives_direction_none() -> None:
    def loss(student_logits, teacher_logits):
        return torch.tensor(float("nan"))

    r = probe(loss)
    assert (r.status, r.direction) == ("non_finite", "none")
    assert "returned nan on ordinary finite inputs" in r.verdict[0]


def test_returns_a_string() -> None:
    r = probe(lambda student, teacher: "0.5")
    assert (r.status, r.direction) == ("non_scalar", "error")
    assert "not a number" in r.verdict[0]


def test_extra_required_argument_is_named() -> None:
    def loss(student_logits, teacher_logits, labels):
        return student_logits.sum()

    r = probe(loss)
    assert r.status == "bad_signature"
    assert "'labels'" in r.verdict[0] and "functools.partial" in r.verdict[0]


def test_unknown_argument_name_is_reported() -> None:
    with pytest.raises(SignatureProblem, match="not a parameter"):
        plan_call(distillation_loss, teacher_arg="teacher")


def test_not_callable() -> None:
    assert probe(42).status == "bad_signature"  # type: ignore[arg-type]


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="teacher_space"):
        probe(distillation_loss, teacher_space="probs")
    with pytest.raises(ValueError, match="framework"):
        probe(distillation_loss, framework="numpy")


def test_user_named_roles_override_the_order() -> None:
    def loss(x, y):  # x is the teacher, not detached: the names do not say
        return F.kl_div(F.log_softmax(y, -1), F.softmax(x, -1), reduction="batchmean")

    r = probe(loss, teacher_arg="x", student_arg="y")
    assert r.direction == "forward"
    assert r.argument_order == {"teacher": "x", "student": "y", "how": "given"}
    # Without the names the probe assumes student first, and says so.
    assumed = probe(loss)
    assert assumed.direction == "reverse"
    assert assumed.argument_order["how"] == "assumed"
    assert any("--teacher-arg" in line for line in assumed.verdict)


def test_positional_only_and_stated_spaces() -> None:
    def loss(student_log_probs, teacher_probs, /):
        return F.kl_div(student_log_probs, teacher_probs, reduction="sum")

    r = probe(loss, teacher_space="prob", student_space="log_prob")
    assert (r.direction, r.scale) == ("forward", "sum")
    assert r.input_space == {"teacher": "prob", "student": "log_prob"}


def test_forcing_jax_on_a_torch_loss_says_it_raised() -> None:
    pytest.importorskip("jax")
    r = probe(distillation_loss, framework="jax")
    assert r.status == "raised" and r.direction == "error"


def test_result_is_json_and_printable() -> None:
    r = probe(swapped_arguments)
    data = json.loads(json.dumps(r.to_dict()))
    assert data["direction"] == "reverse" and data["ok"] is False
    text = str(r)
    assert text.startswith("klverify probe ")
    assert "docs/why-order-matters.md" in text
    assert "evidence:" in text


def test_expect_explains_a_mismatch() -> None:
    r = probe(swapped_arguments)
    with pytest.raises(AssertionError, match="direction: expected 'forward', got 'reverse'"):
        r.expect(direction="forward")
    assert r.expect(direction="reverse", t_squared=True) is r


def test_plugin_fixture_asserts_a_verdict(kl_probe) -> None:
    """The pytest plugin's ``kl_probe`` fixture is this probe."""
    assert kl_probe(distillation_loss).direction == "forward"


def test_probe_result_defaults_are_an_error() -> None:
    assert ProbeResult("x").direction == "error"


def test_klverify_probe_is_callable_even_after_the_package_is_imported() -> None:
    import klverify
    import klverify.probe.result  # binds klverify.probe to the package

    assert klverify.probe(distillation_loss).direction == "forward"
