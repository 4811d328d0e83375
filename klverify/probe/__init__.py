"""``klverify.probe``: diagnose a distillation or KL loss by running it.

The linter reads the call; the probe reads the behaviour. ``probe(loss)`` feeds the loss
constructed teacher/student logits and reports its direction, scale, temperature
handling, gradients and robustness, with the numbers behind each finding.

This package's ``__init__`` and ``command`` import only the standard library, so
``klverify --help`` stays light; numpy and the frameworks load when a probe runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from klverify.probe.result import ProbeResult

__all__ = ["ProbeResult", "probe"]


def probe(fn: Callable[..., Any], **options: Any) -> ProbeResult:
    """Diagnose the loss ``fn`` by running it (it runs your code); see
    :func:`klverify.probe.runner.probe` for the options."""
    from klverify.probe.runner import probe as run

    return run(fn, **options)
