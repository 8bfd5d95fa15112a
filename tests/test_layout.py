"""The layers stay apart: the library imports neither the page nor export/, the page never imports
export/, no package imports in a circle, and app.py stays wiring."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rnn_demo", "page", "export")
FORBIDDEN = {"rnn_demo": {"page", "export", "app"}, "page": {"export", "app"}, "export": {"app"}}


def imports(path: Path) -> set[str]:
    """Fully qualified modules `path` imports (relative imports resolved), at any depth of the file."""
    package = path.relative_to(ROOT).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
                found |= {module} | {f"{base}.{alias.name}" for alias in node.names if not node.module}
            elif node.module:
                found.add(node.module)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def test_no_import_runs_up_a_layer():
    wrong = [(name, m) for name, path in SOURCES.items() for m in imports(path)
             if m.split(".")[0] in FORBIDDEN[name.split(".")[0]]]
    assert wrong == [], wrong


def test_no_import_circles_between_modules():
    graph = {name: {m for m in imports(path) if m in SOURCES and m != name} for name, path in SOURCES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for name in SOURCES:
        if name not in state:
            circle = visit(name, [])
            assert circle is None, " -> ".join(circle)


def test_the_checker_sees_relative_imports():
    assert "rnn_demo.tokenizer" in imports(ROOT / "rnn_demo" / "fast_tokenizer.py")
    assert "page.views" in imports(ROOT / "page" / "handlers.py")


def test_app_py_is_wiring():
    assert len((ROOT / "app.py").read_text(encoding="utf-8").splitlines()) <= 250
