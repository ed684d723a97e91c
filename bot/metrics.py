"""Prometheus metrics of one process, served at GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbound = Counter(
            "cisono_inbound_total", "Messages received", ["channel"], registry=self.registry
        )
        self.sent = Counter(
            "cisono_sent_total",
            "Messages accepted by a platform",
            ["channel"],
            registry=self.registry,
        )
        self.failed = Counter(
            "cisono_failed_total", "Messages given up on", ["channel"], registry=self.registry
        )
        self.retried = Counter(
            "cisono_retried_total", "Sends to try again later", ["channel"], registry=self.registry
        )
        self.send_seconds = Histogram(
            "cisono_send_seconds",
            "Time a platform took to accept a message",
            ["channel"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "cisono_outbox_depth",
            "Messages waiting in the outbox",
            ["channel", "priority"],
            registry=self.registry,
        )
