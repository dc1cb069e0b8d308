"""Self-consistency over k samples of a question, and RFT-style choice of distinct reasoning paths.

A question is kept when its majority answer has at least `min_votes` votes and at least
`min_share` of the k samples. Among the majority samples whose program agrees with their CoT,
up to `max_paths` are kept: programs are canonicalised (AST without comments and docstrings,
identifiers renamed in order of appearance, one formatting), exact canonical duplicates are
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
    """The program without comments/docstrings, identifiers renamed v0, v1, ..., one formatting.

    None when the code does not parse (it cannot be a reasoning path then).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    tree = _Canonicaliser(_imported_names(tree)).visit(tree)
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


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


class _Canonicaliser(ast.NodeTransformer):
    """Renames every name the program binds (not builtins, not imported modules); drops docstrings."""

    def __init__(self, keep: set[str]):
        self.keep = keep | set(dir(builtins))
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in self.keep:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Expr(self, node: ast.Expr):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None  # a docstring or a bare string statement
        return self.generic_visit(node)

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

    def generic_visit(self, node):
        super().generic_visit(node)
        if not isinstance(node, ast.Module) and getattr(node, "body", None) == []:  # emptied by docstring removal
            node.body.append(ast.Pass())
        return node
