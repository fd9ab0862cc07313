"""Every name a triage module exports exists, and nothing private is exported."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "_context", "_decode", "_infer", "_normalize", "_rules", "_shell", "_shell_checks",
    "_shell_cmd", "_shell_facts", "_shell_lex", "_shell_tables", "_sql", "_words",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(f"stakes.triage.{name}")
    exported = module.__all__
    assert sorted(exported) == sorted(set(exported))
    for attr in exported:
        assert hasattr(module, attr), attr
        assert not attr.startswith("_")
