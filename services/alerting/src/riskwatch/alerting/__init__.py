"""RiskWatch alerting."""
