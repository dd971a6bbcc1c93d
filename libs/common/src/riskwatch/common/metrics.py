"""Prometheus metrics shared by every service; served at /metrics.

Labels stay low-cardinality (group, event type, route template, status), never ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_CONSUMED = Counter(
    "rw_events_consumed_total", "Events handled by consumers", ["group", "type", "outcome"]
)
BATCH_SECONDS = Histogram(
    "rw_batch_handle_seconds",
    "Time to handle one partition batch, retries included",
    ["group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "rw_batch_records",
    "Records handed to a handler in one batch",
    ["group"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
DEAD_LETTERS = Counter("rw_dead_letters_total", "Records sent to a dead-letter topic", ["group"])
EVENTS_PUBLISHED = Counter("rw_events_published_total", "Records published", ["topic"])
OUTBOX_PUBLISH_SECONDS = Histogram(
    "rw_outbox_lag_seconds",
    "From outbox insert to publish",
    ["schema"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HTTP_REQUESTS = Counter("rw_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("rw_http_request_seconds", "HTTP request duration", ["method", "route"])
READINGS = Counter("rw_readings_total", "Readings by outcome", ["stage", "outcome"])
COMPONENT_CRASHES = Counter(
    "rw_component_crashes_total", "Background components that crashed", ["component"]
)
