"""Counters and histograms for GET /metrics, in Prometheus' text exposition format (version 0.0.4).

Small enough to keep here rather than add prometheus_client: request counts by endpoint and
status, errors, batch sizes and request latency as cumulative histograms.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Cumulative buckets, sum and count, as Prometheus reads them."""

    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)       # the last is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out, running = [], 0
        for bound, n in zip((*self.buckets, "+Inf"), self.counts, strict=True):
            running += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}')
        tag = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{tag} {self.sum:.6f}", f"{name}_count{tag} {self.count}"]
        return out


class Metrics:
    """Everything /metrics reports; safe to update from the event loop and the worker thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batch_sizes = Histogram(BATCH_BUCKETS)

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[endpoint, status] += 1
            self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch(self, size: int) -> None:
        with self._lock:
            self.batch_sizes.observe(size)

    def render(self, queued: int) -> str:
        """The exposition text; `queued` is the number of requests waiting for the model now."""
        with self._lock:
            lines = ["# HELP bertkit_requests_total HTTP requests by endpoint and status code.",
                     "# TYPE bertkit_requests_total counter"]
            lines += [f'bertkit_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                      for (e, s), n in sorted(self.requests.items())]
            lines += ["# HELP bertkit_request_errors_total Requests answered with a 4xx or 5xx status.",
                      "# TYPE bertkit_request_errors_total counter"]
            errors: dict[str, int] = defaultdict(int)
            for (e, s), n in self.requests.items():
                if s >= 400:
                    errors[e] += n
            lines += [f'bertkit_request_errors_total{{endpoint="{e}"}} {n}'
                      for e, n in sorted(errors.items())]
            lines += ["# HELP bertkit_request_seconds Time from request to response.",
                      "# TYPE bertkit_request_seconds histogram"]
            for e, h in sorted(self.latency.items()):
                lines += h.lines("bertkit_request_seconds", f'endpoint="{e}"')
            lines += ["# HELP bertkit_batch_size Texts per model batch.",
                      "# TYPE bertkit_batch_size histogram"]
            lines += self.batch_sizes.lines("bertkit_batch_size")
            lines += ["# HELP bertkit_queue_requests Requests waiting for the model.",
                      "# TYPE bertkit_queue_requests gauge", f"bertkit_queue_requests {queued}"]
        return "\n".join(lines) + "\n"
