"""The catalog over HTTP: sectors, scenarios, towns, villages (ingest owns the catalog)."""
