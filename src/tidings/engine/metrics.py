"""Process-wide measurements of the engine, exported by the HTTP API's ``/metrics``.

They live in tidings' own registry (not prometheus_client's global one), so an
application's metrics and ours never collide. A process without the HTTP API (a
plain ``tidings worker``) still counts them; they cost a few hundred nanoseconds a step.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

STEP_SECONDS = Histogram(
    "tidings_step_duration_seconds",
    "Wall time of ctx.step bodies executed in this process, by task and outcome.",
    ["task", "outcome"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def observe_step(task: str, ok: bool, seconds: float) -> None:
    STEP_SECONDS.labels(task=task, outcome="completed" if ok else "failed").observe(seconds)
