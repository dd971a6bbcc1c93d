"""Alarms: one per device and rule while active; raised, escalated, cleared."""
