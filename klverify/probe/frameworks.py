"""Calling a loss with torch tensors or jax arrays and reading back value and gradients.

torch runs in float64 (the probe's numbers are then exact to ~1e-15 and every
hypothesis is told apart cleanly); jax runs in float32, its default, because turning
on x64 is a process-wide switch the probe must not flip under the user.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Measurement:
    """One call's result, converted to plain numbers."""

    kind: str  # "scalar", "non_scalar", "foreign" (another framework's array), "bad_type"
    value: float | None = None
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    type_name: str = ""
    teacher_grad: np.ndarray | None = None
    student_grad: np.ndarray | None = None
    grad_error: str | None = None
    warnings: list[str] = field(default_factory=list)


Call = Callable[[Any, Any], Any]


class Adapter:
    name = ""
    base_dtype = "float64"

    def evaluate(
        self, call: Call, teacher: np.ndarray, student: np.ndarray, dtype: str, grad: bool
    ):
        """Call ``call(teacher, student)`` on arrays of this framework; see Measurement."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = self._evaluate(call, teacher, student, dtype, grad)
        m.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        return m

    def _evaluate(self, call: Call, t: np.ndarray, s: np.ndarray, dtype: str, grad: bool):
        raise NotImplementedError


def _foreign(out: Any) -> bool:
    module = type(out).__module__.split(".")[0]
    return module in ("jax", "jaxlib", "torch")


def _not_an_array(out: Any) -> Any:
    """What a loss returned instead of the framework's array: a Python number, another
    framework's array ("foreign"), or something that is no loss at all ("bad_type")."""
    plain = _python_scalar(out)
    if plain is not None:
        return plain
    kind = "foreign" if _foreign(out) else "bad_type"
    return Measurement(kind, type_name=f"{type(out).__module__}.{type(out).__name__}")


def _python_scalar(out: Any) -> Measurement | None:
    if isinstance(out, (bool, str, bytes)) or out is None:
        return Measurement("bad_type", type_name=type(out).__name__)
    if isinstance(out, (int, float, np.floating, np.integer)):
        return Measurement("scalar", float(out), "float64", (), type(out).__name__)
    if isinstance(out, np.ndarray):
        if out.size != 1:
            return Measurement("non_scalar", shape=tuple(out.shape), type_name="numpy.ndarray")
        return Measurement("scalar", float(out.reshape(())), str(out.dtype), tuple(out.shape))
    return None


class TorchAdapter(Adapter):
    name = "torch"
    base_dtype = "float64"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def _evaluate(self, call: Call, t: np.ndarray, s: np.ndarray, dtype: str, grad: bool):
        torch = self.torch
        # fresh copies: a loss that works in place must not corrupt the constructed cases
        tt = torch.tensor(t, dtype=torch.float64).to(getattr(torch, dtype))
        ss = torch.tensor(s, dtype=torch.float64).to(getattr(torch, dtype))
        tt.requires_grad_(grad)
        ss.requires_grad_(grad)
        out = call(tt, ss)
        if not isinstance(out, torch.Tensor):
            return _not_an_array(out)
        shape = tuple(out.shape)
        if out.numel() != 1:
            return Measurement("non_scalar", shape=shape, type_name="torch.Tensor")
        m = Measurement(
            "scalar",
            float(out.detach().double().reshape(())),
            str(out.dtype).removeprefix("torch."),
            shape,
            "torch.Tensor",
        )
        if grad:
            if out.requires_grad:
                try:
                    out.reshape(()).backward()
                except Exception as exc:
                    m.grad_error = f"{type(exc).__name__}: {exc}"
            m.teacher_grad = None if tt.grad is None else tt.grad.double().numpy()
            m.student_grad = None if ss.grad is None else ss.grad.double().numpy()
        return m


class JaxAdapter(Adapter):
    name = "jax"
    base_dtype = "float32"

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp

    def _evaluate(self, call: Call, t: np.ndarray, s: np.ndarray, dtype: str, grad: bool):
        jax, jnp = self.jax, self.jnp
        tj = jnp.asarray(t.astype(np.float32)).astype(dtype)
        sj = jnp.asarray(s.astype(np.float32)).astype(dtype)
        # Compiled as a whole: eager jax compiles every primitive for every new shape and
        # dtype (over a second per shape on 2 CPU cores); one jit is several times faster.
        # Functions that cannot be traced (Python control flow on values) run eagerly.
        try:
            out = jax.jit(call)(tj, sj)
            self.traced = True
        except Exception:  # not traceable, or a genuine error: the eager call tells which
            out = call(tj, sj)
            self.traced = False
        if not isinstance(out, jax.Array):
            return _not_an_array(out)
        shape = tuple(out.shape)
        if out.size != 1:
            return Measurement("non_scalar", shape=shape, type_name="jax.Array")
        m = Measurement(
            "scalar", float(np.asarray(out, dtype=np.float64).reshape(())), str(out.dtype), shape
        )
        m.type_name = "jax.Array"
        if grad:
            try:
                g = jax.grad(lambda a, b: jnp.reshape(call(a, b), ()), argnums=(0, 1))
                gt, gs = (jax.jit(g) if self.traced else g)(tj, sj)
                m.teacher_grad = np.asarray(gt, dtype=np.float64)
                m.student_grad = np.asarray(gs, dtype=np.float64)
            except Exception as exc:
                m.grad_error = f"{type(exc).__name__}: {exc}"
        return m


def available(forced: str | None = None) -> list[str]:
    """Frameworks to try, torch first; ``forced`` narrows to one."""
    import importlib.util

    names = [forced] if forced else ["torch", "jax"]
    return [n for n in names if importlib.util.find_spec(n) is not None]


def adapter(name: str) -> Adapter:
    return TorchAdapter() if name == "torch" else JaxAdapter()
