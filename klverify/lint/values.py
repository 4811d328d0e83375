"""Abstract values of the data-flow analysis and how they merge where paths join.

A value records which *space* a tensor is in (probabilities, log-probabilities, raw
scores, or unknown), what produced it (for messages), and a few facts the opt-in rules
use. Merging two paths keeps a fact only when it holds on both: precision comes first.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace

PROB, LOG, LOGITS, UNKNOWN = "prob", "log", "logits", "unknown"
SPACES = frozenset({PROB, LOG, LOGITS})
REF = "ref"  # an imported object: module, function or class, by canonical qualified name
INSTANCE = "instance"  # an instance of a known torch.nn class (qual), built at `line`
LOCAL_FUNC = "local_func"  # a def in the linted file (node)
LOCAL_CLASS = "local_class"  # a class in the linted file (node)
KL_NONE = "kl_none"  # the result of kl_div(..., reduction='none')


@dataclass(frozen=True, eq=True)
class KLConfig:
    """The options a KL call runs with: argument expressions by parameter name.

    ``opaque`` means some options cannot be known (``**kwargs``, a constructor we cannot
    see); rules about options then stay silent.
    """

    spelling: str
    call: ast.Call | None
    given: tuple[tuple[str, ast.expr], ...] = ()
    opaque: bool = False

    def get(self, name: str) -> ast.expr | None:
        for key, value in self.given:
            if key == name:
                return value
        return None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.given)


@dataclass(frozen=True, eq=True)
class Val:
    kind: str = UNKNOWN
    how: str = ""  # the transform that produced a space value: softmax, log, linear, ...
    src: str = ""  # short source text of the producer, for messages
    line: int = 0
    qual: str = ""
    binding: object = None  # identity of the assignment holding this tensor
    node: ast.AST | None = field(default=None, repr=False)
    config: KLConfig | None = None
    teacher: bool = False
    student: bool = False
    detached: bool = False
    temperature: str = ""

    def where(self) -> str:
        return f"`{self.src}` on line {self.line}" if self.src else "on every path here"


TOP = Val()


def join(a: Val | None, b: Val | None) -> Val | None:
    """The value that holds on both paths (``None`` is a path that never gets here)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    flags = {
        "teacher": a.teacher and b.teacher,
        "student": a.student and b.student,
        "detached": a.detached and b.detached,
        "temperature": a.temperature if a.temperature == b.temperature else "",
    }
    if a.kind == b.kind and a.kind in SPACES:
        same = a.how == b.how and a.src == b.src
        return replace(
            a,
            how=a.how if a.how == b.how else "",
            src=a.src if same else "",
            line=a.line if same else 0,
            binding=a.binding if a.binding == b.binding else None,
            **flags,
        )
    return Val(**flags)


def join_envs(a: dict[str, Val] | None, b: dict[str, Val] | None) -> dict[str, Val] | None:
    """Merge two environments. A name bound on one path only keeps that value: inside a
    function, reading it on the other path would raise, so no other value is possible."""
    if a is None:
        return None if b is None else dict(b)
    if b is None:
        return dict(a)
    out = dict(a)
    for name, value in b.items():
        mine = out.get(name)
        out[name] = value if mine is None else join(mine, value)  # type: ignore[assignment]
    return out
