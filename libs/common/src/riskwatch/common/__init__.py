"""RiskWatch common."""
