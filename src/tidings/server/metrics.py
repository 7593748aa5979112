"""``/metrics``: what the database says at scrape time, plus this process's counters."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from tidings.alerting import LATENESS_BUCKETS
from tidings.app import Tidings
from tidings.engine.metrics import REGISTRY as ENGINE_REGISTRY


class StoreCollector(Collector):
    """Runs by status, queue depth, the age of the oldest due run, deliveries by channel
    and status, and timer lateness across every worker, read per scrape."""

    def __init__(self, app: Tidings) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        store = self.app.store
        runs = GaugeMetricFamily(
            "tidings_runs", "Runs in the database, by status.", labels=["status"]
        )
        for status, n in sorted(store.runs.count().items(), key=lambda kv: kv[0].value):
            runs.add_metric([status.value], n)
        yield runs
        now = self.app.clock.now()
        depth, oldest = store.runs.queue_stats(now)
        yield GaugeMetricFamily(
            "tidings_queue_depth", "Queued runs due now and not yet claimed.", value=depth
        )
        age = 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
        yield GaugeMetricFamily(
            "tidings_queue_oldest_age_seconds",
            "How long the oldest due, unclaimed run has been due (0 if none).",
            value=age,
        )

        deliveries = GaugeMetricFamily(
            "tidings_deliveries",
            "Notification deliveries in the log, by channel and status.",
            labels=["channel", "status"],
        )
        for (channel, state), count in sorted(store.notifications.count_deliveries().items()):
            deliveries.add_metric([channel, state], count)
        yield deliveries
        yield lateness_histogram(store.monitoring.lateness(None))

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # collected at scrape time only


def lateness_histogram(counts: dict[int, tuple[int, float]]) -> HistogramMetricFamily:
    """``tidings_timer_lateness_seconds`` from the store's bucket counts (every worker's)."""
    buckets, running = [], 0
    for i, bound in enumerate((*LATENESS_BUCKETS, float("inf"))):
        running += counts.get(i, (0, 0.0))[0]
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
    return HistogramMetricFamily(
        "tidings_timer_lateness_seconds",
        "How late timers (sleep ends, delayed and scheduled starts, retries) started "
        "after their due time, across every worker.",
        buckets=buckets,
        sum_value=sum(total for _, total in counts.values()),
    )


def render(registry: CollectorRegistry) -> bytes:
    """The server's registry followed by the engine's (step durations)."""
    return generate_latest(registry) + generate_latest(ENGINE_REGISTRY)
