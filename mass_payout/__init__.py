"""Mass Payout's service layer: the ledger application, settings, wiring and the CLI."""
