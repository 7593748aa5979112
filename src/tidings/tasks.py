"""Task definitions: the function, its options, and how its payload is validated."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pydantic
import pydantic_core

from tidings import serde
from tidings.cron import CronSpec
from tidings.errors import NotSerializableError, ValidationError
from tidings.flow import NO_FLOW, TaskFlow
from tidings.limits import check_json
from tidings.options import CancelOn, Retry, as_timedelta

TaskFn = Callable[..., Awaitable[Any]]
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")


@dataclass(frozen=True)
class TaskDef:
    """A registered task and its options."""

    id: str
    fn: TaskFn
    retry: Retry
    queue: str
    priority: int
    timeout: timedelta | None
    payload_model: type[pydantic.BaseModel] | None
    takes_payload: bool
    on_event: tuple[str, ...] = ()
    """Event names that each start a run of this task, with the event data as payload."""
    cancel_on: tuple[CancelOn, ...] = ()
    flow: TaskFlow = NO_FLOW
    """Concurrency and rate limits (flow control)."""
    schedule: CronSpec | None = None
    """The static schedule of ``cron=`` (engine/scheduler.py fires it)."""
    payload_adapter: pydantic.TypeAdapter[Any] | None = None
    """Validates payloads annotated with another type than a model (``dict``,
    ``list[int]``, a TypedDict, a dataclass...); None when the payload is not annotated
    (or annotated ``Any``/``object``)."""
    payload_type: Any = None
    """The payload's annotation that ``payload_adapter`` checks."""
    item_adapter: pydantic.TypeAdapter[Any] | None = None
    """For a task whose run gathers a list of payloads (a batch, or a debounce keeping
    all): checks each trigger's payload against the list's element type (None: any)."""
    item_type: Any = None

    @property
    def validates_payload(self) -> bool:
        """Whether payloads are checked against the payload's annotation."""
        return self.payload_model is not None or self.payload_adapter is not None

    def payload_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the annotated payload type, if there is one."""
        if self.payload_model is not None:
            return self.payload_model.model_json_schema()
        if self.payload_adapter is not None:
            try:
                return self.payload_adapter.json_schema()
            except pydantic.PydanticUserError:  # a type JSON Schema cannot describe
                return None
        return None

    def encode_payload(self, payload: Any) -> str:
        """Validate a payload on trigger and return the JSON to store."""
        if not self.takes_payload:
            if payload not in (None, {}):
                raise ValidationError(
                    f"task {self.id!r} takes no payload (its function has only ctx), "
                    f"but got {type(payload).__name__}"
                )
            return "null"
        if self.payload_model is not None:
            check_json(payload, f"payload of task {self.id!r}")
            model = self._validate(payload)
            try:
                return model.model_dump_json()
            except pydantic_core.PydanticSerializationError as exc:
                raise NotSerializableError(f"payload of task {self.id!r}: {exc}") from None
        adapter, hint = self._trigger_adapter()
        if adapter is not None:
            check_json(payload, f"payload of task {self.id!r}")
            value = self._validate_typed(payload, adapter, hint)
            if not dataclasses.is_dataclass(payload) and not isinstance(
                payload, pydantic.BaseModel
            ):  # only JSON goes in (no datetime turned into text on the way)
                serde.dumps(payload, f"payload of task {self.id!r}")
            try:  # what the annotation made of it, so a replay sees what the first run saw
                value = adapter.dump_python(value, mode="json")
            except pydantic_core.PydanticSerializationError as exc:
                raise NotSerializableError(f"payload of task {self.id!r}: {exc}") from None
        else:
            value = payload
        return serde.dumps(value, f"payload of task {self.id!r}")

    def decode_payload(self, text: str) -> Any:
        value = serde.loads(text)
        if self.payload_model is not None:
            return self._validate(value)
        if self.payload_adapter is not None:
            return self._validate_typed(value, self.payload_adapter, self.payload_type)
        return value

    def _trigger_adapter(self) -> tuple[pydantic.TypeAdapter[Any] | None, Any]:
        """What one trigger's payload is checked against: the annotation, or its element
        type when the run gathers the payloads of several triggers into a list."""
        if self.flow.gathers:
            return self.item_adapter, self.item_type
        return self.payload_adapter, self.payload_type

    def _validate(self, payload: Any) -> pydantic.BaseModel:
        assert self.payload_model is not None
        if isinstance(payload, self.payload_model):
            return payload
        if isinstance(payload, pydantic.BaseModel):
            payload = payload.model_dump(mode="json")
        try:
            return self.payload_model.model_validate(payload)
        except pydantic.ValidationError as exc:
            raise self._mismatch(self.payload_model.__name__, exc) from None

    def _validate_typed(self, payload: Any, adapter: pydantic.TypeAdapter[Any], hint: Any) -> Any:
        if isinstance(payload, pydantic.BaseModel):
            payload = payload.model_dump(mode="json")
        try:
            return adapter.validate_python(payload)
        except pydantic.ValidationError as exc:
            raise self._mismatch(_type_name(hint), exc) from None

    def _mismatch(self, type_name: str, exc: pydantic.ValidationError) -> ValidationError:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(payload)'}: {err['msg']}"
            for err in exc.errors()
        )
        return ValidationError(
            f"payload of task {self.id!r} does not match {type_name}: {problems}"
        )


def _type_name(hint: Any) -> str:
    """``dict``, ``list[int]``, ``Order``: an annotation as its author wrote it."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def default_task_id(fn: Callable[..., Any]) -> str:
    return fn.__name__.replace("_", "-")


def make_task(
    fn: TaskFn,
    *,
    id: str | None,
    retry: Retry | None,
    queue: str,
    priority: int,
    timeout: timedelta | float | None,
    on_event: str | Sequence[str] | None = None,
    cancel_on: Sequence[CancelOn] = (),
) -> TaskDef:
    if not inspect.iscoroutinefunction(fn):
        raise ValidationError(
            f"task {getattr(fn, '__name__', fn)!r} must be an 'async def' function "
            "taking (ctx, payload)"
        )
    task_id = id if id is not None else default_task_id(fn)
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
        raise ValidationError(
            f"task id {task_id!r} is invalid: use letters, digits, '-', '_', '.', ':' "
            "(at most 200 characters)"
        )
    if not isinstance(queue, str) or not queue:
        raise ValidationError(f"queue of task {task_id!r} must be a non-empty string")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValidationError(f"priority of task {task_id!r} must be an int")
    if retry is not None and not isinstance(retry, Retry):
        raise ValidationError(f"retry of task {task_id!r} must be a tidings.Retry")
    limit = None if timeout is None else as_timedelta(timeout, f"timeout of task {task_id!r}")
    if limit is not None and limit <= timedelta(0):
        raise ValidationError(f"timeout of task {task_id!r} must be positive")
    takes_payload, model, adapter = _payload_signature(fn, task_id)
    hint = _payload_hint(fn) if adapter is not None else None
    return TaskDef(
        task_id,
        fn,
        retry or Retry(),
        queue,
        priority,
        limit,
        model,
        takes_payload,
        on_event=_event_names(task_id, on_event),
        cancel_on=_cancel_on(task_id, cancel_on),
        payload_adapter=adapter,
        payload_type=hint,
    )


def _event_names(task_id: str, on_event: str | Sequence[str] | None) -> tuple[str, ...]:
    names = [on_event] if isinstance(on_event, str) else list(on_event or ())
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"on_event of task {task_id!r} must be event names, got {name!r}")
    return tuple(dict.fromkeys(names))


def _cancel_on(task_id: str, cancel_on: Sequence[CancelOn]) -> tuple[CancelOn, ...]:
    items = list(cancel_on)
    for item in items:
        if not isinstance(item, CancelOn):
            raise ValidationError(
                f"cancel_on of task {task_id!r} takes CancelOn(...) items, got {item!r}"
            )
    return tuple(items)


def _payload_signature(
    fn: TaskFn, task_id: str
) -> tuple[bool, type[pydantic.BaseModel] | None, pydantic.TypeAdapter[Any] | None]:
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) not in (1, 2):
        raise ValidationError(
            f"task {task_id!r} must take (ctx) or (ctx, payload), "
            f"not {len(params)} positional parameters"
        )
    if len(params) == 1:
        return False, None, None
    hint = _payload_hint(fn)
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        return True, hint, None
    if hint in (None, type(None), Any, object):  # `payload: None` says "unused"
        return True, None, None
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(hint)
    except Exception:  # a type pydantic cannot check (an arbitrary class): take any JSON
        return True, None, None
    return True, None, adapter


def _payload_hint(fn: TaskFn) -> Any:
    """The annotation of the payload parameter (the second positional one), or None."""
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: no validation
        return None
    return hints.get(params[1].name) if len(params) == 2 else None
