"""Notices about work orders: dispatches, stage limits near and passed, loop tiers, the weekly
overdue bulletin."""
