"""Commands about runs: ``trigger``, ``events send``, ``runs ...``, ``schedules list`` and
``migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.spinner import Spinner
from rich.text import Text

from tidings.cli.console import err, out, print_json
from tidings.cli.options import AppOpt, DbOpt, EnvOpt, JsonOpt, load
from tidings.cli.render import (
    all_finished,
    fetch_runs,
    follow_runs,
    next_event,
    render_bulk_table,
    render_run,
    render_runs_table,
    render_schedules_table,
    render_steps_table,
    status_text,
)
from tidings.errors import RunCancelledError, RunFailedError, ValidationError
from tidings.jsonview import bulk_to_json, run_to_json, schedule_to_json
from tidings.notify.answers import waiting
from tidings.records import ACTIVE_STATUSES, BulkAction, Run, RunStatus
from tidings.store import redact_url

if TYPE_CHECKING:
    from tidings.app import Tidings

runs_cli = typer.Typer(help="List, inspect, cancel, replay and watch runs.", no_args_is_help=True)
schedules_cli = typer.Typer(help="Inspect cron schedules.", no_args_is_help=True)
events_cli = typer.Typer(help="Send events.", no_args_is_help=True)
tokens_cli = typer.Typer(
    help="Wait tokens and questions: complete a token, answer a question.",
    no_args_is_help=True,
)


def register(cli: typer.Typer) -> None:
    """Add ``trigger``, ``migrate`` and the ``runs``, ``schedules`` and ``events`` groups."""
    cli.command()(trigger)
    cli.command()(migrate)
    cli.add_typer(runs_cli, name="runs")
    cli.add_typer(schedules_cli, name="schedules")
    cli.add_typer(events_cli, name="events")
    cli.add_typer(tokens_cli, name="tokens")


# -- trigger and events ----------------------------------------------------------------
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
    app = load(app_ref, database_url, env)
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
    app = load(app_ref, database_url, env)
    receipt = app.send_event(name, data, id=event_id)
    if as_json:
        print_json(
            {
                "event_id": receipt.event_id,
                "run_ids": receipt.run_ids,
                "accepted": receipt.accepted,
                "warning": receipt.warning,
            }
        )
        return
    typer.echo(receipt.event_id)
    for run_id in receipt.run_ids:
        err.print(f"started run {run_id}", soft_wrap=True)
    if receipt.warning:
        err.print(f"[yellow]warning:[/] {receipt.warning}", soft_wrap=True, highlight=False)
    if not receipt.accepted:
        err.print(f"event id {receipt.event_id!r} was sent before: nothing was done again")


# -- wait tokens and questions ---------------------------------------------------------
@tokens_cli.command("complete")
def tokens_complete(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The wait token's id.")],
    data_json: Annotated[
        str | None,
        typer.Option("--data", help="JSON the waiting run receives, or - to read stdin."),
    ] = None,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Complete wait token ID and resume the run waiting on it. Exit 1 if it was already
    completed or has expired (nothing changed)."""
    data = parse_payload(data_json, "--data")
    app = load(app_ref, database_url, env)
    done = app.complete_token(token_id, data)
    if as_json:
        print_json({"id": token_id, "completed": done})
    elif done:
        typer.echo(f"completed {token_id}")
    else:
        err.print(f"token {token_id} was already completed or has expired: nothing changed")
    if not done:
        raise typer.Exit(1)


@tokens_cli.command("list")
def tokens_list(
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Open wait tokens and open questions (not completed, not expired)."""
    app = load(app_ref, database_url, env)
    listed = waiting(app.answers, limit)
    if as_json:
        print_json(listed)
        return
    tokens, questions = listed["tokens"], listed["questions"]
    asked = {q["token_id"]: q for q in questions}
    for t in tokens:
        q = asked.get(t["id"])
        what = (
            f"question {q['id']} ({q['type']} to {q['recipient_id']}: {', '.join(q['actions'])})"
            if q
            else (t["name"] or "token")
        )
        typer.echo(f"{t['id']}  run {t['run_id']}  expires {t['expires_at']}  {what}")
    if not tokens:
        err.print("no open tokens or questions")


@tokens_cli.command("answer")
def tokens_answer(
    question_id: Annotated[str, typer.Argument(metavar="QUESTION", help="The question's id.")],
    action: Annotated[str, typer.Argument(metavar="ACTION", help="One of its actions.")],
    by: Annotated[str, typer.Option("--by", help="Who answers (recorded).")] = "cli",
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Answer QUESTION with ACTION as an operator (first answer wins). Exit 1 if it was
    already answered or has closed."""
    app = load(app_ref, database_url, env)
    outcome = app.answer_question(question_id, action, by=by)
    if outcome == "answered":
        typer.echo(f"answered {question_id}: {action}")
        return
    err.print(f"question {question_id} was not answered now: {outcome}")
    raise typer.Exit(1)


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


# -- runs ------------------------------------------------------------------------------
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
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Include tidings' own runs (tidings.* tasks: notification deliveries...).",
        ),
    ] = False,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """List runs of your tasks, newest first (--all adds tidings' own)."""
    app = load(app_ref, database_url, env)
    runs = fetch_runs(app, task_id=task, status=status, limit=limit, internal=show_all)
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
    app = load(app_ref, database_url, env)
    run = app.get_run(run_id)
    logs = app.get_logs(run_id)
    if as_json:
        print_json(run_to_json(run, logs=logs))
    else:
        out.print(render_run(run, logs))


BulkTaskOpt = Annotated[
    list[str] | None,
    typer.Option("--task", help="Only runs of this task (repeatable).", show_default=False),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tag", help="Only runs carrying this tag (repeatable: all of them).", show_default=False
    ),
]
AfterOpt = Annotated[
    str | None,
    typer.Option(
        "--created-after",
        metavar="TIME",
        help="Only runs created after TIME (ISO 8601 with a timezone, e.g. 2026-03-01T09:00Z).",
    ),
]
BeforeOpt = Annotated[
    str | None,
    typer.Option("--created-before", metavar="TIME", help="Only runs created before TIME."),
]
YesOpt = Annotated[
    bool, typer.Option("--yes", help="Act without asking (needed when not on a terminal).")
]
NoWaitOpt = Annotated[
    bool,
    typer.Option("--no-wait", help="Print the bulk action's id and return; a worker goes on."),
]
OptionalRunIdArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[RUN_ID]", help="One run (run_...); or give a filter instead.", show_default=False
    ),
]


def _time_option(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2026-03-01T09:00:00+00:00)", param_hint=flag
        ) from None
    if parsed.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} has no timezone; add one, e.g. {value}Z or {value}+02:00", param_hint=flag
        )
    return parsed


def _bulk_filter(
    task: list[str] | None,
    status: list[str] | None,
    tag: list[str] | None,
    created_after: str | None,
    created_before: str | None,
) -> dict[str, Any] | None:
    """The filter flags as ``app.runs`` takes them; None when no flag was given."""
    if not (task or status or tag or created_after or created_before):
        return None
    return {
        "task": task or None,
        "status": status or None,
        "tags": tag or None,
        "created_after": _time_option(created_after, "--created-after"),
        "created_before": _time_option(created_before, "--created-before"),
    }


def _bulk(
    app: Tidings, kind: str, filters: dict[str, Any], yes: bool, no_wait: bool, as_json: bool
) -> None:
    """Count, ask (or refuse without --yes off a terminal), start, and follow the action."""
    n = app.runs.count(**filters, cancelling=kind == "cancel")
    verb = "cancel" if kind == "cancel" else "replay"
    if n == 0:
        if as_json:
            print_json({"total": 0, "done": 0, "changed": 0, "status": "completed"})
        else:
            out.print(f"no run matches this filter: nothing to {verb}")
        return
    runs = f"{n} run{'s' if n != 1 else ''}"
    if not yes:
        if not sys.stdin.isatty():
            raise ValidationError(
                f"refusing to {verb} {runs} without --yes: not on a terminal to ask; "
                "check the filter, then run again with --yes"
            )
        if not typer.confirm(f"{verb} {runs}?"):
            raise typer.Exit(1)
    start = app.runs.cancel_many if kind == "cancel" else app.runs.replay_many
    action = start(**filters)
    if no_wait:
        if as_json:
            print_json(bulk_to_json(action))
        else:
            typer.echo(action.id)
        return
    err.print(
        f"bulk action {action.id}: a worker carries it out (start one with `tidings worker` "
        "if none runs); Ctrl-C stops following, the action goes on",
        soft_wrap=True,
    )
    try:
        action = _follow_bulk(app, action)
    except KeyboardInterrupt:
        err.print(f"stopped following; bulk action {action.id} goes on", soft_wrap=True)
        raise typer.Exit(130) from None
    if as_json:
        print_json(bulk_to_json(action))
    else:
        made = "cancelled" if kind == "cancel" else "replayed"
        out.print(
            f"{made} {action.changed} of {action.done} runs gone through "
            f"(bulk action {action.id}: {action.status})",
            soft_wrap=True,
        )
    if action.status != "completed":
        raise typer.Exit(1)


def _follow_bulk(app: Tidings, action: BulkAction, interval: float = 0.25) -> BulkAction:
    """A progress bar of ``action`` until it has finished (or its run has ended)."""
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        bar = progress.add_task(f"{action.kind} {action.id}", total=action.total or 1)
        while True:
            action = app.runs.bulk_action(action.id)
            progress.update(bar, completed=action.done, total=max(action.total, action.done, 1))
            if action.status != "running":
                return action
            time.sleep(interval)


@runs_cli.command("cancel")
def runs_cancel(
    run_id: OptionalRunIdArg = None,
    task: BulkTaskOpt = None,
    status: StatusOpt = None,
    tag: TagOpt = None,
    created_after: AfterOpt = None,
    created_before: BeforeOpt = None,
    yes: YesOpt = False,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Cancel a run, or every queued, running or waiting run a filter matches.

    With a filter it shows the count and asks (--yes acts without asking), then follows
    the bulk action with a progress bar. A finished run is left as it is.
    """
    filters = _bulk_filter(task, status, tag, created_after, created_before)
    if run_id is not None and filters is not None:
        raise typer.BadParameter("give RUN_ID or a filter, not both", param_hint="RUN_ID")
    if run_id is None and filters is None:
        raise typer.BadParameter(
            "give RUN_ID, or a filter: --task, --status, --tag, --created-after, --created-before",
            param_hint="RUN_ID",
        )
    app = load(app_ref, database_url, env)
    if filters is not None:
        _bulk(app, "cancel", filters, yes, no_wait, as_json)
        return
    assert run_id is not None
    before = app.get_run(run_id)
    if before.status.finished:
        out.print(Text.assemble(f"run {run_id} had already finished: ", status_text(before.status)))
        return
    after = app.cancel(run_id)
    out.print(Text.assemble(f"run {run_id}: ", status_text(after.status)))


@runs_cli.command("replay")
def runs_replay(
    run_id: OptionalRunIdArg = None,
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from-step",
            metavar="NAME",
            help="Reuse the steps before NAME from the run; start at NAME.",
        ),
    ] = None,
    payload_json: Annotated[
        str | None,
        typer.Option("--payload", metavar="JSON", help="Replace the payload (JSON, - for stdin)."),
    ] = None,
    task: BulkTaskOpt = None,
    status: StatusOpt = None,
    tag: TagOpt = None,
    created_after: AfterOpt = None,
    created_before: BeforeOpt = None,
    yes: YesOpt = False,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Replay a run (a new run of its task and payload; print its id), or every run a
    filter matches (shows the count, asks, then follows with a progress bar).

    --from-step NAME starts the new run at step NAME: the steps before it are not run
    again, their results are the run's.
    """
    filters = _bulk_filter(task, status, tag, created_after, created_before)
    if run_id is not None and filters is not None:
        raise typer.BadParameter("give RUN_ID or a filter, not both", param_hint="RUN_ID")
    if run_id is None and filters is None:
        raise typer.BadParameter(
            "give RUN_ID, or a filter: --task, --status, --tag, --created-after, --created-before",
            param_hint="RUN_ID",
        )
    if filters is not None and (from_step is not None or payload_json is not None):
        raise typer.BadParameter(
            "--from-step and --payload replay one run: give RUN_ID", param_hint="--from-step"
        )
    payload = parse_payload(payload_json, "--payload")
    app = load(app_ref, database_url, env)
    if filters is not None:
        _bulk(app, "replay", filters, yes, no_wait, as_json)
        return
    assert run_id is not None
    handle = app.replay(run_id, from_step=from_step, payload=payload)
    if as_json:
        print_json(run_to_json(handle.get()))
    else:
        typer.echo(handle.id)


@runs_cli.command("bulk")
def runs_bulk(
    bulk_id: Annotated[
        str | None,
        typer.Argument(metavar="[BULK_ID]", help="One bulk action (blk_...); none: list them."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Follow it with a progress bar until it ends.")
    ] = False,
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Show a bulk cancel or replay and its progress (without BULK_ID: the latest ones)."""
    app = load(app_ref, database_url, env)
    if bulk_id is None:
        actions = app.runs.bulk_actions()
        if as_json:
            print_json([bulk_to_json(a) for a in actions])
        else:
            out.print(render_bulk_table(actions))
        return
    action = app.runs.bulk_action(bulk_id)
    if follow:
        try:
            action = _follow_bulk(app, action)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    if as_json:
        print_json(bulk_to_json(action))
    else:
        out.print(render_bulk_table([action]))


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
    app = load(app_ref, database_url, env)

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


# -- schedules -------------------------------------------------------------------------
@schedules_cli.command("list")
def schedules_list(
    as_json: JsonOpt = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """List schedules with their next fire times (a worker syncs the static ones)."""
    app = load(app_ref, database_url, env)
    schedules = app.schedules.list()
    if as_json:
        print_json([schedule_to_json(s) for s in schedules])
    else:
        out.print(render_schedules_table(schedules))


# -- migrate ---------------------------------------------------------------------------
def migrate(
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Apply pending database migrations (for apps created with auto_migrate=False)."""
    app = load(app_ref, database_url, env)
    app.auto_migrate = False  # only the explicit migrate below may change the schema
    applied = app.migrate()
    where = redact_url(app.database_url)
    if applied:
        out.print(f"applied {', '.join(applied)} to {where}", soft_wrap=True)
    else:
        out.print(f"{where} is already up to date", soft_wrap=True)
