"""Data flow inside one file: which space does each tensor live in when ``kl_div`` runs?

The analysis walks statements in order, keeping an environment of abstract values
(:mod:`klverify.lint.values`). Branches are walked separately and merged so that only
facts true on every path survive; loops are walked to a fixed point before anything is
reported. Helpers in the same file are summarised by their return values; instances of
``nn.KLDivLoss`` and friends are followed through locals, globals, closures, default
arguments, class attributes and ``self`` attributes set in ``__init__``.

Only the parts of a file that can matter are walked in full: the top-level statements
whose lines mention ``kl_div``, ``KLDivLoss`` or ``softmax`` (``hit lines``), plus the
module-level bindings and the helpers they call. That keeps the cost of a file close to
the cost of parsing it.
"""

from __future__ import annotations

import ast
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from klverify.lint import torch_api as api
from klverify.lint.values import (
    INSTANCE,
    KL_NONE,
    LOCAL_CLASS,
    LOCAL_FUNC,
    LOG,
    LOGITS,
    PROB,
    REF,
    SPACES,
    TOP,
    UNKNOWN,
    KLConfig,
    Val,
    join,
    join_envs,
)

Env = dict[str, Val]
_INIT_LIKE = ("__init__", "__post_init__", "setup")
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_FUNC_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass
class KLCall:
    """A resolved call of the KL API: what is reported where, and with which options."""

    call: ast.Call
    label: str
    input: ast.expr | None
    target: ast.expr | None
    config: KLConfig | None  # None: the options cannot be known
    built_line: int = 0


def dotted(node: ast.AST) -> str:
    """Short source text of a callee (``F.softmax``, ``self.head``) for messages."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(dotted(node.func) + "(...)")
    else:
        parts.append("(...)")
    return ".".join(reversed(parts))


def bind_config(spelling: str, call: ast.Call) -> KLConfig:
    """Match a call's arguments to the parameters of a KL spelling (like Python would)."""
    params = api.KL_PARAMS[spelling]
    given: list[tuple[str, ast.expr]] = []
    opaque = False
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            opaque = True
            break
        if index < len(params):
            given.append((params[index], arg))
    for keyword in call.keywords:
        if keyword.arg is None:
            opaque = True
        else:
            given.append((keyword.arg, keyword.value))
    return KLConfig(spelling, call, tuple(given), opaque)


def _names_in_target(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _names_in_target(element)
    elif isinstance(target, ast.Starred):
        yield from _names_in_target(target.value)


def _bound_names(body: list[ast.stmt]) -> set[str]:
    """Names a function body binds (not looking into nested scopes)."""
    names: set[str] = set()
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Assign,)):
            for target in node.targets:
                names.update(_names_in_target(target))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
            names.update(_names_in_target(node.target))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    names.update(_names_in_target(item.optional_vars))
        elif isinstance(node, (*_FUNC_DEFS, ast.ClassDef)):
            names.add(node.name)
            continue
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (
            isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name
        ):
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        if isinstance(node, (ast.stmt, ast.ExceptHandler, ast.match_case, ast.pattern)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.stmt, ast.ExceptHandler, ast.match_case, ast.pattern)):
                    stack.append(child)
    return names


class Scope:
    """A module, class or function body being walked."""

    def __init__(
        self,
        kind: str,
        node: ast.AST,
        parent: Scope | None,
        cls: ClassInfo | None = None,
        self_name: str | None = None,
        full: bool = False,
        silent: bool = False,
    ) -> None:
        self.kind = kind
        self.node = node
        self.parent = parent
        self.cls = cls
        self.self_name = self_name
        self.full = full
        self.silent = 1 if silent else 0
        self.env: Env = {}
        self.locals: set[str] = set()
        self.free: set[str] = set()  # declared global / nonlocal: value unknowable here
        self.returns: list[Val | None] = []
        self.no_grad = 0
        self.ce_bindings: dict[object, int] = {}
        self.pending_ce: list[tuple[KLCall, Val]] = []
        self._squares: set[str] | None = None

    def squares(self) -> set[str]:
        """Source texts that this scope squares (``T ** 2``, ``T * T``): for KLV103."""
        if self._squares is None:
            found: set[str] = set()
            for node in ast.walk(self.node):
                if isinstance(node, ast.BinOp):
                    if (
                        isinstance(node.op, ast.Pow)
                        and isinstance(node.right, ast.Constant)
                        and node.right.value == 2
                    ) or (
                        isinstance(node.op, ast.Mult)
                        and ast.dump(node.left) == ast.dump(node.right)
                    ):
                        found.add(ast.unparse(node.left))
                elif (
                    isinstance(node, ast.Call)
                    and dotted(node.func) in ("pow", "math.pow", "torch.pow")
                    and len(node.args) == 2
                ):
                    found.add(ast.unparse(node.args[0]))
            self._squares = found
        return self._squares


class ClassInfo:
    """A class in the linted file: its attributes, ``self`` attributes and KL ancestry."""

    def __init__(self, node: ast.ClassDef, scope: Scope) -> None:
        self.node = node
        self.scope = scope  # the class body's scope; its env holds class attributes
        self.bases: list[Val] = []
        self.methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {
            stmt.name: stmt for stmt in node.body if isinstance(stmt, _FUNC_DEFS)
        }
        self.self_attrs: dict[str, Val] = {}
        self._store_counts: dict[str, int] | None = None

    def store_counts(self) -> dict[str, int]:
        if self._store_counts is None:
            counts: dict[str, int] = {}
            for method in self.methods.values():
                params = method.args.posonlyargs + method.args.args
                if not params:
                    continue
                me = params[0].arg
                for node in ast.walk(method):
                    if (
                        isinstance(node, ast.Attribute)
                        and isinstance(node.ctx, ast.Store)
                        and isinstance(node.value, ast.Name)
                        and node.value.id == me
                    ):
                        counts[node.attr] = counts.get(node.attr, 0) + 1
            self._store_counts = counts
        return self._store_counts


class FileAnalysis:
    """Walk one parsed file and call ``on_kl`` for every KL call it can resolve."""

    def __init__(
        self,
        tree: ast.Module,
        hit_lines: list[int],
        global_names: set[str],
        report: Callable[[str, ast.AST, str, tuple], None],
        on_kl: Callable[[FileAnalysis, KLCall, Val, Val, Scope], None],
    ) -> None:
        self.tree = tree
        self.hits = hit_lines
        self.global_names = global_names  # names some function declares `global`
        self._report = report
        self.on_kl = on_kl
        self.queue: list[tuple[ast.AST, Scope, ClassInfo | None]] = []
        self.queued: set[int] = set()
        self.func_parent: dict[int, tuple[Scope, ClassInfo | None]] = {}
        self.classes: dict[int, ClassInfo] = {}
        self.summaries: dict[int, Val | None] = {}

    # -- driving -------------------------------------------------------------------------
    def run(self) -> None:
        module = Scope("module", self.tree, None)
        self.module = module
        module.env = self.block(self.tree.body, {}, module) or {}
        while self.queue:
            node, parent, cls = self.queue.pop(0)
            self.analyze_function(node, parent, cls)  # type: ignore[arg-type]

    def report(self, scope: Scope, code: str, node: ast.AST, message: str, edits=()) -> None:
        if not scope.silent:
            self._report(code, node, message, edits)

    def has_hit(self, node: ast.AST) -> bool:
        start = node.lineno  # type: ignore[attr-defined]
        end = getattr(node, "end_lineno", None) or start
        decorators = getattr(node, "decorator_list", None)
        if decorators:
            start = min(start, *(d.lineno for d in decorators))
        i = bisect_left(self.hits, start)
        return i < len(self.hits) and self.hits[i] <= end

    def enqueue(self, node: ast.AST, parent: Scope, cls: ClassInfo | None) -> None:
        if id(node) not in self.queued:
            self.queued.add(id(node))
            self.queue.append((node, parent, cls))

    # -- functions ------------------------------------------------------------------------
    def analyze_function(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
        parent: Scope,
        cls: ClassInfo | None,
        silent: bool = False,
    ) -> Scope:
        args = node.args
        params = args.posonlyargs + args.args
        is_method = (
            cls is not None
            and params
            and not any(
                dotted(d) in ("staticmethod", "classmethod")
                for d in getattr(node, "decorator_list", ())
            )
        )
        scope = Scope(
            "function",
            node,
            parent,
            cls=cls if is_method else None,
            self_name=params[0].arg if is_method else None,
            full=True,
            silent=silent,
        )
        body = node.body if isinstance(node.body, list) else [ast.Return(node.body)]
        scope.locals = _bound_names(body)
        env: Env = {}
        defaults: dict[str, ast.expr] = {}
        positional = params[-len(args.defaults) :] if args.defaults else []
        for param, default in zip(positional, args.defaults, strict=False):
            defaults[param.arg] = default
        for param, default in zip(args.kwonlyargs, args.kw_defaults, strict=False):
            if default is not None:
                defaults[param.arg] = default
        all_params = params + args.kwonlyargs
        all_params += [a for a in (args.vararg, args.kwarg) if a is not None]
        for param in all_params:
            scope.locals.add(param.arg)
            default = defaults.get(param.arg)
            value = self.evaluate(default, parent.env, parent) if default is not None else None
            if value is not None and value.kind == INSTANCE:
                env[param.arg] = value
            else:
                env[param.arg] = self._named(Val(binding=("param", id(node), param.arg)), param.arg)
        for decorator in getattr(node, "decorator_list", ()):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if self.evaluate(target, parent.env, parent).qual in api.NO_GRAD:
                scope.no_grad += 1
        out = self.block(body, env, scope)
        if out is not None:
            scope.returns.append(None)  # falls off the end: returns None
        scope.env = out or env
        for kl, value in scope.pending_ce:
            line = scope.ce_bindings.get(value.binding)
            if line is not None and value.kind not in SPACES:
                self.on_kl_ce(kl, line, scope)
        return scope

    def on_kl_ce(self, kl: KLCall, ce_line: int, scope: Scope) -> None:
        self.report(
            scope,
            "KLV002",
            kl.call,
            f"input of {kl.label} is also passed to `cross_entropy` on line {ce_line}, "
            "which takes raw scores; kl_div expects log-probabilities: "
            "pass `F.log_softmax(scores, dim=-1)`",
        )

    def summary(self, node: ast.AST) -> Val:
        """What a helper in this file returns, if every return agrees on a space."""
        key = id(node)
        if key in self.summaries:
            return self.summaries[key] or TOP
        where = self.func_parent.get(key)
        if where is None or not isinstance(node, _FUNC_DEFS):
            return TOP
        self.summaries[key] = None  # recursion guard
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)):
            return TOP
        scope = self.analyze_function(node, where[0], where[1], silent=True)
        result: Val | None = None
        for value in scope.returns:
            if value is None or value.kind not in SPACES:
                result = TOP
                break
            result = join(result, value) if result is not None else value
        if result is not None and result.kind in SPACES:
            result = Val(result.kind, result.how, result.src, result.line)
        else:
            result = TOP
        self.summaries[key] = result
        return result

    # -- statements -----------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt], env: Env | None, sc: Scope) -> Env | None:
        for stmt in stmts:
            if env is None:
                return None
            env = self.stmt(stmt, env, sc)
        return env

    def stmt(self, s: ast.stmt, env: Env, sc: Scope) -> Env | None:
        full = sc.full or self.has_hit(s)
        t = type(s)
        if t is ast.Assign:
            if full:
                self.scan(s.value, env, sc)
            self.assign(s.targets, s.value, env, sc, s)
        elif t is ast.Expr:
            if full:
                self.scan(s.value, env, sc)
        elif t is ast.AnnAssign:
            if s.value is not None:
                if full:
                    self.scan(s.value, env, sc)
                self.assign([s.target], s.value, env, sc, s)
        elif t is ast.AugAssign:
            if full:
                self.scan(s.value, env, sc)
            if isinstance(s.target, ast.Name):
                load = ast.Name(s.target.id, ast.Load())
                binop = ast.copy_location(ast.BinOp(load, s.op, s.value), s)
                self.bind(s.target, self.evaluate(binop, env, sc), env, sc, s)
            else:
                self.bind(s.target, TOP, env, sc, s)
        elif t is ast.Return:
            if s.value is not None:
                if full:
                    self.scan(s.value, env, sc)
                sc.returns.append(self.evaluate(s.value, env, sc))
            else:
                sc.returns.append(None)
            return None
        elif t is ast.If:
            if full:
                self.scan(s.test, env, sc)
            return join_envs(self.block(s.body, dict(env), sc), self.block(s.orelse, dict(env), sc))
        elif t in (ast.For, ast.AsyncFor, ast.While):
            return self.loop(s, env, sc, full)
        elif t in (ast.With, ast.AsyncWith):
            no_grad = 0
            for item in s.items:
                if full:
                    self.scan(item.context_expr, env, sc)
                expr = item.context_expr
                callee = expr.func if isinstance(expr, ast.Call) else expr
                if self.evaluate(callee, env, sc).qual in api.NO_GRAD:
                    no_grad += 1
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, TOP, env, sc, s)
            sc.no_grad += no_grad
            out = self.block(s.body, env, sc)
            sc.no_grad -= no_grad
            return out
        elif t is ast.Try or t.__name__ == "TryStar":
            return self.try_(s, env, sc)  # type: ignore[arg-type]
        elif t in (ast.Import, ast.ImportFrom):
            self.imports(s, env)  # type: ignore[arg-type]
        elif t in _FUNC_DEFS:
            self.define_function(s, env, sc, full)  # type: ignore[arg-type]
        elif t is ast.ClassDef:
            self.define_class(s, env, sc)  # type: ignore[arg-type]
        elif t is ast.Raise:
            if full and s.exc is not None:
                self.scan(s.exc, env, sc)
            return None
        elif t in (ast.Global, ast.Nonlocal):
            sc.free.update(s.names)
            for name in s.names:
                env.pop(name, None)
        elif t is ast.Delete:
            for target in s.targets:
                for name in _names_in_target(target):
                    env.pop(name, None)
        elif t is ast.Match:
            if full:
                self.scan(s.subject, env, sc)
            out: Env | None = dict(env)  # no case matched
            for case in s.cases:
                case_env = dict(env)
                for node in ast.walk(case.pattern):
                    name = getattr(node, "name", None) or getattr(node, "rest", None)
                    if isinstance(name, str):
                        case_env[name] = TOP
                if full and case.guard is not None:
                    self.scan(case.guard, case_env, sc)
                out = join_envs(out, self.block(case.body, case_env, sc))
            return out
        elif full and t is ast.Assert:
            self.scan(s.test, env, sc)
        return env

    def loop(self, s: ast.For | ast.AsyncFor | ast.While, env: Env, sc: Scope, full: bool):
        """Walk the body silently once to learn what a later iteration sees, then report."""
        is_for = not isinstance(s, ast.While)
        if full:
            self.scan(s.iter if is_for else s.test, env, sc)  # type: ignore[union-attr]

        def enter(start: Env) -> Env:
            inner = dict(start)
            if is_for:
                self.bind(s.target, TOP, inner, sc, s)  # type: ignore[union-attr]
            return inner

        sc.silent += 1
        first = self.block(s.body, enter(env), sc)
        sc.silent -= 1
        head = join_envs(env, first) or env
        after = join_envs(head, self.block(s.body, enter(head), sc))
        return self.block(s.orelse, after, sc) if s.orelse else after

    def try_(self, s: ast.Try, env: Env, sc: Scope) -> Env | None:
        body = self.block(s.body, dict(env), sc)
        out = self.block(s.orelse, body, sc) if body is not None else None
        for handler in s.handlers:
            start = join_envs(env, body) or dict(env)
            if handler.name:
                start[handler.name] = TOP
            if handler.type is not None and (sc.full or self.has_hit(handler)):
                self.scan(handler.type, start, sc)
            out = join_envs(out, self.block(handler.body, start, sc))
        if s.finalbody:
            final = self.block(s.finalbody, dict(out if out is not None else env), sc)
            return final if out is not None else None
        return out

    def imports(self, s: ast.Import | ast.ImportFrom, env: Env) -> None:
        if isinstance(s, ast.Import):
            for alias in s.names:
                if alias.asname:
                    env[alias.asname] = Val(REF, qual=api.canonical(alias.name))
                else:
                    first = alias.name.split(".")[0]
                    env[first] = Val(REF, qual=first)
            return
        for alias in s.names:
            if alias.name == "*":
                continue
            name = alias.asname or alias.name
            if s.level or not s.module:
                env[name] = TOP
            else:
                env[name] = Val(REF, qual=api.canonical(f"{s.module}.{alias.name}"))

    def define_function(self, s, env: Env, sc: Scope, full: bool) -> None:
        if full:
            for expr in (*s.decorator_list, *s.args.defaults, *s.args.kw_defaults):
                if expr is not None:
                    self.scan(expr, env, sc)
        env[s.name] = Val(LOCAL_FUNC, node=s, line=s.lineno)
        cls = sc.cls if sc.kind == "class" else None
        parent = sc.parent if sc.kind == "class" else sc
        self.func_parent[id(s)] = (parent, cls)  # type: ignore[assignment]
        if sc.kind != "class" and self.has_hit(s):
            self.enqueue(s, sc, None)

    def define_class(self, s: ast.ClassDef, env: Env, sc: Scope) -> None:
        full = self.has_hit(s)
        for expr in (*s.bases, *s.decorator_list):
            if full:
                self.scan(expr, env, sc)
        sc.env = env  # the class body looks names up in the enclosing scope as it is now
        body_scope = Scope("class", s, sc if sc.kind != "class" else sc.parent)
        info = ClassInfo(s, body_scope)
        body_scope.cls = info
        info.bases = [self.evaluate(base, env, sc) for base in s.bases]
        self.classes[id(s)] = info
        env[s.name] = Val(LOCAL_CLASS, node=s, line=s.lineno)
        if not full:
            return  # nothing in the class can matter: do not walk its body
        body_scope.env = self.block(s.body, {}, body_scope) or {}
        parent = body_scope.parent or sc
        for name in _INIT_LIKE:
            if name in info.methods:
                self.enqueue(info.methods[name], parent, info)
        for method in info.methods.values():
            if self.has_hit(method):
                self.enqueue(method, parent, info)

    # -- bindings -------------------------------------------------------------------------
    def assign(self, targets, value: ast.expr, env: Env, sc: Scope, s: ast.stmt) -> None:
        for target in targets:
            if (
                isinstance(target, (ast.Tuple, ast.List))
                and isinstance(value, (ast.Tuple, ast.List))
                and len(target.elts) == len(value.elts)
                and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
            ):
                values = [self.evaluate(v, env, sc) for v in value.elts]  # all before any bind
                for element, element_value in zip(target.elts, values, strict=False):
                    self.bind(element, element_value, env, sc, s)
            else:
                self.bind(target, self.evaluate(value, env, sc), env, sc, s)

    def bind(self, target: ast.AST, value: Val, env: Env, sc: Scope, s: ast.stmt) -> None:
        if isinstance(target, ast.Name):
            if value.binding is None and value.kind in (*SPACES, UNKNOWN):
                value = replace(value, binding=(id(s), target.id))
            if sc.no_grad and not value.detached:
                value = replace(value, detached=True)
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List, ast.Starred)):
            for name in _names_in_target(target):
                env[name] = Val(binding=(id(s), name))
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and sc.cls is not None
            and target.value.id == sc.self_name
        ) and sc.cls.store_counts().get(target.attr) == 1:
            if value.binding is None and value.kind in (*SPACES, UNKNOWN):
                value = replace(value, binding=("self", target.attr))
            sc.cls.self_attrs[target.attr] = value

    # -- name lookup ----------------------------------------------------------------------
    def lookup(self, name: str, env: Env, sc: Scope) -> Val:
        value = env.get(name)
        if value is not None:
            return value
        if name in sc.free or name in sc.locals:
            return TOP
        scope = sc.parent
        while scope is not None:
            if scope.kind == "class":
                scope = scope.parent
                continue
            if scope.kind == "module" and name in self.global_names:
                return TOP
            value = scope.env.get(name)
            if value is not None:
                return value
            if name in scope.locals or name in scope.free:
                return TOP
            scope = scope.parent
        return TOP

    def self_attr(self, cls: ClassInfo, attr: str, depth: int = 0) -> Val:
        if attr in cls.self_attrs:
            return cls.self_attrs[attr]
        if cls.store_counts().get(attr):
            return TOP
        value = cls.scope.env.get(attr)
        if value is not None:
            return value
        if depth < 8:
            for base in cls.bases:
                if base.kind == LOCAL_CLASS and id(base.node) in self.classes:
                    found = self.self_attr(self.classes[id(base.node)], attr, depth + 1)
                    if found is not TOP:
                        return found
        return TOP

    @staticmethod
    def _named(value: Val, name: str) -> Val:
        lowered = name.lower()
        teacher = "teacher" in lowered
        student = "student" in lowered
        if (teacher and not value.teacher) or (student and not value.student):
            return replace(
                value, teacher=value.teacher or teacher, student=value.student or student
            )
        return value

    # -- expressions ----------------------------------------------------------------------
    def evaluate(self, e: ast.expr, env: Env, sc: Scope) -> Val:
        t = type(e)
        if t is ast.Name:
            return self._named(self.lookup(e.id, env, sc), e.id)
        if t is ast.Attribute:
            base = e.value
            if type(base) is ast.Name and sc.cls is not None and base.id == sc.self_name:
                return self._named(self.self_attr(sc.cls, e.attr), e.attr)
            bv = self.evaluate(base, env, sc)
            if bv.kind == REF:
                return Val(REF, qual=api.canonical(f"{bv.qual}.{e.attr}"))
            if bv.kind == LOCAL_CLASS and id(bv.node) in self.classes:
                return self.classes[id(bv.node)].scope.env.get(e.attr, TOP)
            if e.attr == "data" and bv.kind in SPACES:
                return bv
            return self._named(Val(teacher=bv.teacher, student=bv.student), e.attr)
        if t is ast.Call:
            return self.eval_call(e, env, sc)
        if t is ast.BinOp:
            return self.eval_binop(e, env, sc)
        if t is ast.Subscript:
            value = self.evaluate(e.value, env, sc)
            return value if value.kind in (*SPACES, UNKNOWN) else TOP
        if t is ast.IfExp:
            return join(self.evaluate(e.body, env, sc), self.evaluate(e.orelse, env, sc)) or TOP
        if t is ast.NamedExpr:
            return self.evaluate(e.value, env, sc)
        return TOP

    def space(self, kind: str, how: str, call: ast.Call, arg: Val, sc: Scope) -> Val:
        return Val(
            kind,
            how,
            src=dotted(call.func) + "(...)",
            line=call.lineno,
            teacher=arg.teacher,
            student=arg.student,
            detached=arg.detached or sc.no_grad > 0,
            temperature=arg.temperature,
        )

    def first_arg(self, call: ast.Call, env: Env, sc: Scope, name: str = "input") -> Val:
        if call.args and not isinstance(call.args[0], ast.Starred):
            return self.evaluate(call.args[0], env, sc)
        for keyword in call.keywords:
            if keyword.arg == name:
                return self.evaluate(keyword.value, env, sc)
        return TOP

    def eval_call(self, call: ast.Call, env: Env, sc: Scope) -> Val:
        func = call.func
        if type(func) is ast.Attribute:
            method = func.attr
            receiver = func.value
            if type(receiver) is ast.Name and sc.cls is not None and receiver.id == sc.self_name:
                fv = self.self_attr(sc.cls, method)
            else:
                rv = self.evaluate(receiver, env, sc)
                if rv.kind == REF:
                    fv = Val(REF, qual=api.canonical(f"{rv.qual}.{method}"))
                elif rv.kind == LOCAL_CLASS:
                    fv = self.evaluate(func, env, sc)
                else:
                    return self.tensor_method(call, method, rv, sc)
        else:
            fv = self.evaluate(func, env, sc)
        kind = fv.kind
        if kind == REF:
            q = fv.qual
            if q in api.PROB_FUNCS:
                return self.space(
                    PROB, api.PROB_FUNCS[q][0], call, self.first_arg(call, env, sc), sc
                )
            if q in api.LOG_FUNCS:
                return self.space(LOG, api.LOG_FUNCS[q], call, self.first_arg(call, env, sc), sc)
            if q in api.LINEAR_FUNCS:
                return self.space(LOGITS, "linear", call, TOP, sc)
            if q in api.PRESERVE_FUNCS:
                value = self.first_arg(call, env, sc)
                return self.clamped(value) if q in ("torch.clamp", "torch.clip") else value
            if q in api.INSTANCE_CLASSES:
                config = bind_config(q, call) if q == api.KL_MODULE else None
                return Val(INSTANCE, qual=q, line=call.lineno, node=call, config=config)
            if q in api.KL_FUNCS:
                return self.kl_result(bind_config(q, call))
            if q == "dataclasses.field":
                for keyword in call.keywords:
                    if keyword.arg == "default":
                        return self.evaluate(keyword.value, env, sc)
                    if keyword.arg == "default_factory":
                        factory = keyword.value
                        if isinstance(factory, ast.Lambda):
                            return self.evaluate(factory.body, env, sc)
                        fake = ast.copy_location(ast.Call(factory, [], []), factory)
                        return self.eval_call(fake, env, sc)
            return TOP
        if kind == INSTANCE:
            if fv.qual in api.MODULE_SPACES:
                space, how = api.MODULE_SPACES[fv.qual]
                value = self.space(space, how, call, self.first_arg(call, env, sc), sc)
                return replace(value, src=f"{dotted(func)}(...)", line=call.lineno)
            if fv.qual == api.KL_MODULE and fv.config is not None:
                return self.kl_result(fv.config)
            return TOP
        if kind == LOCAL_FUNC:
            result = self.summary(fv.node)  # type: ignore[arg-type]
            if result.kind in SPACES:
                return replace(result, src=f"{dotted(func)}(...)", line=call.lineno)
            return TOP
        if kind == LOCAL_CLASS:
            info = self.classes.get(id(fv.node))
            if info is not None and self.kl_like(info) and "forward" not in info.methods:
                config = self.super_config(info)
                if "__init__" not in info.methods:
                    config = bind_config(api.KL_MODULE, call)
                return Val(INSTANCE, qual=api.KL_MODULE, line=call.lineno, node=call, config=config)
            return TOP
        return Val(teacher=fv.teacher, student=fv.student)

    def tensor_method(self, call: ast.Call, method: str, rv: Val, sc: Scope) -> Val:
        nargs = len(call.args) + len(call.keywords)
        if method == "softmax" and nargs:
            return self.space(PROB, "softmax", call, rv, sc)
        if method == "log_softmax" and nargs:
            return self.space(LOG, "log_softmax", call, rv, sc)
        if nargs == 0 and method in ("sigmoid", "exp", "log"):
            kind = LOG if method == "log" else PROB
            return self.space(kind, method, call, rv, sc)
        if method in api.PRESERVE_METHODS:
            if method == "detach" and not rv.detached:
                return replace(rv, detached=True)
            return rv
        if method in api.CLAMP_METHODS:
            return self.clamped(rv)
        if method in ("matmul", "mm", "bmm"):
            return self.space(LOGITS, "linear", call, TOP, sc)
        return Val(teacher=rv.teacher, student=rv.student)

    @staticmethod
    def clamped(value: Val) -> Val:
        if value.kind in SPACES and value.how in ("softmax", "sigmoid"):
            return replace(value, how=f"clamped {value.how}")
        return value

    @staticmethod
    def kl_result(config: KLConfig) -> Val:
        """``KL_NONE`` when the call keeps one term per element, else unknown."""
        reduction = config.get("reduction")
        if config.has("size_average") or config.has("reduce"):
            return TOP
        if config.spelling == "torch.kl_div":
            is_none = reduction is None and not config.opaque
            is_none = is_none or (isinstance(reduction, ast.Constant) and reduction.value == 0)
        else:
            is_none = isinstance(reduction, ast.Constant) and reduction.value == "none"
        return Val(KL_NONE) if is_none else TOP

    def eval_binop(self, e: ast.BinOp, env: Env, sc: Scope) -> Val:
        op = type(e.op)
        if op is ast.MatMult:
            return Val(LOGITS, "linear", src="@", line=e.lineno)
        left = self.evaluate(e.left, env, sc)
        right = e.right
        flags = {"teacher": left.teacher, "student": left.student, "detached": left.detached}
        if op is ast.Div:
            if _is_sum_of(right, e.left):
                return Val(PROB, "normalised", src="x / x.sum(...)", line=e.lineno, **flags)
            temperature = ast.unparse(right) if isinstance(right, (ast.Name, ast.Attribute)) else ""
            if left.kind == LOGITS:
                return replace(left, binding=None, temperature=temperature or left.temperature)
            return Val(temperature=temperature, **flags)
        if op is ast.Mult and left.kind == LOGITS:
            return replace(left, binding=None)
        if op is ast.Sub and _is_logsumexp_of(right, e.left):
            return Val(LOG, "log_softmax", src="x - logsumexp(x)", line=e.lineno, **flags)
        if op is ast.Add and left.kind == PROB and isinstance(right, ast.Constant):
            return replace(left, how=f"shifted {left.how}", binding=None)
        return Val(**flags)

    # -- KL calls -------------------------------------------------------------------------
    def kl_like(self, info: ClassInfo, depth: int = 0) -> bool:
        for base in info.bases:
            if base.kind == REF and base.qual == api.KL_MODULE:
                return True
            if base.kind == LOCAL_CLASS and depth < 8:
                parent = self.classes.get(id(base.node))
                if parent is not None and self.kl_like(parent, depth + 1):
                    return True
        return False

    def super_config(self, info: ClassInfo) -> KLConfig | None:
        """Options a ``KLDivLoss`` subclass passes to ``super().__init__``, if visible."""
        init = info.methods.get("__init__")
        if init is None:
            return None
        for node in ast.walk(init):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__init__"
                and isinstance(node.func.value, ast.Call)
                and dotted(node.func.value.func) == "super"
            ):
                config = bind_config(api.KL_MODULE, node)
                return None if config.opaque else config
        return KLConfig(api.KL_MODULE, None)

    def resolve_kl(self, call: ast.Call, env: Env, sc: Scope) -> KLCall | None:
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("forward", "__call__")
            and isinstance(func.value, ast.Call)
            and dotted(func.value.func) == "super"
        ):
            if sc.cls is None or not self.kl_like(sc.cls):
                return None
            config = self.super_config(sc.cls)
            inp, tgt = _call_operands(call)
            return KLCall(call, "`super().forward`", inp, tgt, config)
        if isinstance(func, ast.Name) and func.id == "super":
            return None
        fv = self.evaluate(func, env, sc)
        if fv.kind == REF and fv.qual in api.KL_FUNCS:
            config = bind_config(fv.qual, call)
            return KLCall(
                call, f"`{dotted(func)}`", config.get("input"), config.get("target"), config
            )
        if fv.kind == INSTANCE and fv.qual == api.KL_MODULE:
            inp, tgt = _call_operands(call)
            if isinstance(func, ast.Call):
                label = f"`{dotted(func.func)}(...)`"
            else:
                label = f"`{dotted(func)}` (the KLDivLoss built on line {fv.line})"
            return KLCall(call, label, inp, tgt, fv.config, built_line=fv.line)
        return None

    # -- scanning for calls ---------------------------------------------------------------
    def scan(self, root: ast.expr, env: Env, sc: Scope) -> None:
        stack: list[tuple[ast.AST, Env]] = [(root, env)]
        while stack:
            node, scope_env = stack.pop()
            t = type(node)
            if t is ast.Call:
                self.on_call(node, scope_env, sc)  # type: ignore[arg-type]
            elif t is ast.Lambda:
                inner = dict(scope_env)
                args = node.args  # type: ignore[attr-defined]
                for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                    inner[arg.arg] = TOP
                for arg in (args.vararg, args.kwarg):
                    if arg is not None:
                        inner[arg.arg] = TOP
                stack.append((node.body, inner))  # type: ignore[attr-defined]
                continue
            elif t in _COMPREHENSIONS:
                inner = dict(scope_env)
                for generator in node.generators:  # type: ignore[attr-defined]
                    for name in _names_in_target(generator.target):
                        inner[name] = TOP
                for child in ast.iter_child_nodes(node):
                    stack.append((child, inner))
                continue
            elif t is ast.comprehension:
                stack.append((node.iter, scope_env))  # type: ignore[attr-defined]
                stack.extend((c, scope_env) for c in node.ifs)  # type: ignore[attr-defined]
                continue
            elif t is ast.NamedExpr and isinstance(node.target, ast.Name):  # type: ignore[attr-defined]
                scope_env[node.target.id] = self.evaluate(node.value, scope_env, sc)  # type: ignore[attr-defined]
            for child in ast.iter_child_nodes(node):
                stack.append((child, scope_env))

    def on_call(self, call: ast.Call, env: Env, sc: Scope) -> None:
        func = call.func
        kl = self.resolve_kl(call, env, sc)
        if kl is not None:
            inp = self.evaluate(kl.input, env, sc) if kl.input is not None else TOP
            tgt = self.evaluate(kl.target, env, sc) if kl.target is not None else TOP
            self.on_kl(self, kl, inp, tgt, sc)
            if inp.binding is not None and inp.kind not in SPACES:
                sc.pending_ce.append((kl, inp))
            return
        if type(func) is ast.Attribute and not call.args and not call.keywords:
            if func.attr == "log":
                self.check_log_of(call, self.evaluate(func.value, env, sc), sc)
            elif func.attr == "mean":
                self.check_mean(call, self.evaluate(func.value, env, sc), sc)
        self.check_ce(call, env, sc)

    def check_ce(self, call: ast.Call, env: Env, sc: Scope) -> None:
        fv = self.evaluate(call.func, env, sc)
        if fv.kind == REF:
            if fv.qual in api.CE_FUNCS:
                value = self.first_arg(call, env, sc)
                if value.binding is not None:
                    sc.ce_bindings.setdefault(value.binding, call.lineno)
            elif fv.qual == "torch.log" and call.args:
                self.check_log_of(call, self.evaluate(call.args[0], env, sc), sc)
            elif fv.qual == "torch.mean" and len(call.args) == 1 and not call.keywords:
                self.check_mean(call, self.evaluate(call.args[0], env, sc), sc)
        elif fv.kind == INSTANCE and fv.qual == api.CE_MODULE:
            value = self.first_arg(call, env, sc)
            if value.binding is not None:
                sc.ce_bindings.setdefault(value.binding, call.lineno)

    def check_log_of(self, call: ast.Call, value: Val, sc: Scope) -> None:
        if value.kind == PROB and value.how in ("softmax", "sigmoid"):
            better = "F.log_softmax(...)" if value.how == "softmax" else "F.logsigmoid(...)"
            self.report(
                sc,
                "KLV007",
                call,
                f"log of {value.how} ({value.where()}) underflows to -inf for small "
                f"probabilities: use `{better}`",
            )

    def check_mean(self, call: ast.Call, value: Val, sc: Scope) -> None:
        if value.kind == KL_NONE:
            self.report(
                sc,
                "KLV005",
                call,
                "`.mean()` over every element of a `kl_div(..., reduction='none')` divides by "
                "the number of elements, not the batch size: use `.sum(-1).mean()` or "
                "`reduction='batchmean'`",
            )


def _call_operands(call: ast.Call) -> tuple[ast.expr | None, ast.expr | None]:
    """``(input, target)`` of a module call such as ``criterion(input, target)``."""
    operands: dict[str, ast.expr | None] = {"input": None, "target": None}
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    if len(positional) != len(call.args):
        return None, None
    for name, arg in zip(("input", "target"), positional, strict=False):
        operands[name] = arg
    for keyword in call.keywords:
        if keyword.arg in operands:
            operands[keyword.arg] = keyword.value
    return operands["input"], operands["target"]


def _is_sum_of(expr: ast.expr, of: ast.expr) -> bool:
    """``x.sum(...)`` or ``torch.sum(x, ...)`` with the same ``x`` as the numerator."""
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr == "sum":
        if isinstance(func.value, ast.Name) and func.value.id == "torch":
            return bool(expr.args) and ast.dump(expr.args[0]) == ast.dump(of)
        return ast.dump(func.value) == ast.dump(of)
    return False


def _is_logsumexp_of(expr: ast.expr, of: ast.expr) -> bool:
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr == "logsumexp":
        if isinstance(func.value, ast.Name) and func.value.id == "torch":
            return bool(expr.args) and ast.dump(expr.args[0]) == ast.dump(of)
        return ast.dump(func.value) == ast.dump(of)
    return False
