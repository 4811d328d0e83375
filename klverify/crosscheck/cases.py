"""Case families: seeded generators of (P, Q) inputs where KL implementations disagree.

Add your own with the decorator; a family is a function of a NumPy Generator that yields
``Case`` objects, so a run is reproducible from its seed::

    from klverify.crosscheck import Case, case_family

    @case_family("my-logits", description="logits from my model's head")
    def my_logits(rng):
        t = rng.normal(size=(4, 50257)) * 3
        yield Case("my-logits/std3", "logits", t, t + rng.normal(size=t.shape))

and run ``klverify report --cases-from mypackage.kl_cases``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

CaseGenerator = Callable[[np.random.Generator], Iterator["Case"]]


@dataclass(frozen=True)
class Case:
    """Inputs in float64 (rounded to each dtype when run) and what the KL must be."""

    name: str
    space: str  # "prob", "log_prob" or "logits"
    p: np.ndarray
    q: np.ndarray
    temperature: float = 1.0
    expect: str = "finite"  # "finite" or "inf"
    description: str = ""

    @property
    def family(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def vocab(self) -> int:
        return int(self.p.shape[-1])


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    generate: CaseGenerator


FAMILIES: dict[str, Family] = {}


def case_family(name: str, *, description: str = "") -> Callable[[CaseGenerator], CaseGenerator]:
    """Register a generator of cases under ``name`` (the documented plug-in point)."""

    def register(fn: CaseGenerator) -> CaseGenerator:
        FAMILIES[name] = Family(name, description or (fn.__doc__ or "").strip(), fn)
        return fn

    return register


def generate(names: list[str] | None, seed: int, max_vocab: int | None) -> list[Case]:
    """All cases of the named families (all when None), each family from its own seed."""
    chosen = list(FAMILIES) if names is None else names
    cases: list[Case] = []
    for index, name in enumerate(chosen):
        rng = np.random.default_rng([seed, index, _stable_hash(name)])
        for case in FAMILIES[name].generate(rng):
            if max_vocab is None or case.vocab <= max_vocab:
                cases.append(case)
    return cases


def _stable_hash(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")


# ---------------------------------------------------------------------------- helpers
def dirichlet_rows(rng: np.random.Generator, rows: int, vocab: int, alpha: float = 1.0) -> Any:
    g = rng.gamma(alpha, size=(rows, vocab))
    return g / g.sum(axis=-1, keepdims=True)


def correlated_logits(
    rng: np.random.Generator, rows: int, vocab: int, std: float, rho: float = 0.9
) -> tuple[Any, Any]:
    """Teacher logits with the given std and a student that agrees with correlation ``rho``."""
    t = rng.normal(size=(rows, vocab)) * std
    s = rho * t + np.sqrt(1 - rho**2) * rng.normal(size=(rows, vocab)) * std
    return t, s


# --------------------------------------------------------------------------- families
@case_family(
    "dirichlet", description="random Dirichlet(1) distributions at vocab 3, 1000, 32000, 152064"
)
def dirichlet(rng: np.random.Generator) -> Iterator[Case]:
    for vocab, rows in ((3, 8), (1000, 4), (32000, 2), (152064, 1)):
        yield Case(
            f"dirichlet/V={vocab}",
            "prob",
            dirichlet_rows(rng, rows, vocab),
            dirichlet_rows(rng, rows, vocab),
            description=f"{rows} Dirichlet(1) rows over {vocab} outcomes",
        )


@case_family(
    "distill",
    description="teacher/student logits (correlation 0.9) with std 1, 5, 20 at T = 0.5, 1, 2, 4",
)
def distill(rng: np.random.Generator) -> Iterator[Case]:
    for std in (1, 5, 20):
        t, s = correlated_logits(rng, 1, 32000, std)
        for temperature in (0.5, 1.0, 2.0, 4.0):
            yield Case(
                f"distill/std={std},T={temperature:g}",
                "logits",
                t,
                s,
                temperature=temperature,
                description=f"32000 logits, std {std}, temperature {temperature:g}",
            )


@case_family("near-identical", description="P ≈ Q with KL about 1e-6 and 1e-12 (cancellation)")
def near_identical(rng: np.random.Generator) -> Iterator[Case]:
    for target in (1e-6, 1e-12):
        eps = np.sqrt(2 * target)
        t = rng.normal(size=(4, 1000)) * 2
        yield Case(
            f"near-identical/logits,KL~{target:g}",
            "logits",
            t,
            t + eps * rng.normal(size=t.shape),
            description=f"student logits = teacher + {eps:.1e}·noise",
        )
        p = dirichlet_rows(rng, 4, 1000, alpha=5.0)
        q = p * np.exp(eps * rng.normal(size=p.shape))
        yield Case(
            f"near-identical/prob,KL~{target:g}",
            "prob",
            p,
            q / q.sum(axis=-1, keepdims=True),
            description=f"q = p·exp({eps:.1e}·noise), renormalised",
        )


@case_family("zeros-in-p", description="exact zeros in P (their terms must be 0)")
def zeros_in_p(rng: np.random.Generator) -> Iterator[Case]:
    p = dirichlet_rows(rng, 4, 1000)
    p[rng.random(p.shape) < 0.3] = 0
    p /= p.sum(axis=-1, keepdims=True)
    yield Case("zeros-in-p/V=1000", "prob", p, dirichlet_rows(rng, 4, 1000))


@case_family("q-zero", description="Q = 0 where P > 0: the KL is +inf, not NaN")
def q_zero(rng: np.random.Generator) -> Iterator[Case]:
    p, q = dirichlet_rows(rng, 4, 1000), dirichlet_rows(rng, 4, 1000)
    q[:, :10] = 0
    q /= q.sum(axis=-1, keepdims=True)
    yield Case("q-zero/V=1000", "prob", p, q, expect="inf")
    t, s = correlated_logits(rng, 4, 1000, 3.0)
    t[:, :10] = t.max(axis=-1, keepdims=True) - 200  # exp underflows in float32, p > 0
    s[:, :10] = -np.inf
    yield Case(
        "q-zero/logits,teacher underflows",
        "logits",
        t,
        s,
        expect="inf",
        description="student masks outcomes where the teacher's probability underflows (e^-200)",
    )


@case_family("masked", description="shared -inf logits in both rows (a padded vocabulary)")
def masked(rng: np.random.Generator) -> Iterator[Case]:
    t, s = correlated_logits(rng, 4, 1000, 3.0)
    t[:, 800:] = -np.inf
    s[:, 800:] = -np.inf
    yield Case("masked/V=1000,200 masked", "logits", t, s)
    yield Case("masked/V=1000,200 masked,T=2", "logits", t, s, temperature=2.0)


@case_family("one-hot", description="one-hot rows of P against a full Q")
def one_hot(rng: np.random.Generator) -> Iterator[Case]:
    p = np.zeros((4, 1000))
    p[np.arange(4), rng.integers(0, 1000, size=4)] = 1
    yield Case("one-hot/V=1000", "prob", p, dirichlet_rows(rng, 4, 1000))
