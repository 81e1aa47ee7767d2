"""The package's architecture, checked: layers import only from the layers before them, no import
cycles, no module much over 400 lines, and the heavy libraries load only when used.

The layers, in order: the base modules (errors, validate, limits, files, npz) -> net/ (the
declaration) -> calculus/ -> verify/ -> views/ -> codegen/ -> export/ -> runtime/ -> io/ -> parallel/ -> cli/. The
package's ``__init__`` and ``__main__`` sit on top: they name what the layers define.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import symgrad as sg

PACKAGE = Path(sg.__file__).resolve().parent
LAYERS = (
    "net", "calculus", "verify", "views", "codegen", "export", "runtime", "io", "parallel", "cli",
)  # fmt: skip
TOP = {"", "__main__"}  # symgrad/__init__.py and symgrad/__main__.py

# Lazy hooks that reach a later layer from inside a method, by design: display hooks, the
# Derivation's conveniences d.check(), d.to_text(), d.explain()... that hand it to the judge or
# the view that owns the work, and GeneratedModule.compile(), which hands it to the runtime.
LAZY_HOOKS = {"check", "to_text", "to_markdown", "to_latex", "to_html", "explain", "compile"}
MAX_LINES = 420  # "about 400"


def layer_of(module: str) -> int:
    """0 for the base modules, 1.. for the layers in order, above all of them for the top."""
    if module in TOP:
        return len(LAYERS) + 1
    head = module.split(".")[0]
    return LAYERS.index(head) + 1 if head in LAYERS else 0


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[str, str | None, bool]]:
    """``(module imported, enclosing function or None, under TYPE_CHECKING)`` for each import of
    a symgrad module in ``path``, named relative to the package (``"net.ops"``)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]

    def targets(node: ast.ImportFrom | ast.Import) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name[len("symgrad.") :] for a in node.names if a.name.startswith("symgrad.")]
        if node.level == 0:
            if node.module is None or not node.module.startswith("symgrad"):
                return []
            return [node.module[len("symgrad.") :] if node.module != "symgrad" else ""]
        base = package.split(".") if package else []
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        if node.module:
            return [".".join([*base, node.module])]
        return [".".join([*base, a.name]) for a in node.names]  # from . import x

    def walk(
        node: ast.AST, function: str | None, typing_only: bool
    ) -> Iterator[tuple[str, str | None, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in targets(child):
                    yield target, function, typing_only
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(child, child.name, typing_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from walk(child, function, True)
            else:
                yield from walk(child, function, typing_only)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), None, False)


def test_the_walk_sees_the_package() -> None:
    names = {module_name(p) for p in modules()}
    assert {"net.network", "calculus.backprop", "codegen.printer", "cli"} <= names
    found = {t for t, _, _ in imports(PACKAGE / "calculus" / "derivation.py")}
    assert "net.network" in found and "calculus.backprop" in found


def test_each_layer_imports_only_from_the_layers_before_it() -> None:
    upward = []
    for path in modules():
        me = module_name(path)
        for target, function, typing_only in imports(path):
            if typing_only or layer_of(target) <= layer_of(me):
                continue
            if function is not None and (function.startswith("_repr_") or function in LAZY_HOOKS):
                continue
            upward.append(f"{me} imports {target}" + (f" in {function}()" if function else ""))
    assert upward == [], "imports of a later layer:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    """Among the imports a module runs when it is imported (not those inside functions)."""
    names = {module_name(p) for p in modules()}
    graph: dict[str, set[str]] = {}
    for path in modules():
        me = module_name(path)
        graph[me] = {
            t
            for t, function, typing_only in imports(path)
            if function is None and not typing_only and t in names and t != me
        }
        # importing a.b.c imports its packages a and a.b first
        graph[me] -= {me.rsplit(".", 1)[0]} if "." in me else set()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_is_much_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def run_python(code: str, tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()[-1]


HEAVY = "sorted(m for m in ('sympy', 'numba', 'jinja2') if m in sys.modules)"


def test_import_symgrad_loads_no_sympy_numba_or_jinja2(tmp_path: Path) -> None:
    code = f"""
        import sys
        import symgrad as sg
        sg.__version__, sg.SGD(lr=0.1), sg.Network, sg.Dense, sg.load_spec
        print({HEAVY})
    """
    assert run_python(code, tmp_path) == "[]"


def test_declaring_a_network_of_builtins_loads_no_sympy(tmp_path: Path) -> None:
    code = f"""
        import sys
        import symgrad as sg
        net = sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy")
        net.to_dict(), net.describe()
        print({HEAVY})
    """
    assert run_python(code, tmp_path) == "[]"


def test_loading_a_saved_model_to_predict_and_train_loads_no_sympy_or_jinja2(
    tmp_path: Path,
) -> None:
    """The module is in the cache (this process compiled it); a new process loads the weights,
    predicts and trains without SymPy or Jinja2 (Numba runs the module)."""
    net = sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy")
    model = sg.compile(net, sg.Adam(lr=0.01))
    weights = tmp_path / "xor.npz"
    model.save(weights)
    code = f"""
        import sys
        import numpy as np
        import symgrad as sg
        model = sg.Model.load({str(weights)!r})
        X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        Y = np.array([[0.0], [1.0], [1.0], [0.0]])
        model.predict(X)
        model.fit(X, Y, epochs=2, batch_size=4, progress=False)
        print([m for m in ('sympy', 'jinja2') if m in sys.modules])
    """
    assert run_python(code, tmp_path) == "[]"


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_is_a_folder_with_a_docstring(layer: str) -> None:
    init = PACKAGE / layer / "__init__.py"
    assert init.is_file()
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{layer}/ says nothing"
