"""Prometheus metrics of notify (served at /metrics with the shared ones); labels stay
low-cardinality: channel and outcome, never ids."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

NOTIFICATIONS = Counter(
    "rw_notifications_total",
    "Notification attempts by channel and outcome",
    ["channel", "outcome"],
)
LATENCY = Histogram(
    "rw_notification_latency_seconds",
    "From ingest accepting the reading to the notification being sent or delivered",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
