"""Each public module of producers/fhir declares `__all__`, and it lists the classes and functions it defines."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import producers.fhir


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(producers.fhir.__path__, "producers.fhir."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_all_matches_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    declared = set(module.__all__)
    assert all(hasattr(module, item) for item in declared)
    own = {item for item, value in vars(module).items()
           if not item.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
           and value.__module__ == name}
    assert own <= declared, f"public but not exported: {sorted(own - declared)}"
