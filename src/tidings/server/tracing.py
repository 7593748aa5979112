"""The caller's trace for the runs an API request creates (W3C ``traceparent``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request

from tidings import telemetry


@contextmanager
def caller_trace(request: Request) -> Iterator[None]:
    """Runs created inside join the trace of the request's ``traceparent`` header.

    An instrumented server (e.g. opentelemetry-instrumentation-fastapi) has already made
    its own span, a child of that header, current: then that span is the parent. Without
    the header, or without OpenTelemetry, nothing changes.
    """
    if telemetry.current_traceparent() is not None:
        yield
        return
    with telemetry.remote_parent(request.headers.get("traceparent")):
        yield
