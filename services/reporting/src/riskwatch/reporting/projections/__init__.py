"""Read models (projections) of the other services' events, upserted idempotently."""
