"""The rules about one resolved KL call: given the spaces of its operands, what is wrong?

Each check reads facts the data flow established (:mod:`klverify.lint.analysis`) and
stays silent when a fact is unknown. Edits for ``--fix`` are produced here, as AST
positions (1-based rows, UTF-8 byte columns); the engine turns them into characters.
"""

from __future__ import annotations

import ast

from klverify.lint.analysis import FileAnalysis, KLCall, Scope
from klverify.lint.values import LOG, LOGITS, PROB, KLConfig, Val

RawEdit = tuple[int, int, int, int, str]

_INSTEAD = {
    "softmax": "`F.log_softmax(...)` instead of softmax",
    "clamped softmax": "`F.log_softmax(...)` instead of softmax",
    "shifted softmax": "`F.log_softmax(...)` instead of softmax",
    "sigmoid": "`F.logsigmoid(...)` instead of sigmoid",
    "clamped sigmoid": "`F.logsigmoid(...)` instead of sigmoid",
    "exp": "the log-space argument of `exp(...)` itself",
    "normalised": "`torch.log(...)` of it, or `F.log_softmax` of the scores",
}


def _literal(expr: ast.expr | None) -> object:
    """The value of a constant argument; ``...`` (Ellipsis) when it is not a literal."""
    if expr is None:
        return None
    if isinstance(expr, ast.Constant):
        return expr.value
    return ...


def _insert_keyword(call: ast.Call, text: str) -> RawEdit:
    """Add ``text`` as the last argument of ``call``."""
    last = [*call.args, *call.keywords]
    if last:
        end = max(last, key=lambda n: (n.end_lineno, n.end_col_offset))
        row, col = end.end_lineno, end.end_col_offset
        return (row, col, row, col, f", {text}")  # type: ignore[return-value]
    row, col = call.end_lineno, call.end_col_offset - 1  # type: ignore[operator]
    return (row, col, row, col, text)  # type: ignore[return-value]


def _replace(node: ast.expr, text: str) -> RawEdit:
    return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text)  # type: ignore[return-value]


def check_kl(fa: FileAnalysis, kl: KLCall, inp: Val, tgt: Val, sc: Scope) -> None:
    """Report every default and opt-in rule that applies to one KL call."""
    config = kl.config
    log_target = _literal(config.get("log_target")) if config is not None else ...
    if config is not None and config.opaque and not config.has("log_target"):
        log_target = ...
    where_built = kl.label

    if inp.kind == PROB and tgt.kind == LOG:
        fa.report(
            sc,
            "KLV006",
            kl.call,
            f"arguments of {where_built} are in math order: the input is probabilities "
            f"({inp.where()}) and the target log-probabilities ({tgt.where()}); "
            "kl_div(input, target) computes KL(target‖input) with the input in log space: "
            "write `kl_div(log_q, p)` for KL(P‖Q)",
        )
    else:
        if inp.kind == PROB:
            instead = _INSTEAD.get(inp.how, "log-probabilities (`F.log_softmax` of the scores)")
            fa.report(
                sc,
                "KLV001",
                kl.call,
                f"input of {where_built} is in probability space ({inp.where()}); kl_div "
                f"expects log-probabilities: pass {instead}",
            )
        elif inp.kind == LOGITS:
            fa.report(
                sc,
                "KLV002",
                kl.call,
                f"input of {where_built} is raw scores ({inp.where()}); kl_div expects "
                "log-probabilities: pass `F.log_softmax(scores, dim=-1)`",
            )
        if tgt.kind == LOG and log_target in (None, False):
            edits: tuple[RawEdit, ...] = ()
            if kl.built_line == 0 and config is not None and config.call is kl.call:
                flag = config.get("log_target")
                edits = (
                    (_replace(flag, "True"),)
                    if flag is not None
                    else (_insert_keyword(kl.call, "log_target=True"),)
                )
            fa.report(
                sc,
                "KLV003",
                kl.call,
                f"target of {where_built} is in log space ({tgt.where()}) but `log_target` "
                "is not set, so it is read as probabilities: add `log_target=True`",
                edits,
            )
    if tgt.kind == PROB and log_target is True:
        fa.report(
            sc,
            "KLV004",
            kl.call,
            f"`log_target=True` but the target of {where_built} is in probability space "
            f"({tgt.where()}): pass log-probabilities (`F.log_softmax(...)`) as the target, "
            "or drop `log_target=True`",
        )
    if config is not None:
        _check_reduction(fa, kl, config, sc)
    _check_opt_in(fa, kl, inp, tgt, sc)


def _check_reduction(fa: FileAnalysis, kl: KLCall, config: KLConfig, sc: Scope) -> None:
    size_average = _literal(config.get("size_average"))
    reduce = _literal(config.get("reduce"))
    legacy = [
        name
        for name, value in (("size_average", size_average), ("reduce", reduce))
        if config.has(name) and value is not None
    ]
    if legacy:
        if ... in (size_average, reduce):
            equivalent = "the matching `reduction=...`"
            means_mean = False
        else:
            sa = size_average is not False
            rd = reduce is not False
            means_mean = sa and rd
            equivalent = (
                "`reduction='batchmean'`"
                if means_mean
                else "`reduction='sum'`"
                if rd
                else "`reduction='none'`"
            )
        fa.report(
            sc,
            "KLV008",
            kl.call,
            f"{kl.label} passes deprecated {' and '.join(f'`{n}`' for n in legacy)}, which "
            f"override `reduction`: use {equivalent} instead",
        )
        if means_mean:
            fa.report(
                sc,
                "KLV005",
                kl.call,
                f"{kl.label} with {', '.join(f'`{n}`' for n in legacy)} means "
                "reduction='mean', which divides by the number of elements, not the batch "
                "size: use `reduction='batchmean'`",
            )
        return
    reduction = config.get("reduction")
    value = _literal(reduction)
    if config.spelling == "torch.kl_div":
        if value == 1:
            fa.report(
                sc,
                "KLV005",
                kl.call,
                f"{kl.label} with reduction=1 means 'mean', which divides by the number of "
                "elements, not the batch size: use `F.kl_div(..., reduction='batchmean')`",
            )
        return
    if reduction is None and config.opaque:
        return
    if reduction is None or value == "mean":
        edits: tuple[RawEdit, ...] = ()
        if config.call is not None:
            if reduction is None:
                edits = (_insert_keyword(config.call, 'reduction="batchmean"'),)
            else:
                edits = (_replace(reduction, _quoted_like(fa, reduction, "batchmean")),)
        said = (
            "has no `reduction`, so it uses 'mean'"
            if reduction is None
            else "uses reduction='mean'"
        )
        fa.report(
            sc,
            "KLV005",
            kl.call,
            f"{kl.label} {said}, which divides by the number of elements, not the "
            "batch size: use `reduction='batchmean'`",
            edits,
        )


def _quoted_like(fa: FileAnalysis, node: ast.expr, text: str) -> str:
    quote = getattr(fa, "quote_of", lambda _n: '"')(node)
    return f"{quote}{text}{quote}"


def _check_opt_in(fa: FileAnalysis, kl: KLCall, inp: Val, tgt: Val, sc: Scope) -> None:
    if inp.teacher and not inp.student and tgt.student and not tgt.teacher:
        fa.report(
            sc,
            "KLV101",
            kl.call,
            f"the input of {kl.label} looks like the teacher and the target like the "
            "student; distillation is `kl_div(log_student, teacher_probs)`",
        )
    if tgt.teacher and not tgt.student and not tgt.detached:
        fa.report(
            sc,
            "KLV102",
            kl.call,
            f"the teacher target of {kl.label} carries gradients: compute it under "
            "`torch.no_grad()` or call `.detach()`",
        )
    for value in (inp, tgt):
        temperature = value.temperature
        if temperature and temperature not in sc.squares():
            fa.report(
                sc,
                "KLV103",
                kl.call,
                f"logits are divided by the temperature `{temperature}` but the loss is "
                f"never multiplied by `{temperature} ** 2`: multiply the KL term by "
                f"`{temperature} ** 2` to keep its gradient scale",
            )
            break
