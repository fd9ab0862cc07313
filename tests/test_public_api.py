"""Every package's `__all__` lists exactly what it exports."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["stakes", "stakes.domain", "stakes.policy", "stakes.triage", "stakes.control",
            "stakes.gate", "stakes.ledger", "stakes.testing", "stakes.demo", "stakes.datasets",
            "stakes.evals", "stakes.models"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    public = {n for n in vars(module) if not n.startswith("_")} - {"annotations"}
    public |= {n for n in exported if n.startswith("__")}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert exported == public - submodules, sorted(exported ^ (public - submodules))
    for symbol in exported:
        assert hasattr(module, symbol)
