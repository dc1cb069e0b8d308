"""Self-consistency over k samples of a question, and RFT-style choice of distinct reasoning paths.

A question is kept when its majority answer has at least `min_votes` votes and at least
`min_share` of the k samples. Among the majority samples whose program agrees with their CoT,
up to `max_paths` are kept: programs are canonicalised (AST without comments, docstrings and dead
code, identifiers renamed in order of appearance, one formatting), exact canonical duplicates are
dropped, and paths are picked greedily to maximise their distance to those already picked.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class ConsistencyCfg:
    min_votes: int = 2
    min_share: float = 0.5
    max_paths: int = 2


def majority(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> list[list[int]]:
    """Indexes of the non-empty answers grouped into equivalence classes, largest first (ties: earliest)."""
    groups: list[list[int]] = []
    for i, a in enumerate(answers):
        if a is None or not str(a).strip():
            continue
        for g in groups:
            if same(answers[g[0]], a):
                g.append(i)
                break
        else:
            groups.append([i])
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def canonical_program(code: str) -> str | None:
    """The program without comments/docstrings and dead code, identifiers renamed v0, v1, ..., one formatting.

    None when the code does not parse (it cannot be a reasoning path then).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    tree = _Canonicaliser(_imported_names(tree)).visit(without_dead_code(tree))
    return ast.unparse(ast.fix_missing_locations(tree))


def path_distance(a: str, b: str) -> float:
    """1 - token-sequence similarity of two canonical programs (0 = identical)."""
    return 1.0 - difflib.SequenceMatcher(None, TOKEN.findall(a), TOKEN.findall(b), autojunk=False).ratio()


def pick_paths(canonicals: Sequence[str | None], max_paths: int) -> tuple[list[int], dict[int, str]]:
    """Indexes of up to `max_paths` distinct paths, and why each other index was not picked."""
    first: dict[str, int] = {}
    reasons: dict[int, str] = {}
    for i, c in enumerate(canonicals):
        if c is None:
            reasons[i] = "unparseable_program"
        elif c in first:
            reasons[i] = "duplicate_path"
        else:
            first[c] = i
    candidates = list(first.values())
    picked = candidates[:1]
    while len(picked) < max_paths and len(picked) < len(candidates):
        rest = [i for i in candidates if i not in picked]
        best = max(rest, key=lambda i: (min(path_distance(canonicals[i], canonicals[j]) for j in picked), -i))
        picked.append(best)
    reasons.update({i: "beyond_max_paths" for i in candidates if i not in picked})
    return picked, reasons


def without_dead_code(tree: ast.Module) -> ast.Module:
    """`tree` (changed in place) without code that cannot change what the program prints, to a fixpoint (one removal
    can make another name unused): pure expression statements (docstrings, bare literals and names), statements
    after return / raise / break / continue in their block, constant `if` / `while` branches never taken, `pass`
    beside other statements, and, outside class bodies, unused imports, undecorated functions never named, and
    assignments to names never read whose right side calls nothing. A name counts as read when any scope loads it,
    and none is removed when the program reads its namespace (eval, exec, locals, globals, vars, dir)."""
    before = None
    while (now := ast.dump(tree)) != before:
        before = now
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store)}
        by_name = read.isdisjoint(_NAMESPACE_READERS)
        for node in list(ast.walk(tree)):
            for name in ("body", "orelse", "finalbody"):
                block = getattr(node, name, None)
                if isinstance(block, list) and (block or name == "body"):
                    live = _live(block, read if by_name and not isinstance(node, ast.ClassDef) else None)
                    setattr(node, name, live or ([] if isinstance(node, ast.Module) or name != "body" else [ast.Pass()]))
    return tree


_NAMESPACE_READERS = frozenset({"eval", "exec", "locals", "globals", "vars", "dir"})
_EFFECTS = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
_JUMPS = (ast.Return, ast.Raise, ast.Break, ast.Continue)


def _live(block: list[ast.stmt], read: set[str] | None) -> list[ast.stmt]:
    """The statements of one block that can matter; `read`: the names any scope reads (None: remove no binding)."""
    spliced = []
    for s in block:
        if isinstance(s, ast.If) and isinstance(s.test, ast.Constant):
            spliced.extend(s.body if s.test.value else s.orelse)
        elif isinstance(s, ast.While) and isinstance(s.test, ast.Constant) and not s.test.value:
            spliced.extend(s.orelse)
        else:
            spliced.append(s)
    live = []
    for s in spliced:
        if not _dead(s, read):
            live.append(s)
        if isinstance(s, _JUMPS):
            break
    return [s for s in live if not isinstance(s, ast.Pass)] or live[:1]


def _dead(s: ast.stmt, read: set[str] | None) -> bool:
    """Whether `s` can go; prunes the unread names of an import in place."""
    if isinstance(s, ast.Expr):
        return _pure(s.value)
    if read is None:
        return False
    if isinstance(s, (ast.Import, ast.ImportFrom)):
        s.names = [a for a in s.names if a.name == "*" or (a.asname or a.name).split(".")[0] in read]
        return not s.names
    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return s.name not in read and not s.decorator_list and all(_pure(d) for d in s.args.defaults + s.args.kw_defaults if d)
    if isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = s.targets if isinstance(s, ast.Assign) else [s.target]
        names = [n for t in targets for n in ast.walk(t)]
        return (all(isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.expr_context)) for n in names)
                and not any(n.id in read for n in names if isinstance(n, ast.Name)) and (s.value is None or _pure(s.value)))
    return False


def _pure(expr: ast.expr) -> bool:
    """No call, await, yield or walrus anywhere in `expr`: evaluating it changes nothing."""
    return not any(isinstance(n, _EFFECTS) for n in ast.walk(expr))


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


class _Canonicaliser(ast.NodeTransformer):
    """Renames every name the program binds (not builtins, not imported modules), drops annotations."""

    def __init__(self, keep: set[str]):
        self.keep = keep | set(dir(builtins))
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in self.keep:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name):
        node.id = self._rename(node.id)
        return node

    def visit_arg(self, node: ast.arg):
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.name = self._rename(node.name)
        node.returns = None
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef):
        node.name = self._rename(node.name)
        return self.generic_visit(node)
