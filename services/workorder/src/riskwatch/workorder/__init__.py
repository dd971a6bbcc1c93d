"""RiskWatch workorder."""
