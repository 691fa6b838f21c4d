"""app/core is pure compute: it must not import the web stack or any other part of the app."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "app" / "core"
FORBIDDEN = ("fastapi", "starlette", "jinja2", "pydantic", "uvicorn")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_of_the_web_or_the_app() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 3
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            if top == "app":
                assert name.startswith("app.core"), f"{path.name} imports {name}"
