"""OpenTelemetry traces: one span per run attempt, one per step, linked to their cause.

Optional: with ``tidings[otel]`` installed and a tracer provider configured by the
application (any exporter), every attempt of a run is a span ``tidings.run <task>`` and
every step it executes a child span ``tidings.step <name>``. When a run is created under
an active span (an instrumented HTTP request, an event sent from traced code, a parent
run's step), that span's W3C ``traceparent`` is stored on the run, and each attempt's
span is its child, however much later and on whichever worker the attempt runs.

Without the package, or without a configured provider, every function here is a cheap
no-op and nothing extra is read from the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the [otel] extra is not installed
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from tidings.records import RunStatus

TRACER = "tidings"
_propagator = TraceContextTextMapPropagator() if trace is not None else None


def enabled() -> bool:
    """True when spans would be recorded: the SDK (or another) provider is configured."""
    if trace is None:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, if there is a valid one."""
    if trace is None or _propagator is None:
        return None
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def remote_parent(traceparent: str | None) -> Iterator[None]:
    """Make an incoming W3C ``traceparent`` (an HTTP header, a message attribute) the
    current context, so the runs created inside join the caller's trace.

    For servers and consumers without OpenTelemetry instrumentation of their own; a
    missing or malformed value leaves the context as it is.
    """
    if trace is None or _propagator is None or not traceparent:
        yield
        return
    from opentelemetry import context as otel_context

    extracted = _propagator.extract({"traceparent": traceparent})
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        yield
        return
    token = otel_context.attach(extracted)
    try:
        yield
    finally:
        otel_context.detach(token)


def current_ids() -> dict[str, str]:
    """``trace_id`` and ``span_id`` of the active span (hex), for log lines."""
    if trace is None:
        return {}
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}


class AttemptSpan:
    """The span of one attempt (or nothing): what the executor tells it."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def outcome(self, status: RunStatus, error: str | None = None) -> None:
        if self._span is None:
            return
        self._span.set_attribute("tidings.run.outcome", status.value)
        if error is not None:
            self._span.set_status(Status(StatusCode.ERROR, error))


@contextmanager
def attempt_span(
    run_id: str, task_id: str, attempt: int, traceparent: str | None
) -> Iterator[AttemptSpan]:
    """The current span for one attempt, a child of ``traceparent`` when there is one."""
    if trace is None or _propagator is None or not enabled():
        yield AttemptSpan()
        return
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    tracer = trace.get_tracer(TRACER)
    with tracer.start_as_current_span(
        f"tidings.run {task_id}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={"tidings.run.id": run_id, "tidings.task": task_id, "tidings.attempt": attempt},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield AttemptSpan(span)


@contextmanager
def step_span(run_id: str, name: str, attempt: int) -> Iterator[None]:
    """The current span for one execution of a step; a raising step marks it failed."""
    if trace is None or not enabled():
        yield
        return
    tracer = trace.get_tracer(TRACER)
    attributes: dict[str, str | int] = {
        "tidings.run.id": run_id,
        "tidings.step": name,
        "tidings.step.attempt": attempt,
    }
    with tracer.start_as_current_span(
        f"tidings.step {name}",
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except Exception as exc:  # signals (suspend, cancel) are not failures
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


__all__ = [
    "AttemptSpan",
    "attempt_span",
    "current_ids",
    "current_traceparent",
    "enabled",
    "remote_parent",
    "step_span",
]
