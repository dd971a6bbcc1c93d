"""RiskWatch embedded."""
