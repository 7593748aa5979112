"""What code above the engine may use of a running task, and how it adds ``ctx`` calls.

The engine's :class:`~tidings.engine.context.Context` is what a task receives. Code in
other packages (the notification service, the delivery and receipts tasks) works with a
running task through :class:`TaskContext`, the part of it they may rely on, and never
imports the engine. ``ctx.notify``, ``ctx.digest``, ``ctx.create_token`` and ``ctx.ask``
are not engine code: the app installs a :class:`ContextExtension` on the kernel
(:meth:`Kernel.extend_context`) and the context hands those calls to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class TaskContext(Protocol):
    """The public surface of a running task's ``ctx`` that extensions build on."""

    run_id: str
    task_id: str

    @property
    def replaying(self) -> bool: ...

    def now(self) -> datetime: ...

    async def step(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    async def sleep(self, duration: timedelta | float, *, name: str = "sleep") -> None: ...

    async def sleep_until(self, when: datetime, *, name: str = "sleep") -> None: ...

    async def wait_for_token(self, token: Any, *, name: str | None = None) -> Any: ...

    async def memoized(
        self,
        name: str,
        kind: str,
        run: Callable[[str], Awaitable[T]],
        *,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T: ...


class ContextExtension(Protocol):
    """The calls a task makes through ``ctx.notify`` and ``ctx.digest``."""

    async def notify(
        self,
        ctx: TaskContext,
        type_id: str,
        *,
        to: Any,
        data: Any,
        channels: Sequence[str] | None,
        dedup_key: str | None,
        name: str | None,
        tags: Sequence[str] | None = None,
    ) -> Any:
        """A :class:`NotifyResult` for one recipient (``to`` a string), a broadcast handle
        for a topic or a list."""
        ...

    async def digest(
        self, ctx: TaskContext, key: str, item: Any, window: timedelta | float, name: str
    ) -> list[Any] | None: ...

    async def create_token(self, ctx: TaskContext, timeout: timedelta, name: str | None) -> Any:
        """A :class:`~tidings.records.answers.WaitToken` (memoized)."""
        ...

    async def ask(
        self,
        ctx: TaskContext,
        type_id: str,
        *,
        to: str,
        data: Any,
        actions: tuple[str, ...],
        timeout: timedelta,
        channels: Sequence[str] | None,
        name: str | None,
    ) -> Any:
        """The :class:`~tidings.records.answers.Answer`, or None at the timeout."""
        ...
