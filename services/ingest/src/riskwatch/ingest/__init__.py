"""RiskWatch ingest."""
