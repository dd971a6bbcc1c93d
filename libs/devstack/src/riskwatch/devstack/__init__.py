"""RiskWatch devstack: real PostgreSQL and Kafka as local processes, service supervision,
pytest fixtures, and the `riskwatch-devstack` CLI for the distributed mode on one machine."""
