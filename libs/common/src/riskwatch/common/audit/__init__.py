"""The audit trail (seed 004): records produced by every service (`emit`), stored by one owner
in an append-only, hash-chained table (`store`), read by the audit administrator only."""
