"""Timer lateness: how late each timer a claim fires starts after its due time.

A claim that fires a timer (a sleep's end, a delayed or scheduled start, a retry) says
how late it is (:attr:`ClaimedRun.late_by`, measured by the store against the claim's own
``now``). The runtime counts these per minute and bucket and a worker adds the counts to
the store every few seconds (:meth:`Lateness.flush`), where ``/metrics``, the dashboard
and the ``timers.late`` alert read them across every worker.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from tidings.alerting import LATENESS_KEEP, lateness_bucket
from tidings.store.base import Store

log = logging.getLogger("tidings.worker")

FOLD_EVERY = timedelta(hours=1)

Samples = dict[tuple[datetime, int], tuple[int, float]]


class Lateness:
    """Samples of one runtime not yet written to the store (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Samples = {}
        self._folded_at: datetime | None = None

    def observe(self, seconds: float, at: datetime) -> None:
        key = (at.replace(second=0, microsecond=0), lateness_bucket(seconds))
        with self._lock:
            count, total = self._pending.get(key, (0, 0.0))
            self._pending[key] = (count + 1, total + seconds)

    def _take(self) -> Samples:
        with self._lock:
            taken, self._pending = self._pending, {}
        return taken

    def _give_back(self, samples: Samples) -> None:
        with self._lock:
            for key, (count, total) in samples.items():
                c, t = self._pending.get(key, (0, 0.0))
                self._pending[key] = (c + count, t + total)

    def flush(self, store: Store, worker_id: str, now: datetime) -> None:
        """Write what was observed (kept for the next flush if the store fails), and
        once an hour fold old minutes into the totals. On the database thread."""
        samples = self._take()
        try:
            store.monitoring.add_lateness(worker_id, samples)
        except Exception:
            self._give_back(samples)
            raise
        if self._folded_at is None or now - self._folded_at >= FOLD_EVERY:
            store.monitoring.fold_lateness(now - LATENESS_KEEP)
            self._folded_at = now
