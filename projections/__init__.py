"""Read models: exactly-once projections of the ledger's events into Postgres tables."""
