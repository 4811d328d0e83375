"""How to call the user's loss: which parameter is the teacher, the student, the
temperature; and running one call under a time limit.

The time limit uses a daemon worker thread, not a subprocess: the user's function is
often a closure, a lambda or a module instance that cannot be pickled, and a subprocess
would have to import torch again for every probe. The price: a call that hangs is
abandoned, not killed. It keeps running in its daemon thread (using CPU if it spins)
until the process exits, which ``klverify probe`` does right after printing the verdict.
A hang inside C code that never releases the GIL cannot be interrupted this way.

Standard library only.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TEACHER_TOKENS = {
    "teacher",
    "tea",
    "target",
    "targets",
    "tgt",
    "ref",
    "reference",
    "true",
    "p",
    "t",
}
STUDENT_TOKENS = {"student", "stu", "input", "inputs", "pred", "preds", "prediction"}
STUDENT_TOKENS |= {"predictions", "output", "outputs", "q", "s", "model"}
TEMPERATURE_NAMES = {"temperature", "temp", "T", "tau", "t_kd", "kd_temperature"}


class SignatureProblem(Exception):
    """The function's parameters cannot be filled by the probe; the message says why."""


@dataclass
class CallPlan:
    """Where the teacher, student and temperature go: a parameter name, or a position."""

    teacher: str | int
    student: str | int
    temperature: str | int | None
    how: str  # "given", "names", "gradient" or "assumed"
    positional_only: set[str] = field(default_factory=set)
    order: list[str] = field(default_factory=list)  # parameter names in signature order

    def invoke(self, fn: Callable[..., Any], teacher: Any, student: Any, temperature: float) -> Any:
        values: dict[str | int, Any] = {self.teacher: teacher, self.student: student}
        if self.temperature is not None:
            values[self.temperature] = temperature
        positions = sorted(k for k in values if isinstance(k, int))
        args = [values[i] for i in positions]
        args += [values[n] for n in self.order if n in values and n in self.positional_only]
        kwargs = {
            k: v for k, v in values.items() if isinstance(k, str) and k not in self.positional_only
        }
        return fn(*args, **kwargs)

    def swapped(self) -> CallPlan:
        return CallPlan(
            self.student,
            self.teacher,
            self.temperature,
            "gradient",
            self.positional_only,
            self.order,
        )

    def describe(self) -> dict[str, str]:
        def name(x: str | int) -> str:
            return f"argument {x}" if isinstance(x, int) else x

        out = {"teacher": name(self.teacher), "student": name(self.student), "how": self.how}
        if self.temperature is not None:
            out["temperature"] = name(self.temperature)
        return out


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    target = fn
    forward = getattr(fn, "forward", None)
    if forward is not None and callable(forward) and not inspect.isfunction(fn):
        target = forward  # an nn.Module: its __call__ takes *args, **kwargs
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _role(name: str) -> str | None:
    tokens = set(name.lower().split("_"))
    if name in TEMPERATURE_NAMES or "temperature" in tokens:
        return "temperature"
    teacher, student = bool(tokens & TEACHER_TOKENS), bool(tokens & STUDENT_TOKENS)
    if teacher != student:
        return "teacher" if teacher else "student"
    return None


def _parse(arg: str | int | None) -> str | int | None:
    if isinstance(arg, str) and arg.isdigit():
        return int(arg)
    return arg


def plan_call(
    fn: Callable[..., Any],
    *,
    teacher_arg: str | int | None = None,
    student_arg: str | int | None = None,
    temperature_arg: str | int | None = None,
) -> CallPlan:
    """Decide how to pass teacher, student and temperature to ``fn``.

    Arguments named by the user win; then parameter names (``teacher_logits``,
    ``target``, ``input``, ``logits_s``...); then position, student first as in
    ``F.kl_div(input, target)`` (``how="assumed"``; the probe later checks which
    argument is detached from the gradient).
    """
    teacher_arg, student_arg = _parse(teacher_arg), _parse(student_arg)
    temperature_arg = _parse(temperature_arg)
    if not callable(fn):
        raise SignatureProblem(f"{fn!r} is not callable: pass the loss function itself")
    sig = _signature(fn)
    if sig is None:
        return CallPlan(
            teacher_arg if teacher_arg is not None else 1,
            student_arg if student_arg is not None else 0,
            temperature_arg,
            "given" if teacher_arg is not None else "assumed",
        )
    params = [
        p
        for p in sig.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    names = [p.name for p in params]
    has_var = len(params) != len(sig.parameters)
    for label, given in (
        ("--teacher-arg", teacher_arg),
        ("--student-arg", student_arg),
        ("--temperature-arg", temperature_arg),
    ):
        if isinstance(given, str) and given not in names and not has_var:
            raise SignatureProblem(
                f"{label} {given!r} is not a parameter of the function (its parameters: "
                f"{', '.join(names) or 'none'}): pass one of those names"
            )
    roles = {p.name: _role(p.name) for p in params}
    if temperature_arg is None:
        temperature_arg = next((n for n, r in roles.items() if r == "temperature"), None)
    if teacher_arg is not None or student_arg is not None:
        how = "given"
    else:
        teacher_arg = next((n for n, r in roles.items() if r == "teacher"), None)
        student_arg = next((n for n, r in roles.items() if r == "student"), None)
        how = "names" if teacher_arg is not None or student_arg is not None else "assumed"
    free = [
        p.name
        for p in params
        if p.name not in (teacher_arg, student_arg, temperature_arg)
        and p.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    if student_arg is None and teacher_arg is None:
        if len(free) < 2:
            raise SignatureProblem(
                f"the function takes {len(free)} positional argument(s) ({', '.join(free)}): "
                "a KL loss needs a teacher and a student; wrap it so it takes both"
            )
        student_arg, teacher_arg = free[0], free[1]
    elif student_arg is None or teacher_arg is None:
        if not free:
            raise SignatureProblem(
                "found only one of teacher and student among the parameters "
                f"({', '.join(names)}): name them with --teacher-arg and --student-arg"
            )
        if student_arg is None:
            student_arg = free[0]
        else:
            teacher_arg = free[0]
    assert teacher_arg is not None and student_arg is not None
    used = {teacher_arg, student_arg, temperature_arg}
    missing = [
        p.name for p in params if p.default is inspect.Parameter.empty and p.name not in used
    ]
    if missing:
        raise SignatureProblem(
            f"the function also requires {', '.join(map(repr, missing))}, which the probe "
            "cannot supply: bind them first, e.g. functools.partial(loss, "
            f"{missing[0]}=...), or name the roles with --teacher-arg/--student-arg"
        )
    positional_only = {p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY}
    return CallPlan(teacher_arg, student_arg, temperature_arg, how, positional_only, names)


# ------------------------------------------------------------------ time limit
@dataclass
class CallOutcome:
    """What one limited call gave: a value, an exception, or nothing in time."""

    value: Any = None
    error: BaseException | None = None
    trace: str = ""
    timed_out: bool = False


def run_limited(work: Callable[[], Any], timeout: float) -> CallOutcome:
    """Run ``work()`` in a daemon thread; give up after ``timeout`` seconds (see module doc)."""
    outcome = CallOutcome()
    done = threading.Event()

    def target() -> None:
        try:
            outcome.value = work()
        except BaseException as exc:  # the user's code: report, never propagate
            outcome.error = exc
            outcome.trace = traceback.format_exc(limit=-3)
        finally:
            done.set()

    thread = threading.Thread(target=target, name="klverify-probe-call", daemon=True)
    thread.start()
    if not done.wait(timeout):
        return CallOutcome(timed_out=True)
    return outcome
