"""RiskWatch reporting."""
