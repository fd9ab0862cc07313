"""`stakes.ledger.__all__` is exactly its public surface."""

from __future__ import annotations

import stakes.ledger


def test_all_matches_the_public_names() -> None:
    public = {name for name in vars(stakes.ledger) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(stakes.ledger, name)).__name__ == "module"}
    assert sorted(stakes.ledger.__all__) == sorted(public - modules)
    assert all(getattr(stakes.ledger, name) is not None for name in stakes.ledger.__all__)
