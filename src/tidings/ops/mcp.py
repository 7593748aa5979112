"""``tidings mcp``: the app as a Model Context Protocol server over stdio.

Built on the official ``mcp`` SDK. An AI assistant connected to it can list the app's
tasks and read each one's payload JSON Schema (resources), trigger runs with validated
payloads, send events, list runs, read a run's steps and log lines, cancel and replay
(one run, from a step, or every run a filter matches).
It is a client of the database like ``tidings trigger``: runs are executed by the
environment's workers, not by this process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tidings import __version__
from tidings.app import Tidings
from tidings.errors import TidingsError
from tidings.handle import BroadcastHandle
from tidings.jsonview import bulk_to_json, run_to_json
from tidings.notify.answers import waiting
from tidings.records import BulkAction
from tidings.records.notify import Topic
from tidings.tasks import TaskDef

T = TypeVar("T")
INSTRUCTIONS = (
    "tidings runs durable workflows. Read a task's payload schema resource before "
    "triggering it. Runs are executed by the environment's workers; poll get_run to "
    "follow one (status QUEUED, RUNNING, WAITING, COMPLETED, FAILED or CANCELLED)."
)


def schema_uri(task_id: str) -> str:
    return f"tidings://tasks/{task_id}/payload-schema"


def payload_schema(task: TaskDef) -> dict[str, Any]:
    """The JSON Schema a task's payload must match (its annotation's, if annotated)."""
    if not task.takes_payload:
        return {"title": task.id, "type": "null", "description": "This task takes no payload."}
    schema = task.payload_schema()
    if schema is not None:
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return {
        "title": task.id,
        "description": "Any JSON value: the task's payload is not annotated with a type.",
    }


def _summary(task: TaskDef) -> dict[str, Any]:
    doc = (task.fn.__doc__ or "").strip().splitlines()
    return {
        "id": task.id,
        "description": doc[0] if doc else "",
        "queue": task.queue,
        "priority": task.priority,
        "on_event": list(task.on_event),
        "cron": task.schedule.expression if task.schedule is not None else None,
        "payload_schema": schema_uri(task.id),
    }


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking app call in a thread; tidings' errors become tool errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except TidingsError as exc:
        raise ToolError(f"{type(exc).__name__}: {exc}") from None


def build_server(app: Tidings) -> MCPServer:
    """An MCP server exposing ``app``: nineteen tools, one schema resource per task."""
    server: MCPServer = MCPServer(
        "tidings", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    @server.tool()
    async def list_tasks() -> list[dict[str, Any]]:
        """The app's tasks: id, description, queue, events that start them, cron, and
        the URI of their payload schema."""
        return [_summary(t) for t in sorted(app.tasks.values(), key=lambda t: t.id)]

    @server.tool()
    async def trigger_task(
        task_id: str,
        payload: Any = None,
        idempotency_key: str | None = None,
        delay_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Start a run of a task. The payload is validated against the task's schema;
        an invalid one creates no run. Returns the run id."""
        handle = await _call(
            app.trigger, task_id, payload, idempotency_key=idempotency_key, delay=delay_seconds
        )
        return {"run_id": handle.id, "created": handle.created}

    @server.tool()
    async def send_event(name: str, data: Any = None, id: str | None = None) -> dict[str, Any]:
        """Send an event: starts the tasks listening for it and resumes runs waiting for
        it. An event id already sent is accepted once."""
        receipt = await _call(app.send_event, name, data, id=id)
        return {
            "event_id": receipt.event_id,
            "run_ids": list(receipt.run_ids),
            "accepted": receipt.accepted,
        }

    @server.tool()
    async def list_runs(
        task_id: str | None = None, status: list[str] | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Runs, newest first, optionally of one task and with some statuses (QUEUED,
        RUNNING, WAITING, COMPLETED, FAILED, CANCELLED). Without steps: see get_run."""
        runs = await _call(app.list_runs, task_id, status, limit)
        return [run_to_json(r, steps=False) for r in runs]

    @server.tool()
    async def get_run(run_id: str) -> dict[str, Any]:
        """One run with its payload, result or error, its steps and its log lines."""
        run = await _call(app.get_run, run_id)
        logs = await _call(app.get_logs, run_id)
        return dict(run_to_json(run, logs=logs))

    @server.tool()
    async def cancel_run(run_id: str) -> dict[str, Any]:
        """Cancel a queued, waiting or running run (a finished run is left as it is)."""
        run = await _call(app.cancel, run_id)
        return {"run_id": run.id, "status": run.status.value}

    @server.tool()
    async def replay_run(
        run_id: str, from_step: str | None = None, payload: Any = None
    ) -> dict[str, Any]:
        """Start a new run of the same task with the same payload (``payload`` replaces
        it). With ``from_step`` (a step name as get_run lists it) the steps the run
        completed before that one are reused, not run again: the new run starts there."""
        handle = await _call(app.replay, run_id, from_step, payload)
        return {"run_id": handle.id, "replay_of": run_id, "from_step": from_step}

    _notify_tools(server, app)
    _answer_tools(server, app)
    _bulk_tools(server, app)
    _privacy_tools(server, app)
    _retention_tools(server, app)
    for task in app.tasks.values():
        _add_schema_resource(server, task)
    return server


def _notify_tools(server: MCPServer, app: Tidings) -> None:
    """``notify`` (one recipient, a list or a topic) and ``get_broadcast``."""

    @server.tool()
    async def notify(
        type: str,
        to: str | list[str] | None = None,
        topic: str | None = None,
        data: Any = None,
        channels: list[str] | None = None,
        dedup_key: str | None = None,
    ) -> dict[str, Any]:
        """Send a notification of a declared type to one recipient (``to`` an id), a
        list of recipient ids, or every subscriber of a ``topic`` (give ``to`` or
        ``topic``). One recipient: returns the run that routes it; a list or a topic:
        the broadcast (follow it with get_broadcast). A dedup_key sends once per key."""
        if (to is None) == (topic is None):
            raise ToolError("give either to (a recipient id or a list of ids) or topic")
        target: str | list[str] | Topic = Topic(topic) if topic is not None else to  # type: ignore[assignment]
        handle = await _call(
            app.notify, type, to=target, data=data, channels=channels, dedup_key=dedup_key
        )
        if isinstance(handle, BroadcastHandle):
            return {"broadcast_id": handle.id, "run_id": handle.run_id, "created": handle.created}
        return {"run_id": handle.id, "created": handle.created}

    @server.tool()
    async def get_broadcast(broadcast_id: str) -> dict[str, Any]:
        """A broadcast's progress: total recipients, routed so far, deliveries by channel
        and status, and finished_at once every recipient is routed."""
        return (await _call(app.broadcasts.get, broadcast_id)).to_json()


def _answer_tools(server: MCPServer, app: Tidings) -> None:
    """``list_waiting``, ``complete_token`` and ``answer_question`` (issue 16)."""

    @server.tool()
    async def list_waiting(limit: int = 50) -> dict[str, Any]:
        """Open wait tokens (ctx.create_token) and open questions (ctx.ask): not yet
        completed or answered, not expired. Complete one with complete_token, answer a
        question with answer_question."""
        return await _call(waiting, app.answers, limit)

    @server.tool()
    async def complete_token(token_id: str, data: Any = None) -> dict[str, Any]:
        """Complete a wait token with data (JSON) and resume the run waiting on it.
        completed is false if it was already completed or has expired (nothing changed)."""
        done = await _call(app.complete_token, token_id, data)
        return {"id": token_id, "completed": done}

    @server.tool()
    async def answer_question(question_id: str, action: str, by: str = "mcp") -> dict[str, Any]:
        """Answer a question (ctx.ask) with one of its actions, as an operator. The first
        answer on any channel wins: outcome is answered, already or closed."""
        outcome = await _call(app.answer_question, question_id, action, by=by)
        return {"id": question_id, "outcome": outcome}


def _when(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ToolError(f"{what} must be an ISO 8601 time with a timezone, got {value!r}") from None


def _bulk_tools(server: MCPServer, app: Tidings) -> None:
    """``cancel_runs`` and ``replay_runs`` by filter, and ``get_bulk_action``."""

    async def start(
        fn: Callable[..., BulkAction],
        task_id: list[str] | None,
        status: list[str] | None,
        tags: list[str] | None,
        created_after: str | None,
        created_before: str | None,
    ) -> dict[str, Any]:
        action = await _call(
            fn,
            task=task_id,
            status=status,
            tags=tags,
            created_after=_when(created_after, "created_after"),
            created_before=_when(created_before, "created_before"),
        )
        return dict(bulk_to_json(action))

    @server.tool()
    async def cancel_runs(
        task_id: list[str] | None = None,
        status: list[str] | None = None,
        tags: list[str] | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
    ) -> dict[str, Any]:
        """Cancel every queued, running or waiting run matching the filter (runs of
        these tasks, with these statuses, carrying all these tags, created between these
        ISO 8601 times; each left out matches any). Returns a bulk action a worker carries
        out; follow it with get_bulk_action. A filter matching nothing returns total 0."""
        return await start(
            app.runs.cancel_many, task_id, status, tags, created_after, created_before
        )

    @server.tool()
    async def replay_runs(
        task_id: list[str] | None = None,
        status: list[str] | None = None,
        tags: list[str] | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
    ) -> dict[str, Any]:
        """Replay every run matching the filter (as cancel_runs), each exactly once: a
        new run of its task and payload. Returns a bulk action; follow it with
        get_bulk_action."""
        return await start(
            app.runs.replay_many, task_id, status, tags, created_after, created_before
        )

    @server.tool()
    async def get_bulk_action(bulk_id: str) -> dict[str, Any]:
        """A bulk cancel or replay: its filter, total, done, changed, progress and
        status (running, completed, failed or cancelled)."""
        return dict(bulk_to_json(await _call(app.runs.bulk_action, bulk_id)))


def _privacy_tools(server: MCPServer, app: Tidings) -> None:
    """``export_recipient`` and ``erase_recipient`` (privacy requests)."""

    @server.tool()
    async def export_recipient(recipient_id: str) -> dict[str, Any]:
        """Everything held about one recipient: profile, push tokens, preferences,
        topics, inbox, notifications, deliveries, outbox, broadcasts, and the runs,
        events and schedules that name them."""
        return await _call(app.recipients.export, recipient_id)

    @server.tool()
    async def erase_recipient(recipient_id: str, confirm: str) -> dict[str, Any]:
        """Erase everything held about one recipient; it cannot be undone. ``confirm``
        must repeat the recipient id. Returns the audit record (when, who, rows per
        table)."""
        if confirm != recipient_id:
            raise ToolError(
                "nothing erased: confirm must repeat the recipient id exactly, after the "
                "user has agreed to erase it"
            )
        return (await _call(app.recipients.erase, recipient_id, actor="mcp")).to_json()


def _retention_tools(server: MCPServer, app: Tidings) -> None:
    """``retention_status`` and ``prune``."""

    @server.tool()
    async def retention_status() -> dict[str, Any]:
        """The retention policy (how long runs, events, deliveries, outbox and inbox rows
        are kept, as text) and what the latest prune deleted (null if none yet)."""
        last = await _call(app.last_prune)
        return {
            "policy": app.retention.describe(),
            "batch": app.retention.batch,
            "last_prune": None if last is None else last.to_json(),
        }

    @server.tool()
    async def prune(dry_run: bool = True) -> dict[str, Any]:
        """Delete now what the retention policy no longer keeps (never anything an active
        run needs), in short transactions. dry_run (the default) only counts it."""
        return (await _call(app.prune, dry_run=dry_run)).to_json()


def _add_schema_resource(server: MCPServer, task: TaskDef) -> None:
    text = json.dumps(payload_schema(task), indent=2)

    def read() -> str:
        return text

    read.__name__ = f"payload_schema_{task.id}"
    server.resource(
        schema_uri(task.id),
        name=f"{task.id} payload schema",
        description=f"JSON Schema of the payload of task {task.id!r}",
        mime_type="application/schema+json",
    )(read)


def serve_stdio(app: Tidings) -> None:
    """Serve ``app`` over stdin/stdout until the client closes the connection."""
    import anyio

    server = build_server(app)
    anyio.run(server.run_stdio_async)


__all__ = ["build_server", "payload_schema", "schema_uri", "serve_stdio"]
