"""The layers of DESIGN.md §Layout, read from the source with `ast`:

    web, api → http → services → core

- core imports nothing of the app (but core) and nothing of the web stack;
- services import no web framework and nothing of http, api or web, and write no API URL;
- only api/, web/, http/ and main.py import fastapi or starlette;
- web never imports api; no module imports a router module (one with a top-level `router`),
  except main.py, which wires them;
- the client (app/client, for notebooks) imports nothing of the app: only httpx, numpy, PIL and
  the standard library, so it runs against any playground and needs none of the server's stack.

A package's `__init__.py` belongs to its layer (app/client is one module, its `__init__`).

Each failure names the file and the import at fault. The checks are also run on small made-up
modules, so that a rule that could never fail is noticed.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
WEB_STACK = ("fastapi", "starlette", "jinja2", "uvicorn")
CLIENT_MAY = {"httpx", "numpy", "PIL"} | set(sys.stdlib_module_names)
FLAT = ("app", "app.main", "app.settings")  # modules in no layer


@dataclass(frozen=True)
class Module:
    name: str  # app.services.training
    tree: ast.Module

    @property
    def layer(self) -> str:
        # "core", "services"… (app.core itself: its __init__), or app.main, app.settings
        return self.name if self.name in FLAT else self.name.split(".")[1]

    def imports(self) -> list[str]:
        names: list[str] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                names.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
                # `from app.api import training` imports the module app.api.training
                names.extend(f"{node.module}.{a.name}" for a in node.names)
        return names

    def is_router(self) -> bool:
        return any(isinstance(node, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "router" for t in node.targets)
                   for node in self.tree.body)

    def strings(self) -> list[str]:
        return [n.value for n in ast.walk(self.tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def app_modules() -> list[Module]:
    modules = []
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules.append(Module(name, ast.parse(path.read_text(), filename=str(path))))
    return modules


def violations(modules: list[Module]) -> list[str]:
    routers = {m.name for m in modules if m.is_router()}
    found = []
    for m in modules:
        for name in m.imports():
            top = name.split(".")[0]
            inside = name.split(".")[1] if top == "app" and "." in name else None
            if top in WEB_STACK and m.layer not in ("api", "web", "http", "app.main"):
                found.append(f"{m.name} imports {name}: only api, web, http and main may")
            if m.layer == "core" and (top == "pydantic" or (top == "app"
                                                            and inside != "core")):
                found.append(f"{m.name} imports {name}: core imports nothing of the app")
            if m.layer == "services" and inside in ("http", "api", "web", "main"):
                found.append(f"{m.name} imports {name}: services know no HTTP")
            if m.layer == "web" and inside == "api":
                found.append(f"{m.name} imports {name}: web never imports api")
            if m.layer == "http" and inside in ("api", "web"):
                found.append(f"{m.name} imports {name}: http is below api and web")
            if m.layer == "client" and top not in CLIENT_MAY:
                found.append(f"{m.name} imports {name}: the client imports nothing of the app "
                             "(only httpx, numpy, PIL and the standard library)")
            if name in routers and m.name != "app.main":
                found.append(f"{m.name} imports {name}: routers never import routers")
        if m.layer == "services":
            found.extend(f"{m.name} writes the URL {s!r}: services know no URLs"
                         for s in m.strings() if "/api/" in s)
    return found


def test_the_app_keeps_its_layers() -> None:
    modules = app_modules()
    layers = {m.layer for m in modules}
    assert {"core", "services", "http", "api", "web", "client", "app.main"} <= layers, layers
    assert violations(modules) == []


def test_only_main_and_settings_stay_flat_in_app() -> None:
    flat = sorted(p.name for p in APP.glob("*.py"))
    assert flat == ["__init__.py", "main.py", "settings.py"], flat


def _module(name: str, source: str) -> Module:
    return Module(name, ast.parse(source))


@pytest.mark.parametrize(("name", "source", "says"), [
    ("app.core.kernels", "from app.services.images import ImageStore", "core imports nothing"),
    ("app.core.kernels", "import pydantic", "core imports nothing"),
    ("app.services.training", "from fastapi import Request", "only api, web, http"),
    ("app.services.training", "from app.http.errors import error_body", "services know no HTTP"),
    ("app.services.training", "URL = '/api/v1/training-runs'", "services know no URLs"),
    ("app.web.kernel_lab", "from app.api.images import store_upload", "web never imports api"),
    ("app.web.kernel_lab", "from app.api import shared", "web never imports api"),
    ("app.http.deps", "from app.web.charts import Series", "http is below"),
    ("app.api.kernels", "from app.api.images import router", "routers never import routers"),
    ("app.api.kernels", "from app.api import images", "routers never import routers"),
    ("app.client", "from app.services.schemas import RunOut", "the client imports nothing"),
    ("app.client", "from app import settings", "the client imports nothing"),
    ("app.client", "import torch", "the client imports nothing"),
    ("app.client", "import fastapi", "the client imports nothing"),
])
def test_each_rule_catches_its_breach(name: str, source: str, says: str) -> None:
    router = _module("app.api.images", "router = object()")
    found = violations([router, _module(name, source)])
    assert any(says in v and name in v for v in found), found


def test_allowed_imports_are_not_flagged() -> None:
    allowed = [
        _module("app.api.images", "router = object()"),
        _module("app.api.shared", "from app.services.schemas import RunOut"),
        _module("app.api.kernels", "from app.api.shared import errors\nrouter = object()"),
        _module("app.web.training", "from app.web.charts import line_chart\n"
                "from app.http.deps import JobsDep\nfrom fastapi import APIRouter"),
        _module("app.services.training", "from app.core import nets\nimport numpy"),
        _module("app.main", "from app.api import images"),
        _module("app.client", "from __future__ import annotations\nimport json\nimport httpx\n"
                "import numpy as np\nfrom PIL import Image"),
    ]
    assert violations(allowed) == []
