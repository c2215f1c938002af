"""Global quota: the catalogue, the ledger, and the optional push to regions."""
