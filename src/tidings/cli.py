"""The ``tidings`` command: run workers, trigger and inspect runs, migrate the database.

User errors (anything under :class:`~tidings.errors.TidingsError`) end the command with
one red ``error: ...`` line on stderr and exit code 1; usage errors exit 2. The
rendering helpers here (:func:`render_runs_table`, :func:`follow_runs`...) are public so
the dev server and other commands draw runs the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TextIO
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.logging import RichHandler
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from tidings import __version__, redaction
from tidings.app import Tidings
from tidings.cli_ops import register as _register_ops
from tidings.cli_options import AppOpt, DbOpt, EnvOpt, JsonOpt
from tidings.config import load_app
from tidings.engine.worker import Worker
from tidings.errors import RunCancelledError, RunFailedError, TidingsError, ValidationError
from tidings.limits import readable
from tidings.logs import json_handler as json_log_handler
from tidings.logs import resolve_format as resolve_log_format
from tidings.records import ACTIVE_STATUSES, LogEntry, Run, RunStatus, Schedule, Step
from tidings.store import redact_url


def make_console(stream: TextIO, **options: Any) -> Console:
    """A rich Console for ``stream``; piped output is not squeezed into 80 columns."""
    # A pipe has no width to respect, and tables cut at 80 columns lose run ids.
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=160 if piped else None, **options)


out = make_console(sys.stdout)
err = make_console(sys.stderr, stderr=True)

cli = typer.Typer(
    name="tidings",
    help="Durable workflows: run workers, trigger and inspect runs, migrate the database.",
    no_args_is_help=True,
    add_completion=False,
    # A bug in tidings should show a plain traceback; user errors never reach typer.
    pretty_exceptions_enable=False,
)
runs_cli = typer.Typer(help="List, inspect, cancel, replay and watch runs.", no_args_is_help=True)
cli.add_typer(runs_cli, name="runs")
schedules_cli = typer.Typer(help="Inspect cron schedules.", no_args_is_help=True)
cli.add_typer(schedules_cli, name="schedules")
events_cli = typer.Typer(help="Send events.", no_args_is_help=True)
cli.add_typer(events_cli, name="events")


def _load(app_ref: str | None, database_url: str | None, env: str | None) -> Tidings:
    return load_app(app_ref, database_url=database_url, environment=env)


# -- rendering -------------------------------------------------------------------------
STATUS_STYLES: dict[RunStatus, str] = {
    RunStatus.QUEUED: "cyan",
    RunStatus.RUNNING: "bold yellow",
    RunStatus.WAITING: "magenta",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "dim",
}


def status_text(status: RunStatus) -> Text:
    """The status name in its colour."""
    return Text(status.value, style=STATUS_STYLES.get(status, ""))


def format_time(when: datetime | None, *, short: bool = False) -> str:
    """Local time to the second, or ``-``; ``short`` drops the date when it is today."""
    if when is None:
        return "-"
    try:
        local = when.astimezone()
    except (OverflowError, ValueError):  # a stored time at the edge of year 1 or 9999
        return when.strftime("%Y-%m-%d %H:%M:%S UTC")
    if short:
        today = datetime.now().astimezone().date() == local.date()
        return local.strftime("%H:%M:%S" if today else "%m-%d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def format_delta(seconds: float) -> str:
    """A short human duration: ``0.4s``, ``12s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def next_event(run: Run, now: datetime) -> str:
    """When a waiting run wakes or a queued run (maybe a retry) is due, relative to now."""
    if run.status is RunStatus.WAITING and run.wake_at is not None:
        return f"wakes in {format_delta((run.wake_at - now).total_seconds())}"
    if run.status is RunStatus.QUEUED and run.run_at is not None and run.run_at > now:
        what = "retry" if run.attempt > 1 else "starts"
        return f"{what} in {format_delta((run.run_at - now).total_seconds())}"
    return ""


def truncate(value: Any, width: int = 60) -> str:
    """Compact JSON of ``value`` cut to ``width`` characters."""
    if value is None:
        return ""
    text = json.dumps(readable(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def render_runs_table(
    runs: Sequence[Run],
    *,
    now: datetime | None = None,
    steps: bool = False,
    title: str | None = None,
) -> Table:
    """A table of runs: id, task, status, attempt, created, finished.

    With ``steps=True`` (runs fetched with their steps) it also shows how many steps
    are done and when a waiting or retrying run is next due.
    """
    now = now or datetime.now().astimezone()
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    # Ids are what people copy into the next command: never cut them short.
    table.add_column("run", no_wrap=True, min_width=len(runs[0].id) if runs else None)
    table.add_column("task", no_wrap=True)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("attempt", justify="right")
    if steps:  # live views care about what happens next more than when runs began
        table.add_column("steps", justify="right", no_wrap=True)
        table.add_column("next", no_wrap=True)
    else:
        table.add_column("created", no_wrap=True)
    table.add_column("finished", no_wrap=True)
    for run in runs:
        row: list[RenderableType] = [run.id, run.task_id, status_text(run.status), str(run.attempt)]
        if steps:
            done = sum(1 for s in run.steps if s.status == "completed")
            row += [f"{done}/{len(run.steps)}", next_event(run, now)]
        else:
            row.append(format_time(run.created_at, short=True))
        row.append(format_time(run.finished_at, short=True))
        table.add_row(*row)
    if not runs:
        table.caption = "no runs"
    return table


def render_steps_table(steps: Sequence[Step]) -> Table:
    """The steps of one run: name, kind, status, attempts, result (truncated), error."""
    table = Table(title="steps", title_justify="left", header_style="bold")
    for name in ("name", "kind", "status", "attempts", "result", "error"):
        table.add_column(name, justify="right" if name == "attempts" else "left")
    for s in steps:
        style = {"completed": "green", "failed": "red", "waiting": "magenta"}.get(s.status, "")
        table.add_row(
            s.name,
            s.kind,
            Text(s.status, style=style),
            str(s.attempts),
            truncate(s.result, 40),
            f"{s.error.type}: {s.error.message}" if s.error else "",
        )
    if not steps:
        table.caption = "no steps yet"
    return table


def render_run(run: Run, logs: Sequence[LogEntry] = ()) -> Group:
    """Everything about one run: its fields, steps table, log lines and stored traceback."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    rows: list[tuple[str, RenderableType]] = [
        ("run", run.id),
        ("task", run.task_id),
        ("status", status_text(run.status)),
        ("attempt", str(run.attempt)),
        ("queue", f"{run.queue} (priority {run.priority})"),
        ("created", format_time(run.created_at)),
        ("started", format_time(run.started_at)),
        ("finished", format_time(run.finished_at)),
    ]
    if run.wake_at is not None:
        rows.append(("wakes", format_time(run.wake_at)))
    optional = (("idempotency key", run.idempotency_key), ("replay of", run.replay_of))
    rows += [(k, v) for k, v in optional if v]
    if run.tags:
        rows.append(("tags", ", ".join(run.tags)))
    rows.append(("payload", truncate(run.payload, 500) or "null"))
    if run.status is RunStatus.COMPLETED:
        rows.append(("result", truncate(run.result, 500)))
    if run.error is not None:
        rows.append(("error", Text(f"{run.error.type}: {run.error.message}", style="red")))
    for key, value in rows:
        fields.add_row(key, value)
    parts: list[RenderableType] = [fields, Text(), render_steps_table(run.steps)]
    if logs:
        parts += [Text(), Text("logs", style="bold")]
        parts += [
            Text(f"{format_time(e.at)}  {e.level:<7} [attempt {e.attempt}] {e.message}")
            for e in logs
        ]
    if run.error is not None and run.error.traceback and run.status is RunStatus.FAILED:
        parts += [Text(), Text(run.error.traceback.rstrip(), style="dim")]
    return Group(*parts)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def run_to_json(run: Run, *, steps: bool = True, logs: Sequence[LogEntry] | None = None) -> Any:
    """A run as plain JSON values (times in ISO 8601), as ``--json`` prints it."""
    data = dataclasses.asdict(run)
    if not steps:
        del data["steps"]
    if logs is not None:
        data["logs"] = [dataclasses.asdict(e) for e in logs]
    return json.loads(json.dumps(data, default=_json_default))


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON to stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class TransitionLog:
    """Turns successive snapshots of runs into one line per change, for logs and CI."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[RunStatus, int]] = {}
        self._steps: dict[tuple[str, str], tuple[str, int]] = {}

    def changes(self, runs: Sequence[Run]) -> list[Text]:
        """Lines for whatever changed since the previous call."""
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")
        lines: list[Text] = []
        for run in sorted(runs, key=lambda r: (r.created_at, r.id)):
            head = f"{stamp}  {run.id}  {run.task_id}  "
            for step in run.steps:
                key, state = (run.id, step.name), (step.status, step.attempts)
                if self._steps.get(key) == state:
                    continue
                self._steps[key] = state
                tries = f" (attempt {step.attempts})" if step.attempts > 1 else ""
                lines.append(Text(f"{head}step {step.name} {step.status}{tries}"))
            now = (run.status, run.attempt)
            before = self._runs.get(run.id)
            if before == now:
                continue
            self._runs[run.id] = now
            line = Text(head)
            if before is not None and before[0] is not run.status:
                line.append_text(status_text(before[0])).append(" → ")
            line.append_text(status_text(run.status))
            if run.attempt > 1:
                line.append(f" (attempt {run.attempt})")
            if run.status is RunStatus.FAILED and run.error is not None:
                line.append(f": {run.error.type}: {run.error.message}", style="red")
            lines.append(line)
        return lines


def fetch_runs(
    app: Tidings,
    *,
    task_id: str | None = None,
    status: Sequence[str] | None = None,
    limit: int = 50,
    steps: bool = False,
) -> list[Run]:
    """Runs newest first, each re-read with its steps when ``steps`` is set."""
    runs = app.list_runs(task_id=task_id, status=list(status) if status else None, limit=limit)
    if not steps:
        return runs
    detailed = [app.store.get_run(r.id) for r in runs]  # one query each: fine for a screen
    return [r for r in detailed if r is not None]


async def follow_runs(
    fetch: Callable[[], list[Run]],
    *,
    render: Callable[[list[Run]], RenderableType],
    console: Console,
    until: Callable[[list[Run]], bool] | None = None,
    interval: float = 0.5,
) -> list[Run]:
    """Redraw ``render(fetch())`` every ``interval`` seconds until ``until(runs)`` holds.

    On a terminal this is a live display; otherwise (CI, a pipe) each change of status
    or step is printed as one line. Returns the last snapshot.
    """
    live = console.is_terminal
    changes = TransitionLog()
    display = Live(console=console, refresh_per_second=4) if live else contextlib.nullcontext()
    with display as view:
        while True:
            runs = await asyncio.to_thread(fetch)
            if isinstance(view, Live):
                view.update(render(runs))
            else:
                for line in changes.changes(runs):
                    console.print(line, soft_wrap=True)
            if until is not None and until(runs):
                return runs
            await asyncio.sleep(interval)


def all_finished(runs: Sequence[Run]) -> bool:
    """True when no run in ``runs`` is queued, running or waiting."""
    return all(r.status.finished for r in runs)


# -- errors ----------------------------------------------------------------------------
def print_error(message: str) -> None:
    """Print ``message`` as one red ``error: ...`` line on stderr."""
    one_line = re.sub(r"\s*\n\s*", " ", message.strip())
    err.print(Text.assemble(("error: ", "bold red"), one_line), soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tidings`` command."""
    try:
        cli(args=list(argv) if argv is not None else None, prog_name="tidings")
    except (TidingsError, OSError) as exc:
        # The single place user errors become messages: no command repeats this.
        print_error(str(exc) or type(exc).__name__)
        raise SystemExit(1) from None


# -- commands: worker and dev ----------------------------------------------------------
def configure_logging(console: Console, log_format: str | None = None) -> None:
    """Show INFO logs (worker events, ``ctx.logger`` lines): rich on a terminal, else plain;
    with ``log_format="json"`` (or ``$TIDINGS_LOG_FORMAT=json``) JSON lines on stderr."""
    handler: logging.Handler
    if resolve_log_format(log_format) == "json":
        handler = json_log_handler()
    elif console.is_terminal:
        handler = RichHandler(console=console, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[redaction.guard(handler)], force=True)


def _run_worker(
    mode: str,
    app_ref: str | None,
    database_url: str | None,
    env: str | None,
    concurrency: int,
    queues: list[str] | None,
    lease_seconds: float | None,
    poll_interval: float,
    log_format: str | None = None,
    api: tuple[str, int, str | None] | None = None,
) -> None:
    live = mode == "dev"
    configure_logging(out if live else err, log_format)
    app = _load(app_ref, database_url, env)
    if lease_seconds is not None:
        app.configure(lease=lease_seconds)
    w = app.worker(concurrency, queues, poll_interval=poll_interval)
    tasks = ", ".join(sorted(app.tasks)) or "none"
    banner = Text.assemble(
        (f"tidings {mode} ", "bold"),
        (w.id, "cyan"),
        f" · {redact_url(app.database_url)} · env {app.environment}",
        f" · concurrency {concurrency} · queues {', '.join(queues or ['all'])}",
        f" · {len(app.tasks)} tasks: {tasks}",
    )
    if live and api is not None:
        banner.append(f" · dashboard http://{api[0]}:{api[1]}/dashboard")
    if resolve_log_format(log_format) == "json":  # log shippers get JSON lines only
        logging.getLogger("tidings.cli").info(banner.plain)
    else:
        out.print(banner, soft_wrap=True)
    asyncio.run(_dev(w, api) if live else w.run(install_signal_handlers=True))


async def _dev(w: Worker, api: tuple[str, int, str | None] | None = None) -> None:
    running = asyncio.create_task(w.run(install_signal_handlers=True))
    serving = None
    if api is not None:  # the HTTP API in the same process, stopped with the worker
        from tidings.cli_server import serve_beside

        host, port, dashboard_envs = api
        serving = asyncio.create_task(
            serve_beside(w.app, host, port, running, dashboard_envs=dashboard_envs)
        )
    try:
        await follow_runs(
            lambda: fetch_runs(w.app, limit=15, steps=True),
            render=lambda runs: render_runs_table(runs, steps=True, title="recent runs"),
            console=out,
            until=lambda _: running.done() or (serving is not None and serving.done()),
        )
    finally:
        w.stop()  # if the display failed, the worker must not outlive it
        if serving is not None:
            await serving  # re-raises what stopped the server (a port in use), if anything
        await running  # re-raises what stopped the worker, if anything


DashboardEnvsOpt = Annotated[
    str | None,
    typer.Option(
        "--dashboard-envs",
        help="Other environments whose dashboards to serve at /dashboard/<name>/, comma-"
        "separated; preview-* for every preview ($TIDINGS_DASHBOARD_ENVS, tidings.toml).",
        show_default=False,
    ),
]
ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, help="Runs executed at once.")
]
QueueOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--queue", "-q", help="Only run tasks of this queue (repeatable).", show_default="all"
    ),
]
LeaseOpt = Annotated[
    float | None,
    typer.Option(
        "--lease-seconds",
        min=0.1,
        help="How long a claimed run stays claimed without a heartbeat.",
        show_default="app's lease, $TIDINGS_LEASE_SECONDS or 30",
    ),
]
PollOpt = Annotated[
    float, typer.Option("--poll-interval", min=0.01, help="Seconds between looks for due runs.")
]
LogFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        help="text, or json: one JSON object per line with run_id and step ($TIDINGS_LOG_FORMAT).",
        show_default="text",
    ),
]


@cli.command()
def worker(
    concurrency: ConcurrencyOpt = 10,
    queue: QueueOpt = None,
    lease_seconds: LeaseOpt = None,
    poll_interval: PollOpt = 1.0,
    log_format: LogFormatOpt = None,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Run due runs until SIGTERM or Ctrl-C, then finish in-flight runs and exit."""
    _run_worker(
        "worker",
        app_ref,
        database_url,
        env,
        concurrency,
        queue,
        lease_seconds,
        poll_interval,
        log_format,
    )


@cli.command()
def dev(
    concurrency: ConcurrencyOpt = 10,
    queue: QueueOpt = None,
    lease_seconds: LeaseOpt = None,
    poll_interval: PollOpt = 1.0,
    log_format: LogFormatOpt = None,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
    host: Annotated[str, typer.Option("--host", help="HTTP API address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="HTTP API port.")] = 8000,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run without the HTTP API.")] = False,
    dashboard_envs: DashboardEnvsOpt = None,
) -> None:
    """A worker, the HTTP API and a live table of recent runs (plain log lines when not
    on a terminal)."""
    api = None if no_api else (host, port, dashboard_envs)
    _run_worker(
        "dev",
        app_ref,
        database_url,
        env,
        concurrency,
        queue,
        lease_seconds,
        poll_interval,
        log_format,
        api,
    )


# -- commands: trigger -----------------------------------------------------------------
def parse_payload(text: str | None, what: str = "PAYLOAD_JSON") -> Any:
    """A JSON argument: JSON text, ``-`` for stdin, or nothing (None)."""
    if text is None:
        return None
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f'{exc.colno}); quote it for your shell, e.g. \'{{"userId": "u1"}}\''
        ) from None
    except (RecursionError, ValueError) as exc:  # nested past the parser, a 5,000-digit int
        raise ValidationError(f"{what} is not JSON tidings accepts: {exc}") from None


@cli.command()
def trigger(
    task_id: Annotated[
        str, typer.Argument(metavar="TASK_ID", help="The task to run.", show_default=False)
    ],
    payload_json: Annotated[
        str | None,
        typer.Argument(metavar="PAYLOAD_JSON", help="The payload as JSON, or - to read stdin."),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Return the existing run if this key was used.")
    ] = None,
    delay: Annotated[
        float | None, typer.Option(min=0, help="Start after this many seconds.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="With --wait: give up after this many seconds.")
    ] = None,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Start a run of TASK_ID and print its id (with --wait, then its result)."""
    if timeout is not None and not wait:
        raise typer.BadParameter("only makes sense with --wait", param_hint="--timeout")
    payload = parse_payload(payload_json)
    app = _load(app_ref, database_url, env)
    handle = app.trigger(task_id, payload, idempotency_key=idempotency_key, delay=delay)
    typer.echo(handle.id)
    if not handle.created:
        err.print(f"idempotency key {idempotency_key!r} matched: this is the existing run")
    if wait:
        try:
            run = asyncio.run(_wait(app, handle.id, timeout))
        except KeyboardInterrupt:
            err.print(f"stopped waiting; run {handle.id} goes on", soft_wrap=True)
            raise typer.Exit(130) from None
        print_json(run.result)


@events_cli.command("send")
def events_send(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The event name.")],
    data_json: Annotated[
        str | None,
        typer.Argument(metavar="DATA_JSON", help="The event data as JSON, or - to read stdin."),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--id", help="Event id; an id already sent is accepted once."),
    ] = None,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Send event NAME: start the tasks listening for it and resume runs waiting for it."""
    data = parse_payload(data_json, "DATA_JSON")
    app = _load(app_ref, database_url, env)
    receipt = app.send_event(name, data, id=event_id)
    if as_json:
        print_json(
            {"event_id": receipt.event_id, "run_ids": receipt.run_ids, "accepted": receipt.accepted}
        )
        return
    typer.echo(receipt.event_id)
    for run_id in receipt.run_ids:
        err.print(f"started run {run_id}", soft_wrap=True)
    if not receipt.accepted:
        err.print(f"event id {receipt.event_id!r} was sent before: nothing was done again")


async def _wait(app: Tidings, run_id: str, timeout: float | None) -> Run:
    def render(runs: list[Run]) -> RenderableType:
        run = runs[0]
        head = Text.assemble(f"run {run.id} ({run.task_id}) ", status_text(run.status))
        if hint := next_event(run, datetime.now().astimezone()):
            head.append(f" · {hint}")
        return Group(Spinner("dots", text=head), render_steps_table(run.steps))

    follow = follow_runs(
        lambda: [app.get_run(run_id)], render=render, console=err, until=all_finished
    )
    try:
        (run,) = await asyncio.wait_for(follow, timeout)
    except TimeoutError:
        status = app.get_run(run_id).status.value
        raise TimeoutError(
            f"run {run_id} did not finish within {timeout:g}s; it is still {status} "
            f"(see `tidings runs show {run_id}`)"
        ) from None
    if run.status is RunStatus.FAILED:
        raise RunFailedError(run.id, run.error)
    if run.status is RunStatus.CANCELLED:
        raise RunCancelledError(run.id)
    return run


# -- commands: runs ----------------------------------------------------------------------
TaskOpt = Annotated[str | None, typer.Option("--task", help="Only runs of this task.")]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option("--status", help="Only runs with this status (repeatable).", show_default=False),
]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="At most this many runs.")]
RunIdArg = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="The run id (run_...).", show_default=False)
]


@runs_cli.command("list")
def runs_list(
    task: TaskOpt = None,
    status: StatusOpt = None,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """List runs, newest first."""
    app = _load(app_ref, database_url, env)
    runs = fetch_runs(app, task_id=task, status=status, limit=limit)
    if as_json:
        print_json([run_to_json(r, steps=False) for r in runs])
    else:
        out.print(render_runs_table(runs))


@runs_cli.command("show")
def runs_show(
    run_id: RunIdArg,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show one run: its fields, steps and log lines."""
    app = _load(app_ref, database_url, env)
    run = app.get_run(run_id)
    logs = app.get_logs(run_id)
    if as_json:
        print_json(run_to_json(run, logs=logs))
    else:
        out.print(render_run(run, logs))


@runs_cli.command("cancel")
def runs_cancel(
    run_id: RunIdArg,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Cancel a queued, waiting or running run (a finished run is left as it is)."""
    app = _load(app_ref, database_url, env)
    before = app.get_run(run_id)
    if before.status.finished:
        out.print(Text.assemble(f"run {run_id} had already finished: ", status_text(before.status)))
        return
    after = app.cancel(run_id)
    out.print(Text.assemble(f"run {run_id}: ", status_text(after.status)))


@runs_cli.command("replay")
def runs_replay(
    run_id: RunIdArg,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Start a new run of the same task with the same payload; print its id."""
    app = _load(app_ref, database_url, env)
    typer.echo(app.replay(run_id).id)


@runs_cli.command("watch")
def runs_watch(
    task: TaskOpt = None,
    status: StatusOpt = None,
    limit: LimitOpt = 20,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once no run is queued, running or waiting.")
    ] = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """A live table of recent runs, until Ctrl-C (or until idle)."""
    app = _load(app_ref, database_url, env)

    def idle(_: list[Run]) -> bool:
        return until_idle and not app.list_runs(status=list(ACTIVE_STATUSES), limit=1)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
        asyncio.run(
            follow_runs(
                lambda: fetch_runs(app, task_id=task, status=status, limit=limit, steps=True),
                render=lambda runs: render_runs_table(runs, steps=True),
                console=out,
                until=idle,
            )
        )


# -- commands: schedules ---------------------------------------------------------------
def render_schedules_table(schedules: Sequence[Schedule], *, now: datetime | None = None) -> Table:
    """Schedules, soonest first: next fire time in the schedule's timezone and from now."""
    now = now or datetime.now().astimezone()
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for name in ("schedule", "task", "key", "cron", "timezone", "next", "in", "last", "catch-up"):
        table.add_column(name, no_wrap=name != "key")
    for s in schedules:
        local = s.next_run_at.astimezone(ZoneInfo(s.timezone))
        table.add_row(
            s.id,
            s.task_id,
            s.key or ("(static)" if s.static else ""),
            s.cron,
            s.timezone,
            local.strftime("%Y-%m-%d %H:%M %Z"),
            format_delta((s.next_run_at - now).total_seconds()),
            format_time(s.last_run_at, short=True),
            s.catch_up,
        )
    if not schedules:
        table.caption = "no schedules"
    return table


def schedule_to_json(schedule: Schedule) -> Any:
    """A schedule as plain JSON values (times in ISO 8601), as ``--json`` prints it."""
    return json.loads(json.dumps(dataclasses.asdict(schedule), default=_json_default))


@schedules_cli.command("list")
def schedules_list(
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """List schedules with their next fire times (a worker syncs the static ones)."""
    app = _load(app_ref, database_url, env)
    schedules = app.schedules.list()
    if as_json:
        print_json([schedule_to_json(s) for s in schedules])
    else:
        out.print(render_schedules_table(schedules))


# -- commands: migrate -----------------------------------------------------------------
@cli.command()
def migrate(
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Apply pending database migrations (for apps created with auto_migrate=False)."""
    app = _load(app_ref, database_url, env)
    app.auto_migrate = False  # only the explicit migrate below may change the schema
    applied = app.migrate()
    where = redact_url(app.database_url)
    if applied:
        out.print(f"applied {', '.join(applied)} to {where}", soft_wrap=True)
    else:
        out.print(f"{where} is already up to date", soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tidings {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """Durable workflows: run workers, trigger and inspect runs, migrate the database."""


# backup, restore, doctor, mcp (cli_ops.py)
_register_ops(cli)


def _register_commands() -> None:
    from tidings.cli_server import register

    register(cli)  # serve, keys, env, config
    from tidings.cli_demo import register as register_demo

    register_demo(cli)  # demo


_register_commands()

__all__ = [
    "TransitionLog",
    "all_finished",
    "cli",
    "configure_logging",
    "fetch_runs",
    "follow_runs",
    "main",
    "make_console",
    "print_error",
    "render_run",
    "render_runs_table",
    "render_schedules_table",
    "render_steps_table",
    "run_to_json",
    "schedule_to_json",
    "status_text",
]

if __name__ == "__main__":
    main()
