"""The ``kl_reference`` fixture's value: the exact KL and its gradient behind one object."""

from __future__ import annotations

from typing import Any


class KLReference:
    """Exact KL(P‖Q), correctly rounded to float64, for inputs of any framework.

    ``kl_reference(p, q, space="logits", temperature=2.0, reduction="batchmean")`` returns a
    float (a float64 array for ``reduction="none"``); ``kl_reference.grad(p_logits,
    q_logits, ...)`` returns the exact gradient with respect to the student logits.
    """

    def __call__(
        self,
        p: Any,
        q: Any,
        *,
        space: str = "prob",
        temperature: float = 1.0,
        reduction: str = "distribution_mean",
        axis: int = -1,
    ) -> Any:
        from klverify.divergence import kl

        value = kl(
            p,
            q,
            space=space,
            temperature=temperature,
            reduction=reduction,
            axis=axis,
            backend="reference",
        )
        return value if reduction == "none" else float(value)

    def grad(
        self,
        p_logits: Any,
        q_logits: Any,
        *,
        temperature: float = 1.0,
        reduction: str = "distribution_mean",
        axis: int = -1,
    ) -> Any:
        from klverify.backends import get_backend, owner_of
        from klverify.reference import kl_grad

        def host(x: Any) -> Any:
            owner = owner_of(x)
            return get_backend(owner).to_float64(x) if owner else x

        return kl_grad(
            host(p_logits), host(q_logits), temperature=temperature, reduction=reduction, axis=axis
        )

    def __repr__(self) -> str:
        return "<klverify exact reference>"
