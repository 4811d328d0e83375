"""PyTorch backend: ``F.kl_div`` with ``log_softmax`` input.

``F.kl_div`` returns NaN where teacher and student share a ``-inf`` logit (a padded or
masked vocabulary): with ``log_target=False`` it computes 0·(−inf) for the masked input,
with ``log_target=True`` exp(−inf)·(−inf − (−inf)). The safe paths replace both sides by 0
at entries where the teacher has probability 0 *before* calling ``F.kl_div``, through
``torch.where``, so those terms are exactly 0 and no NaN reaches the gradient either.
Half-precision inputs are computed in float32, as autocast does for ``kl_div``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from klverify.backends.base import HALF_DTYPES, Backend, Path, ValueSummary


class TorchBackend(Backend):
    name = "torch"
    framework = "torch"
    extra = "torch"
    has_autograd = True

    def __init__(self) -> None:
        import torch
        import torch.nn.functional as F

        self.torch = torch
        self.F = F

    def is_array(self, x: Any) -> bool:
        return isinstance(x, self.torch.Tensor)

    def version(self) -> str:
        return self.torch.__version__

    def devices(self) -> list[str]:
        devices = ["cpu"]
        if self.torch.cuda.is_available():
            devices += [f"cuda:{i}" for i in range(self.torch.cuda.device_count())]
        return devices

    def dtypes(self) -> tuple[str, ...]:
        return ("float64", "float32", "float16", "bfloat16")

    def paths(self) -> dict[str, Path]:
        return {
            "safe": Path(
                "safe",
                "F.kl_div(log_softmax(q), log_softmax(p), log_target=True), shared masks zeroed",
                self._safe,
                False,
            ),
            "safe_prob_target": Path(
                "safe_prob_target",
                "F.kl_div(log_softmax(q), softmax(p)), masked input entries zeroed",
                self._safe_prob_target,
                False,
            ),
            "kl_div": Path(
                "kl_div",
                "F.kl_div(F.log_softmax(q), F.softmax(p)) as users write it",
                self._kl_div,
                True,
            ),
            "kl_div_log_target": Path(
                "kl_div_log_target",
                "F.kl_div(F.log_softmax(q), F.log_softmax(p), log_target=True) as users write it",
                self._kl_div_log_target,
                True,
            ),
        }

    def array(self, values: np.ndarray, dtype: str, device: str = "cpu") -> Any:
        x = self.torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
        return x.to(device=device, dtype=getattr(self.torch, dtype))

    def to_float64(self, x: Any) -> np.ndarray:
        return x.detach().to("cpu", self.torch.float64).numpy()

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype).removeprefix("torch.")

    def device_of(self, x: Any) -> str:
        return str(x.device)

    def summarize(self, x: Any, space: str, axis: int) -> ValueSummary:
        torch = self.torch
        with torch.no_grad():
            x = x.detach()
            if space == "logits":
                # One pass, one host sync: a per-row max propagates NaN, shows +inf, and is
                # -inf only for a row with no finite logit.
                row_max = torch.amax(x, dim=axis).float()
                flags = torch.stack(
                    [
                        torch.isnan(row_max).any(),
                        torch.isposinf(row_max).any(),
                        (row_max == -float("inf")).sum(),
                    ]
                ).tolist()
                has_nan = bool(flags[0])
                has_posinf = bool(flags[1]) or (has_nan and bool(torch.isposinf(x).any()))
                return ValueSummary(has_nan, has_posinf, float("nan"), None, int(flags[2]))
            finite = torch.isfinite(x)
            all_finite = bool(finite.all())
            has_nan = not all_finite and bool(torch.isnan(x).any())
            has_posinf = not all_finite and bool(torch.isposinf(x).any())
            worst, empty = None, 0
            if space == "prob":
                totals = x.sum(dim=axis, dtype=torch.float64)
                worst = float(totals.flatten()[torch.argmax((totals - 1).abs())])
            else:
                if not all_finite:
                    empty = int((~finite.any(dim=axis)).sum())
                if space == "log_prob":
                    totals = x.to(torch.float64).exp().sum(dim=axis)
                    worst = float(totals.flatten()[torch.argmax((totals - 1).abs())])
            minimum = float("nan") if has_nan else float(x.min())
        return ValueSummary(has_nan, has_posinf, minimum, worst, empty)

    # ------------------------------------------------------------------ paths
    def _working(self, x: Any) -> Any:
        return x.float() if self.dtype_name(x) in HALF_DTYPES else x

    def _log_probs(self, x: Any, space: str, temperature: float, axis: int) -> Any:
        if space == "logits":
            return self.F.log_softmax(x / temperature if temperature != 1.0 else x, dim=axis)
        return self.torch.log(x) if space == "prob" else x

    def _masks(self, lp: Any, lq: Any) -> tuple[Any, Any]:
        """(teacher has no mass, student has none where the teacher has some: KL = +inf).

        Read from the log-probabilities: exp(lp) underflows to 0 for a teacher logit far
        below its maximum, but that outcome still has mass, and a student -inf there makes
        the KL +inf, not NaN (F.kl_div gives 0·inf = NaN) and not 0.
        """
        inf = float("inf")
        masked = lp == -inf
        return masked, (lq == -inf) & ~masked

    def _safe(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> Any:
        torch = self.torch
        lp = self._log_probs(self._working(p), space, temperature, axis)
        lq = self._log_probs(self._working(q), space, temperature, axis)
        masked, infinite = self._masks(lp, lq)
        zero = torch.zeros((), dtype=lp.dtype, device=lp.device)
        lp = torch.where(masked, zero, lp)
        lq = torch.where(masked | infinite, zero, lq)
        terms = self.F.kl_div(lq, lp, reduction="none", log_target=True)
        return torch.where(infinite, torch.full_like(terms, float("inf")), terms)

    def _safe_prob_target(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> Any:
        torch = self.torch
        p, q = self._working(p), self._working(q)
        lp = self._log_probs(p, space, temperature, axis)
        lq = self._log_probs(q, space, temperature, axis)
        target = p if space == "prob" else lp.exp()
        masked, infinite = self._masks(lp, lq)
        zero = torch.zeros((), dtype=lq.dtype, device=lq.device)
        lq = torch.where(masked | infinite | (target == 0), zero, lq)
        terms = self.F.kl_div(lq, target, reduction="none", log_target=False)
        return torch.where(infinite, torch.full_like(terms, float("inf")), terms)

    def _kl_div(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> Any:
        if space == "logits":
            target = self.F.softmax(p / temperature, dim=axis)
        else:
            target = p.exp() if space == "log_prob" else p
        return self.F.kl_div(self._log_probs(q, space, temperature, axis), target, reduction="none")

    def _kl_div_log_target(self, p: Any, q: Any, space: str, temperature: float, axis: int) -> Any:
        return self.F.kl_div(
            self._log_probs(q, space, temperature, axis),
            self._log_probs(p, space, temperature, axis),
            reduction="none",
            log_target=True,
        )

    def grad(
        self, p: Any, q: Any, *, temperature: float, axis: int, path: str = "safe"
    ) -> np.ndarray | None:
        student = q.detach().clone().requires_grad_(True)
        terms = self.paths()[path].fn(p.detach(), student, "logits", temperature, axis)
        terms.sum().backward()
        return self.to_float64(student.grad)
