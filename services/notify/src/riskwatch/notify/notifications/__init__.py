"""Notifications: one per alarm, level, on-duty person and channel; dispatched, acknowledged."""
