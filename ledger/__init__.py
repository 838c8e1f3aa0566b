"""Write side of the competency ledger: domain events, aggregates and the application service."""
