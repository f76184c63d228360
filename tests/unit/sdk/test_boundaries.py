"""The SDK is core (imports no layer); the example service uses only the public SDK; `__all__` is honest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import carebus.sdk

REPO = Path(__file__).resolve().parents[3]
LAYERS = ("producers", "processors", "consumers")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((REPO / "carebus" / "sdk").rglob("*.py")), ids=lambda p: p.name)
def test_the_sdk_imports_no_layer(path: Path) -> None:
    assert not {name for name in _imports(path) if name.split(".")[0] in LAYERS}


@pytest.mark.parametrize("path", sorted((REPO / "examples").rglob("*.py")), ids=lambda p: p.name)
def test_the_example_service_uses_only_the_public_sdk(path: Path) -> None:
    carebus_imports = {name for name in _imports(path) if name.split(".")[0] == "carebus"}
    assert carebus_imports <= {"carebus.sdk", "carebus.sdk.models"}


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(carebus.sdk) if not name.startswith("_")}
    modules = {"errors", "metrics", "models", "retry"}
    assert set(carebus.sdk.__all__) == public - modules
