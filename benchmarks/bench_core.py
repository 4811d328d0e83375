"""Core benchmark: KL of float32 logits, batchmean, as a multiple of a NumPy copy of the same bytes.

    python benchmarks/bench_core.py [--repeats N] [--reference-repeats N]

For each shape (8 × 32000 and 4 × 152064) it times, in one run, the floor (``np.copyto``
of p's and q's bytes into preallocated buffers) and each backend, and prints a markdown
table of median times and their multiples of the floor. "kl()" lines go through
``klverify.kl`` (validation included); "path only" lines call the backend's safe path and
reduction directly, to show what validation costs. Targets (from the issue): numpy within
6× of the floor; the reference on 8 × 32000 under 2 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SHAPES = ((8, 32000), (4, 152064))


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cases(t: np.ndarray, s: np.ndarray) -> list[tuple[str, Callable[[], Any] | None, str]]:
    """(label, zero-argument callable, note); callable None when the backend is missing."""
    import klverify
    from klverify.backends import get_backend, installed
    from klverify.divergence import reduce

    kw = {"space": "logits", "reduction": "batchmean"}
    numpy_safe = get_backend("numpy").paths()["safe"].fn

    def naive() -> Any:
        ep, eq = np.exp(t), np.exp(s)
        p = ep / ep.sum(-1, keepdims=True)
        q = eq / eq.sum(-1, keepdims=True)
        return np.sum(p * np.log(p / q)) / t.shape[0]

    out: list[tuple[str, Callable[[], Any] | None, str]] = [
        ("numpy safe, kl()", lambda: klverify.kl(t, s, **kw), "validation included"),
        (
            "numpy safe, path only",
            lambda: reduce(numpy_safe(t, s, "logits", 1.0, 1), "batchmean", t.shape, 1),
            "no validation",
        ),
        ("numpy naive", naive, "softmax, then sum(p*log(p/q)); no validation"),
    ]
    have = set(installed())
    out.append(
        (
            "scipy safe, kl()",
            (lambda: klverify.kl(t, s, backend="scipy", **kw)) if "scipy" in have else None,
            "log_softmax + log-space terms",
        )
    )
    if "torch" in have:
        import torch
        import torch.nn.functional as F

        tt, ts = torch.from_numpy(t), torch.from_numpy(s)
        out += [
            (
                "torch safe, kl()",
                lambda: klverify.kl(tt, ts, **kw),
                f"{torch.get_num_threads()} threads",
            ),
            (
                "torch F.kl_div plain",
                lambda: F.kl_div(F.log_softmax(ts, -1), F.softmax(tt, -1), reduction="batchmean"),
                "as users write it; no validation",
            ),
        ]
    else:
        out += [("torch safe, kl()", None, ""), ("torch F.kl_div plain", None, "")]
    if "jax" in have:
        import jax

        jt, js = jax.numpy.asarray(t), jax.numpy.asarray(s)
        jitted = jax.jit(lambda a, b: klverify.kl(a, b, **kw))
        out.append(
            (
                "jax safe, kl() under jit",
                lambda: jitted(jt, js).block_until_ready(),
                "after warm-up; value checks skipped under tracing",
            )
        )
    else:
        out.append(("jax safe, kl() under jit", None, ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--reference-repeats", type=int, default=3)
    args = parser.parse_args()
    import klverify

    rng = np.random.default_rng(0)
    results: dict[str, dict[tuple[int, int], str]] = {}
    notes: dict[str, str] = {}
    floors: dict[tuple[int, int], float] = {}
    for shape in SHAPES:
        t = rng.normal(scale=2.0, size=shape).astype(np.float32)
        s = (t + rng.normal(scale=0.5, size=shape)).astype(np.float32)
        bt, bs = np.empty_like(t), np.empty_like(s)

        def copy(t=t, s=s, bt=bt, bs=bs) -> None:
            np.copyto(bt, t)
            np.copyto(bs, s)

        floor = median_time(copy, args.repeats * 3)
        floors[shape] = floor
        for label, fn, note in cases(t, s):
            notes[label] = note
            if fn is None:
                results.setdefault(label, {})[shape] = "not installed"
                continue
            sec = median_time(fn, args.repeats)
            results.setdefault(label, {})[shape] = f"{sec / floor:.1f}× ({sec * 1e3:.2f} ms)"
        ref = median_time(
            lambda t=t, s=s: klverify.kl(
                t, s, space="logits", reduction="batchmean", backend="reference"
            ),
            args.reference_repeats,
            warmup=1,
        )
        results.setdefault("reference (exact)", {})[shape] = f"{ref / floor:.0f}× ({ref:.3f} s)"
        notes["reference (exact)"] = "long double + certified bound; mpmath for uncertified rows"

    cpu = platform.processor() or platform.machine()
    print(
        f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    header = "| | " + " | ".join(f"{a} × {b}" for a, b in SHAPES) + " | note |"
    print(header)
    print("|---|" + "---|" * len(SHAPES) + "---|")
    print(
        "| numpy copy of p and q (floor) | "
        + " | ".join(f"1× ({floors[sh] * 1e3:.3f} ms)" for sh in SHAPES)
        + " | `np.copyto` of both arrays |"
    )
    for label, by_shape in results.items():
        print(f"| {label} | " + " | ".join(by_shape[sh] for sh in SHAPES) + f" | {notes[label]} |")


if __name__ == "__main__":
    main()
