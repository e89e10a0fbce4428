"""Read models built from the ledger's events (issue #5: not built yet)."""
