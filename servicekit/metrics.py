"""Prometheus metrics shared by the kit (one registry per process, labelled by service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "fsm_http_requests_total", "HTTP requests handled.", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "fsm_http_request_duration_seconds",
    "HTTP request latency.",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HTTP_QUEUED = Gauge(
    "fsm_http_requests_queued",
    "HTTP requests waiting for their turn at the admission gate.",
    ["service"],
)
HTTP_SHED = Counter(
    "fsm_http_requests_shed_total",
    "HTTP requests refused with 503 after waiting longer than the queue timeout.",
    ["service"],
)
OUTBOX_PUBLISHED = Counter("fsm_outbox_published_total", "Outbox rows published.", ["service"])
OUTBOX_PUBLISH_FAILURES = Counter(
    "fsm_outbox_publish_failures_total", "Failed outbox publish batches.", ["service"]
)
OUTBOX_BACKLOG = Gauge(
    "fsm_outbox_backlog", "Unpublished outbox rows seen by the relay.", ["service"]
)
EVENTS_CONSUMED = Counter(
    "fsm_events_consumed_total", "Events handled by a consumer.", ["service", "type", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "fsm_events_dead_lettered_total",
    "Messages this process sent to a dead-letter topic since it started.",
    ["service", "topic"],
)
CONSUMER_LAG = Gauge(
    "fsm_consumer_lag",
    "Messages of a partition the service's consumer group has not handled yet (the partition's "
    "high watermark less the offset of the next message to handle), per partition it is "
    "assigned.",
    ["service", "group", "topic", "partition"],
)
DEAD_LETTER_MESSAGES = Gauge(
    "fsm_dead_letter_messages",
    "Messages now in a dead-letter topic, read from the broker (what `fsm dead-letters` lists), "
    "so a restart does not reset it; each service reports the dead-letter topic of its own "
    "events topic.",
    ["service", "topic"],
)
BROKER_REACHABLE = Gauge(
    "fsm_broker_reachable",
    "Whether the service's Kafka broker is reachable: 1 while the service runs and reaches it, 0 "
    "from when an outage is declared (a probe confirmed a failure; `kafka.broker_unreachable` in "
    "the log) until the broker answers again.",
    ["service"],
)
BROKER_OUTAGES = Counter(
    "fsm_broker_outages_total",
    "Broker outages declared (each logged once as `kafka.broker_unreachable`), not the failed "
    "retries within one.",
    ["service"],
)
