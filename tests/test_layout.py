"""The layout rules of issue 10, checked from the source text (nothing is imported or executed):

(a) no import cycle in cmsi_lib (top-level and function-level imports of its own modules);
(b) every exception class cmsi_lib defines is defined in cmsi_lib/errors.py;
(c) no function in cmsi_lib is longer than 100 lines;
(d) no code cell of a chapter (chapters/**/*.md, MyST notebooks read with jupytext) is longer than 60 lines;
(e) no function-level import of cmsi_lib's own modules (imports at the top of each module);
(f) a function-level import of anything else (a heavy optional dependency) says why in a comment.

Each check is a small function over a package folder; the `*_detects_*` tests run it on a tiny
package written in a temporary folder with a known violation, so a check that finds nothing on
cmsi_lib is known to be able to find something.
"""

from __future__ import annotations

import ast
import builtins
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "cmsi_lib"
CHAPTERS = REPO / "chapters"
GENERATED = CHAPTERS / "sparc" / "galaxies"  # the atlas pages papermill writes (not chapters)
MAX_FUNCTION_LINES = 100
MAX_CELL_LINES = 60


# --- reading a package ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import statement of a package module: where it is and which package module it names."""

    source: str  # importing module, dotted (cmsi_lib.fitting)
    target: str  # imported package module, dotted (cmsi_lib.sparc); "" when outside the package
    path: Path
    line: int
    function: str | None  # enclosing function (qualified name), None at module level
    text: str


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package at `root`."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, mods: dict[str, Path]) -> bool:
    return mods.get(name, Path()).name == "__init__.py"


def _resolve(node: ast.Import | ast.ImportFrom, source: str, mods: dict[str, Path]) -> list[str]:
    """The package modules an import statement loads (names outside the package: [""])."""
    pkg_root = next(iter(mods)).split(".")[0]
    if isinstance(node, ast.Import):
        targets = []
        for alias in node.names:
            name = alias.name
            while name and name not in mods:
                name = name.rpartition(".")[0]
            targets.append(name if name.split(".")[0] == pkg_root else "")
        return targets
    if node.level:
        base = source if _is_package(source, mods) else source.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module or ""
    if base.split(".")[0] != pkg_root:
        return [""]
    # `from pkg import sub` loads the submodule `pkg.sub`; `from pkg import name` loads pkg itself
    subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
    whole = [base] if len(subs) < len(node.names) else []
    return subs + whole


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _module_imports(source: str, path: Path, mods: dict[str, Path]) -> list[Import]:
    """The import statements of one module, each with its enclosing function (None at module level)."""
    lines = path.read_text().splitlines()
    found: list[Import] = []
    todo: list[tuple[ast.AST, str | None]] = [(ast.parse(path.read_text(), filename=str(path)), None)]
    while todo:
        node, function = todo.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                text = lines[child.lineno - 1].strip()
                found += [Import(source, t, path, child.lineno, function, text) for t in _resolve(child, source, mods)]
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                todo.append((child, f"{function}.{child.name}" if function else child.name))
            elif isinstance(child, ast.ClassDef):
                todo.append((child, f"{function}.{child.name}" if function else None))
            else:
                todo.append((child, function))
    return sorted(found, key=lambda i: i.line)


def imports(root: Path) -> list[Import]:
    """Every import statement of the package at `root` (not those under `if TYPE_CHECKING:`)."""
    mods = modules(root)
    return [imp for source, path in mods.items() for imp in _module_imports(source, path, mods)]


def import_cycles(root: Path) -> list[list[Import]]:
    """One closed chain of imports for every strongly connected group of modules (Tarjan)."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports(root):
        if imp.target and imp.target != imp.source:
            edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(modules(root)):
        if v not in index:
            strongconnect(v)

    cycles = []
    for group in groups:  # a shortest path back to the start, inside the group (breadth first)
        start, members = group[0], set(group)
        prev: dict[str, Import] = {}
        queue = [start]
        while queue and start not in prev:
            v = queue.pop(0)
            for w, imp in sorted(edges.get(v, {}).items()):
                if w in members and w not in prev:
                    prev[w] = imp
                    queue.append(w)
        chain, node = [], start
        while True:
            chain.append(prev[node])
            node = prev[node].source
            if node == start:
                break
        cycles.append(chain[::-1])
    return cycles


def exception_classes(root: Path) -> list[tuple[Path, int, str]]:
    """(file, line, name) of every class of the package deriving (transitively) from BaseException.

    Bases are matched by their last name (`errors.InputError` -> `InputError`), starting from the
    builtin exceptions and growing until no new exception class is found.
    """
    classes = []
    for path in modules(root).values():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                classes.append((path, node.lineno, node.name, bases))
    known = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
    found: dict[tuple[Path, int, str], None] = {}
    grew = True
    while grew:
        grew = False
        for path, line, name, bases in classes:
            if bases & known and (path, line, name) not in found:
                found[(path, line, name)] = None
                known.add(name)
                grew = True
    return sorted(found)


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[tuple[Path, int, str, int]]:
    """(file, line, qualified name, length in lines) of every function longer than `limit` lines."""
    out = []
    for path in modules(root).values():
        todo: list[tuple[ast.AST, str]] = [(ast.parse(path.read_text(), filename=str(path)), "")]
        while todo:
            node, prefix = todo.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{prefix}{child.name}"
                    length = child.end_lineno - child.lineno + 1
                    if not isinstance(child, ast.ClassDef) and length > limit:
                        out.append((path, child.lineno, name, length))
                    todo.append((child, name + "."))
                else:
                    todo.append((child, prefix))
    return sorted(out)


def long_cells(files: list[Path], limit: int = MAX_CELL_LINES) -> list[tuple[Path, int, int, str, int]]:
    """(file, line of the cell's fence, code-cell number from 1, first line, length) of long code cells."""
    out = []
    for path in files:
        text = path.read_text()
        fences = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("```{code-cell}")]
        cells = [c for c in jupytext.reads(text, fmt="md:myst").cells if c.cell_type == "code"]
        for k, cell in enumerate(cells, start=1):
            length = len(cell.source.splitlines())
            if length > limit:
                first = next((s for s in cell.source.splitlines() if s.strip()), "")
                out.append((path, fences[k - 1] if k <= len(fences) else 0, k, first.strip()[:60], length))
    return out


def function_level_imports(root: Path) -> list[Import]:
    """Imports inside a function body, one per statement and imported package module."""
    return list(dict.fromkeys(imp for imp in imports(root) if imp.function is not None))


def _has_comment(imp: Import) -> bool:
    """A `# why` on the import's line or on the line just above it."""
    lines = imp.path.read_text().splitlines()
    here, above = lines[imp.line - 1], lines[imp.line - 2] if imp.line > 1 else ""
    return "#" in here or above.strip().startswith("#")


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def chapter_files() -> list[Path]:
    return sorted(p for p in CHAPTERS.rglob("*.md") if GENERATED not in p.parents)


# --- the rules on cmsi_lib and the chapters ------------------------------------------------------


def test_no_import_cycle():
    cycles = import_cycles(PACKAGE)
    report = [
        " -> ".join([c[0].source] + [i.target for i in c])
        + "".join(f"\n      {_rel(i.path)}:{i.line} ({i.function or 'module level'}): {i.text}" for i in c)
        for c in cycles
    ]
    assert not cycles, "import cycles in cmsi_lib:\n  " + "\n  ".join(report)


def test_every_exception_class_is_in_errors():
    elsewhere = [(p, line, name) for p, line, name in exception_classes(PACKAGE) if p != PACKAGE / "errors.py"]
    assert not elsewhere, "exception classes outside cmsi_lib/errors.py:\n  " + "\n  ".join(
        f"{_rel(p)}:{line} class {name}" for p, line, name in elsewhere
    )


def test_no_function_longer_than_100_lines():
    long = long_functions(PACKAGE)
    assert not long, f"functions longer than {MAX_FUNCTION_LINES} lines:\n  " + "\n  ".join(
        f"{_rel(p)}:{line} {name}: {n} lines" for p, line, name, n in long
    )


def test_no_chapter_code_cell_longer_than_60_lines():
    files = chapter_files()
    assert files, f"no chapters found under {CHAPTERS}"
    long = long_cells(files)
    assert not long, f"chapter code cells longer than {MAX_CELL_LINES} lines:\n  " + "\n  ".join(
        f"{_rel(p)}:{line} code cell {k} ({first!r}...): {n} lines" for p, line, k, first, n in long
    )


def test_no_function_level_import_of_cmsi_lib():
    lazy = list({(i.path, i.line): i for i in function_level_imports(PACKAGE) if i.target}.values())
    assert not lazy, "function-level imports of cmsi_lib's own modules (import them at the top):\n  " + "\n  ".join(
        f"{_rel(i.path)}:{i.line} in {i.function}(): {i.text}" for i in lazy
    )


def test_function_level_imports_say_why():
    silent = [imp for imp in function_level_imports(PACKAGE) if not imp.target and not _has_comment(imp)]
    assert not silent, "function-level imports without a comment saying why (heavy optional dependency?):\n  " + (
        "\n  ".join(f"{_rel(i.path)}:{i.line} in {i.function}(): {i.text}" for i in silent)
    )


# --- the checks themselves find what they look for ------------------------------------------------


@pytest.fixture
def toy(tmp_path):
    """A package `toy` with a -> b -> c -> a (c's import inside a function), an exception outside
    errors.py, a 101-line function and a silent lazy import of json."""
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "errors.py": "class ToyError(Exception):\n    pass\n",
        "a.py": "from . import b\nfrom .errors import ToyError\n\n\nclass Fine(ToyError):\n    pass\n",
        "b.py": "from toy.sub.c import helper\n",
        "sub/__init__.py": "",
        "sub/c.py": "def helper():\n    from .. import a  # lazy\n    import json\n    return a, json\n",
        "d.py": "from .errors import ToyError\n\n\nclass Stray(ToyError):\n    pass\n\n\nclass Plain:\n    pass\n\n\n"
        + "def long():\n"
        + "    x = 1\n" * 99
        + "    return x\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    return pkg


def test_import_cycle_check_detects_a_cycle(toy):
    (cycle,) = import_cycles(toy)
    assert {i.source for i in cycle} == {"toy.a", "toy.b", "toy.sub.c"}
    assert [i.function for i in cycle if i.source == "toy.sub.c"] == ["helper"]
    (toy / "sub" / "c.py").write_text("def helper():\n    return 1\n")
    assert import_cycles(toy) == []


def test_exception_check_finds_subclasses_through_imports(toy):
    names = {(p.name, name) for p, _, name in exception_classes(toy)}
    assert names == {("errors.py", "ToyError"), ("a.py", "Fine"), ("d.py", "Stray")}


def test_length_checks_count_def_to_last_line(toy, tmp_path):
    assert [(name, n) for _, _, name, n in long_functions(toy)] == [("long", 101)]
    assert long_functions(toy, limit=101) == []
    chapter = tmp_path / "ch.md"
    body = "".join(f"x{i} = {i}\n" for i in range(61))
    chapter.write_text(
        textwrap.dedent("""\
        ---
        jupytext:
          text_representation: {extension: .md, format_name: myst}
        kernelspec: {display_name: Python 3, language: python, name: python3}
        ---
        # T

        ```{code-cell} ipython3
        short = 1
        ```

        ```{code-cell} ipython3
        """)
        + body
        + "```\n"
    )
    assert [(line, k, n) for _, line, k, _, n in long_cells([chapter])] == [(12, 2, 61)]


def test_function_level_import_checks(toy):
    lazy = function_level_imports(toy)
    assert {(i.target, i.function) for i in lazy} == {("toy.a", "helper"), ("", "helper")}
    assert [_has_comment(i) for i in sorted(lazy, key=lambda i: i.line)] == [True, False]
