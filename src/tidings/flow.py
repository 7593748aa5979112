"""Flow control of a task: its concurrency limit, rate limit and the keys they apply per.

Keys are computed once, when a run is triggered, and stored on the run, so that
claiming stays pure SQL. A run of a limited task always carries a key for each limit
(``""`` when the limit is task-wide); a run with no keys is unlimited.
"""

from __future__ import annotations

import collections.abc
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pydantic

from tidings.errors import ValidationError
from tidings.matching import MISSING, get_path
from tidings.options import Batch, Debounce, KeySpec, RateLimit, Singleton, check_key_spec
from tidings.store.runs import FlowLimit, Gate

MAX_KEY_LENGTH = 500


def compute_key(spec: KeySpec | None, payload: Any, data: Any, what: str) -> str:
    """The key value of one run: ``""`` without a spec.

    ``payload`` is what the task receives (a pydantic model if it declares one); ``data``
    is the same payload as plain JSON, which dotted paths walk.
    """
    if spec is None:
        return ""
    if isinstance(spec, str):
        value = get_path(data, spec)
        if value is MISSING or value is None:
            raise ValidationError(f"{what} {spec!r} is missing from the payload")
        key = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    else:
        try:
            key = spec(payload)
        except Exception as exc:
            raise ValidationError(f"{what} callable raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(key, str):
            raise ValidationError(f"{what} callable must return a str, got {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(f"{what} value is longer than {MAX_KEY_LENGTH} characters")
    return key


@dataclass(frozen=True)
class TaskFlow:
    """The flow-control options of one task (all None: unlimited)."""

    concurrency: int | None = None
    """Most RUNNING runs at once, per concurrency key value."""
    concurrency_key: KeySpec | None = None
    """What the concurrency limit applies per; None: the whole task."""
    rate_limit: RateLimit | None = None
    """Most starts per period, per rate key value."""
    debounce: Debounce | None = None
    """Coalesce bursts of triggers per key into one run."""
    singleton: Singleton | None = None
    """At most one active run per key."""
    batch: Batch | None = None
    """Gather triggers per key into one run of their payloads."""

    @property
    def limited(self) -> bool:
        return self.concurrency is not None or self.rate_limit is not None

    @property
    def gathers(self) -> bool:
        """Whether the run gets a list of payloads (a batch, or ``keep="all"``)."""
        return self.batch is not None or (self.debounce is not None and self.debounce.keep == "all")

    def limit(self, task_id: str) -> FlowLimit | None:
        """The limits as the store's claim takes them; None for an unlimited task."""
        if not self.limited:
            return None
        rate = self.rate_limit
        return FlowLimit(
            task_id=task_id,
            concurrency=self.concurrency,
            rate=rate.limit if rate else None,
            period=rate.period if rate else None,
        )

    def keys(
        self, task_id: str, payload: Any, data: Any, concurrency_key: str | None
    ) -> tuple[str | None, str | None]:
        """``(concurrency_key, rate_key)`` to store on a new run of the task."""
        ck: str | None = None
        if self.concurrency is not None:
            if concurrency_key is not None:
                ck = concurrency_key
            else:
                what = f"concurrency_key of task {task_id!r}"
                ck = compute_key(self.concurrency_key, payload, data, what)
        elif concurrency_key is not None:
            raise ValidationError(
                f"concurrency_key was given, but task {task_id!r} has no concurrency limit "
                "(declare @app.task(concurrency=N))"
            )
        rk: str | None = None
        if self.rate_limit is not None:
            what = f"rate_limit key of task {task_id!r}"
            rk = compute_key(self.rate_limit.key, payload, data, what)
        return ck, rk


NO_FLOW = TaskFlow()


def make_flow(
    task_id: str,
    concurrency: int | None,
    concurrency_key: object,
    rate_limit: object,
    debounce: object = None,
    singleton: object = None,
    batch: object = None,
) -> TaskFlow:
    """Validate a task's flow-control options, naming the field at fault."""
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ValidationError(
            f"concurrency of task {task_id!r} must be an int >= 1 (or None), got {concurrency!r}"
        )
    key = check_key_spec(concurrency_key, f"concurrency_key of task {task_id!r}")
    if key is not None and concurrency is None:
        raise ValidationError(
            f"concurrency_key of task {task_id!r} needs concurrency=N (the limit per key)"
        )
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise ValidationError(
            f"rate_limit of task {task_id!r} must be a tidings.RateLimit, "
            f"got {type(rate_limit).__name__}"
        )
    gates = _check_gates(task_id, debounce=debounce, singleton=singleton, batch=batch)
    if concurrency is None and rate_limit is None and not gates:
        return NO_FLOW
    return TaskFlow(concurrency, key, rate_limit, **gates)


_GATE_TYPES = {"debounce": Debounce, "singleton": Singleton, "batch": Batch}
_WHY_NOT = {
    frozenset({"debounce", "batch"}): "both decide when a group of triggers starts its run; "
    "use batch to hand the run every payload, or debounce with keep='all'",
    frozenset({"debounce", "singleton"}): "a debounced key already has one pending run; to "
    "also run one at a time per key, add concurrency=1 with concurrency_key",
    frozenset({"batch", "singleton"}): "a batch already gathers a key's triggers into one "
    "run; to run one batch at a time per key, add concurrency=1 with concurrency_key",
}


def _check_gates(task_id: str, **options: object) -> dict[str, Any]:
    given = {name: value for name, value in options.items() if value is not None}
    for name, value in given.items():
        kind = _GATE_TYPES[name]
        if not isinstance(value, kind):
            raise ValidationError(
                f"{name} of task {task_id!r} must be a tidings.{kind.__name__}, "
                f"got {type(value).__name__}"
            )
    if len(given) > 1:
        names = sorted(given)
        reason = _WHY_NOT[frozenset(names[:2])]
        raise ValidationError(f"task {task_id!r} cannot combine {' and '.join(names)}: {reason}")
    return given


def flow_limits(tasks: Mapping[str, Any]) -> list[FlowLimit]:
    """The limits of every limited task in a registry (``{task_id: TaskDef}``)."""
    limits = []
    for task in tasks.values():
        flow: TaskFlow = getattr(task, "flow", NO_FLOW)
        if flow.limited:
            limit = flow.limit(task.id)
            assert limit is not None
            limits.append(limit)
    return limits


def with_flow(
    task: Any,
    concurrency: int | None,
    concurrency_key: object,
    rate_limit: object,
    debounce: object = None,
    singleton: object = None,
    batch: object = None,
) -> Any:
    """``task`` (a TaskDef) with its flow-control options validated and set."""
    flow = make_flow(task.id, concurrency, concurrency_key, rate_limit, debounce, singleton, batch)
    if flow.gathers and task.payload_model is not None:
        what = "batch" if flow.batch is not None else "debounce with keep='all'"
        raise ValidationError(
            f"task {task.id!r} uses {what}, so its run gets a list of payloads, but its "
            f"payload is annotated as one {task.payload_model.__name__}: annotate it "
            f"as list[{task.payload_model.__name__}] (or keep='first' / 'last')"
        )
    if flow.gathers and task.payload_adapter is not None:
        return replace(task, flow=flow, **_item_check(task, flow))
    return task if flow is NO_FLOW else replace(task, flow=flow)


def _item_check(task: Any, flow: TaskFlow) -> dict[str, Any]:
    """The element type of a gathering task's ``list[X]`` annotation, to check each
    trigger's payload against (ValidationError if the annotation is not a list)."""
    hint = task.payload_type
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin not in (list, collections.abc.Sequence) and hint not in (list, Sequence):
        what = "batch" if flow.batch is not None else "debounce with keep='all'"
        raise ValidationError(
            f"task {task.id!r} uses {what}, so its run gets a list of payloads, but its "
            f"payload is annotated {hint!r}: annotate it as a list (list[...])"
        )
    item = args[0] if args else Any
    if item in (Any, object):
        return {"item_adapter": None, "item_type": None}
    return {"item_adapter": pydantic.TypeAdapter(item), "item_type": item}


def run_gate(task: Any, encoded: str, source: str) -> Gate | None:
    """How a new run of ``task`` (a TaskDef), whose payload is the JSON ``encoded``,
    meets the other runs of its key: None for a task without debounce, batch or
    singleton."""
    flow: TaskFlow = task.flow
    spec = flow.debounce or flow.batch or flow.singleton
    if spec is None:
        return None
    data = json.loads(encoded)
    payload = task.decode_payload(encoded) if task.payload_model is not None else data
    kind = type(spec).__name__.lower()
    key = compute_key(spec.key, payload, data, f"{kind} key of task {task.id!r}")
    if isinstance(spec, Debounce):
        return Gate(
            kind, key, source, encoded, spec.keep, period=spec.period, max_wait=spec.max_wait
        )
    if isinstance(spec, Batch):
        return Gate(
            kind, key, source, encoded, "all", max_wait=spec.timeout, max_size=spec.max_size
        )
    return Gate(kind, key, cancel=spec.on_conflict == "cancel")


def run_keys(task: Any, encoded: str, concurrency_key: object) -> tuple[str | None, str | None]:
    """``(concurrency_key, rate_key)`` for a new run of ``task`` (a TaskDef) whose
    payload is the JSON ``encoded``; ``concurrency_key`` overrides the computed one."""
    if concurrency_key is not None and (
        not isinstance(concurrency_key, str) or len(concurrency_key) > MAX_KEY_LENGTH
    ):
        raise ValidationError(
            f"concurrency_key must be a string of at most {MAX_KEY_LENGTH} characters, "
            f"got {type(concurrency_key).__name__}"
        )
    flow: TaskFlow = task.flow
    if not flow.limited:
        return flow.keys(task.id, None, None, concurrency_key)  # rejects an override
    data = json.loads(encoded)
    payload = task.decode_payload(encoded) if task.validates_payload else data
    return flow.keys(task.id, payload, data, concurrency_key)
