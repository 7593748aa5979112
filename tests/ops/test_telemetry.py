"""OpenTelemetry spans per attempt and step, trace context carried into runs; JSON logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.conftest import START
from tests.contract.notify_support import write_templates
from tests.server.harness import client, new_key, serving
from tests.server.harness import wait_until as wait_for
from tidings import Context, Retry, RunStatus, Tidings, telemetry
from tidings.logs import JsonFormatter
from tidings.testing import TestEngine

from .conftest import APP, cli_env, wait_until, worker_process
from .opsapp import make_app


class _Switch(SpanProcessor):
    """Forwards spans to the exporter only while a test of this module wants them."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.on = False

    def on_start(self, span: Span, parent_context: OtelContext | None = None) -> None:
        if self.on:
            self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)


_EXPORTER = InMemorySpanExporter()
_SWITCH = _Switch(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    # The global provider can be set once per process: set it on first use, and let
    # the switch decide whether anything is kept.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_SWITCH)
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _SWITCH.on = True
    try:
        yield _EXPORTER
    finally:
        _SWITCH.on = False
        _EXPORTER.clear()


def _named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time or 0)


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _id(span: Any) -> int:
    return int(span.get_span_context().span_id)


async def test_attempt_and_step_spans_are_children_of_the_trigger(
    app: Tidings, spans: InMemorySpanExporter
) -> None:
    @app.task
    async def traced(ctx: Context, payload: dict[str, Any]) -> int:
        a = await ctx.step("add", lambda: payload["x"] + 1)
        return int(await ctx.step("double", lambda: a * 2))

    tracer = trace.get_tracer("test")
    async with TestEngine(app, start=START) as t:
        with tracer.start_as_current_span("POST /api/v1/tasks/traced/trigger") as request:
            h = await t.trigger("traced", {"x": 1})
        await t.advance(timedelta(0))
        assert (await t.get_run(h.id)).result == 4
    ctx = request.get_span_context()
    stored = app.store.runs.traceparent(h.id)
    assert stored is not None
    assert stored.startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")  # then flags

    finished = spans.get_finished_spans()
    (attempt,) = _named(finished, "tidings.run traced")
    assert attempt.context is not None
    assert attempt.context.trace_id == ctx.trace_id
    assert _parent_id(attempt) == ctx.span_id
    assert attempt.attributes is not None
    assert attempt.attributes["tidings.run.id"] == h.id
    assert attempt.attributes["tidings.run.outcome"] == "COMPLETED"
    steps = _named(finished, "tidings.step add") + _named(finished, "tidings.step double")
    assert [_parent_id(s) for s in steps] == [attempt.context.span_id] * 2
    assert all(s.status.status_code is StatusCode.UNSET for s in steps)


async def test_every_attempt_is_a_span_and_failures_are_marked(
    app: Tidings, spans: InMemorySpanExporter
) -> None:
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("provider down")
        return "ok"

    @app.task(retry=Retry(max_attempts=3, initial=1, jitter=False))
    async def retried(ctx: Context, payload: None) -> str:
        await ctx.sleep(timedelta(minutes=5))
        return str(await ctx.step("call", flaky))

    tracer = trace.get_tracer("test")
    async with TestEngine(app, start=START) as t:
        with tracer.start_as_current_span("cron tick") as tick:
            h = await t.trigger("retried")
        await t.advance(timedelta(minutes=10))
        assert (await t.get_run(h.id)).status is RunStatus.COMPLETED
    finished = spans.get_finished_spans()
    attempts = _named(finished, "tidings.run retried")
    # sleep (WAITING), failed step (retry, QUEUED), then success: three attempts, all
    # children of the span that triggered the run an engine-hour earlier.
    assert [a.attributes["tidings.run.outcome"] for a in attempts if a.attributes] == [
        "WAITING",
        "QUEUED",
        "COMPLETED",
    ]
    assert {_parent_id(a) for a in attempts} == {_id(tick)}
    assert [a.status.status_code for a in attempts] == [
        StatusCode.UNSET,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert attempts[1].status.description == "ConnectionError: provider down"
    failed, succeeded = _named(finished, "tidings.step call")
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]
    assert succeeded.status.status_code is StatusCode.UNSET


async def test_events_and_child_runs_carry_the_trace(
    app: Tidings, spans: InMemorySpanExporter
) -> None:
    @app.task(on_event="user.registered")
    async def welcome(ctx: Context, payload: dict[str, Any]) -> str:
        return str(await ctx.trigger("send-mail", {"to": payload["id"]}))

    @app.task(id="send-mail")
    async def send_mail(ctx: Context, payload: dict[str, Any]) -> str:
        return str(await ctx.step("deliver", lambda: payload["to"]))

    tracer = trace.get_tracer("test")
    async with TestEngine(app, start=START) as t:
        with tracer.start_as_current_span("POST /api/v1/events") as request:
            receipt = await t.send_event("user.registered", {"id": "u1"})
        await t.advance(timedelta(0))
        await t.advance(timedelta(0))
        assert (await t.get_run(receipt.run_ids[0])).status is RunStatus.COMPLETED
    finished = spans.get_finished_spans()
    (parent,) = _named(finished, "tidings.run welcome")
    (child,) = _named(finished, "tidings.run send-mail")
    assert _parent_id(parent) == _id(request)
    assert _parent_id(child) == _id(parent)  # triggered inside the parent's attempt
    assert child.context is not None
    assert child.context.trace_id == request.get_span_context().trace_id


async def test_a_run_created_outside_a_trace_starts_its_own(
    app: Tidings, spans: InMemorySpanExporter
) -> None:
    @app.task
    async def lone(ctx: Context, payload: None) -> None:
        await ctx.step("s", lambda: None)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger("lone")
        await t.advance(timedelta(0))
    assert app.store.runs.traceparent(h.id) is None
    (attempt,) = _named(spans.get_finished_spans(), "tidings.run lone")
    assert attempt.parent is None


async def test_json_log_lines_carry_run_and_step(app: Tidings) -> None:
    user_log = logging.getLogger("userapp")

    def fetch() -> int:
        user_log.info("fetching inside the step")
        return 7

    @app.task
    async def logged(ctx: Context, payload: None) -> int:
        ctx.logger.info("before the step")
        value = int(await ctx.step("fetch", fetch))
        user_log.warning("after the step")
        return value

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        user_log.info("outside any run")
        async with TestEngine(app, start=START) as t:
            h = await t.trigger("logged")
            await t.advance(timedelta(0))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    by_message = {line["message"]: line for line in lines}
    outside = by_message["outside any run"]
    assert "run_id" not in outside
    inside = by_message["fetching inside the step"]
    assert (inside["run_id"], inside["task_id"], inside["step"]) == (h.id, "logged", "fetch")
    assert inside["attempt"] == 1
    after = by_message["after the step"]
    assert (after["run_id"], after["step"], after["level"]) == (h.id, None, "WARNING")
    before = next(m for m in by_message if m.endswith("before the step"))
    assert by_message[before]["run_id"] == h.id


@pytest.mark.parametrize("how", ["flag", "env"])
def test_worker_writes_json_logs(tmp_path: Path, how: str) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    app = make_app(url)
    run_id = app.trigger("churn", {"n": 7}).id
    flags: tuple[str, ...] = ("--log-format", "json")
    env = cli_env()
    if how == "env":
        flags, env = (), cli_env(TIDINGS_LOG_FORMAT="json")
    with worker_process(url, tmp_path, *flags, env=env):
        wait_until(lambda: app.get_run(run_id).status is RunStatus.COMPLETED, 60, "the run")
    app.close()
    text = (tmp_path / "worker.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(lines) == len([line for line in text.splitlines() if line.strip()])  # all JSON
    in_step = [line for line in lines if line["message"] == "step first of item 7"]
    assert [(line["run_id"], line["step"]) for line in in_step] == [(run_id, "first")]
    done = [line for line in lines if line["message"].endswith("item 7 done")]
    assert [(line["run_id"], line["step"]) for line in done] == [(run_id, None)]
    assert any("worker" in line["message"] and "run_id" not in line for line in lines)
    assert APP  # the worker ran the opsapp


async def test_an_incoming_traceparent_is_carried_into_the_run(
    app: Tidings, spans: InMemorySpanExporter
) -> None:
    @app.task
    async def from_api(ctx: Context, payload: None) -> None:
        await ctx.step("s", lambda: None)

    upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with TestEngine(app, start=START) as t:
        with telemetry.remote_parent(upstream):
            h = await t.trigger("from-api")
        with telemetry.remote_parent("not a traceparent"):
            plain = await t.trigger("from-api")
        await t.advance(timedelta(0))
    assert app.store.runs.traceparent(h.id) == upstream
    assert app.store.runs.traceparent(plain.id) is None
    attempt = next(
        s
        for s in spans.get_finished_spans()
        if s.attributes
        and s.attributes["tidings.run.id"] == h.id
        and s.name.startswith("tidings.run")
    )
    assert attempt.context is not None
    assert f"{attempt.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert _parent_id(attempt) == 0xB7AD6B7169203331


def test_an_unknown_log_format_is_one_clear_error(tmp_path: Path) -> None:
    from .conftest import fails, run_cli

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    err = fails(
        run_cli("worker", "--app", APP, "--database-url", url, "--log-format", "xml", cwd=tmp_path)
    )
    assert "log format 'xml' is not one of: text, json" in err


async def test_api_requests_with_a_traceparent_start_runs_in_the_callers_trace(
    make_app: Callable[..., Tidings], tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    app = make_app(templates=write_templates(tmp_path / "templates"), sandbox=False)
    app.notification_type("alert", channels=("in_app",))

    @app.task(on_event="order.placed")
    async def on_order(ctx: Context, payload: Any) -> None:
        await ctx.step("s", lambda: None)

    @app.task
    async def direct(ctx: Context, payload: Any) -> None:
        await ctx.step("s", lambda: None)

    app.recipients.upsert("u1")
    key = new_key(app)
    traces = {
        name: f"00-{n:032x}-{n + 1000:016x}-01"
        for n, name in enumerate(("event", "inngest", "trigger", "notify", "none"), 1)
    }
    with serving(app) as base, client(base, key) as c:
        runs: dict[str, str] = {}

        def post(name: str, url: str, body: Any) -> Any:
            headers = {"traceparent": traces[name]} if name != "none" else {}
            r = c.post(url, json=body, headers=headers)
            assert r.status_code in (200, 201, 202), r.text
            return r.json()

        runs["event"] = post("event", "/api/v1/events", {"name": "order.placed", "payload": 1})[
            "runIds"
        ][0]
        post("inngest", f"/e/{key}", {"name": "order.placed", "data": {"n": 2}})
        runs["trigger"] = post("trigger", "/api/v1/tasks/direct/trigger", {"payload": 3})["id"]
        runs["notify"] = post(
            "notify", "/api/v1/notifications", {"type": "alert", "to": "u1", "data": {"name": "A"}}
        )["run_id"]
        runs["none"] = post("none", "/api/v1/tasks/direct/trigger", {"payload": 4})["id"]
        (inngest_run,) = [
            r.id
            for r in app.list_runs(task_id="on-order")
            if r.id != runs["event"]  # the one /e/{key} started
        ]
        runs["inngest"] = inngest_run
        w = app.worker(concurrency=4, poll_interval=0.05)
        working = asyncio.create_task(w.run())
        try:
            await wait_for(
                lambda: all(app.get_run(r).status is RunStatus.COMPLETED for r in runs.values())
            )
        finally:
            w.stop()
            await working
    finished = spans.get_finished_spans()
    attempts = {
        s.attributes["tidings.run.id"]: s
        for s in finished
        if s.attributes and s.name.startswith("tidings.run ")
    }
    for name, run_id in runs.items():
        span = attempts[run_id]
        assert span.context is not None
        trace_id, parent = traces[name].split("-")[1:3]
        if name == "none":  # its own trace
            assert f"{span.context.trace_id:032x}" not in {t.split("-")[1] for t in traces.values()}
            continue
        assert f"{span.context.trace_id:032x}" == trace_id, name
        # the caller's span is the attempt's parent, or the parent of the server's
        # own request spans when FastAPI records them (FastAPI >= 0.16x does)
        assert int(parent, 16) in _ancestors(span, finished), name


def _ancestors(span: ReadableSpan, finished: Sequence[ReadableSpan]) -> list[int]:
    by_id = {s.context.span_id: s for s in finished if s.context is not None}
    found = []
    while span.parent is not None:
        found.append(span.parent.span_id)
        if span.parent.span_id not in by_id:
            break
        span = by_id[span.parent.span_id]
    return found


def test_caller_trace_makes_the_header_the_parent_of_new_runs(
    app: Tidings, spans: InMemorySpanExporter
) -> None:
    """Without FastAPI's own request spans the header itself becomes the context."""
    from starlette.requests import Request

    from tidings.server.tracing import caller_trace

    @app.task
    async def plain(ctx: Context, payload: Any) -> None:
        return None

    header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    traced = Request({"type": "http", "headers": [(b"traceparent", header.encode())]})
    with caller_trace(traced):
        inside = app.trigger("plain")
    with caller_trace(Request({"type": "http", "headers": [(b"traceparent", b"garbage")]})):
        bad = app.trigger("plain")
    outside = app.trigger("plain")
    assert app.store.runs.traceparent(inside.id) == header
    assert app.store.runs.traceparent(bad.id) is None
    assert app.store.runs.traceparent(outside.id) is None
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("instrumented request") as own, caller_trace(traced):
        nested = app.trigger("plain")  # an instrumented server's span wins over the header
    ctx = own.get_span_context()
    stored = app.store.runs.traceparent(nested.id)
    assert stored is not None
    assert stored.startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")  # then flags
