"""Prometheus metrics of one app, in its own registry, and the middleware that records them."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Methods counted by name; any other becomes "other" (a label per made-up method would grow
# the series without bound).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Buckets sized for a linear model: most requests take a few milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """Requests, latency, comments scored and decisions by label."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "moderate_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "moderate_request_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.comments = Counter(
            "moderate_comments_scored", "Comments scored.", registry=self.registry
        )
        self.decisions = Counter(
            "moderate_decisions",
            "Decisions taken, by label and decision.",
            ["label", "decision"],
            registry=self.registry,
        )
        self.heavy = Gauge(
            "moderate_heavy_requests_scoring",
            "Explained or large requests being scored now (each in its own lane).",
            registry=self.registry,
        )
        self.reloads = Counter(
            "moderate_model_reloads",
            "Model reloads, by result (loaded or refused).",
            ["result"],
            registry=self.registry,
        )

    def scored(self, decisions: Iterable[Mapping[str, str]]) -> None:
        """Count a batch of comments and their decisions (one lookup per label/decision pair)."""
        tally: Tally[tuple[str, str]] = Tally()
        n = 0
        for per_label in decisions:
            n += 1
            tally.update(per_label.items())
        self.comments.inc(n)
        for (label, decision), count in tally.items():
            self.decisions.labels(label, decision).inc(count)


class MetricsMiddleware:
    """Times every request and counts it by route template (never by raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record route, status and latency around the wrapped app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(route, method, str(status)).inc()
