"""RiskWatch notify."""
