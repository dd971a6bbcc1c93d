"""RiskWatch devstack."""
