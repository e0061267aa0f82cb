"""Shared runtime kit of the five services. It knows no business domain.

Settings, database engine and sessions, the transactional outbox and its relay, the inbox and the
consumer loop with dead-letter topics, Kafka client configuration, API-key auth, RFC 9457 problem
responses, JSON logging, Prometheus metrics, health probes and the embedded broker.
"""
