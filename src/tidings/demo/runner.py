"""``tidings demo``: MediLink on tidings, all in one process, with simulated traffic.

One asyncio loop runs the worker (with its scheduler), the HTTP server (API, dashboard,
the demo's inbox page) and the display; the simulated users act from a thread, through
the app's own backend, as the real product would. Engine time runs ``time_scale`` times
faster than real time (:class:`~tidings.clock.ScaledClock`) and is saved, with the
simulation's state, so the next start resumes the same timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from tidings.clock import ScaledClock, engine_duration
from tidings.errors import ConfigError, InvalidApiKeyError
from tidings.keys import create_key, verify_key

from .display import Panel, Snapshot, delivery_line, summary_line, take_snapshot
from .state import (
    DemoPaths,
    DemoState,
    load_state,
    restart_command,
    save_state,
    tidings_command,
)
from .web import INBOX_PATH, demo_asgi

if TYPE_CHECKING:
    import uvicorn
    from examples.medilink.app import MediLink
    from examples.medilink.simulate import Traffic

    from tidings.app import Tidings
    from tidings.engine.worker import Worker

log = logging.getLogger("tidings.demo")

ENGINE_STEP = timedelta(minutes=20)
"""Engine time between two simulated actions (one every 20 minutes of the story)."""
MIN_PAUSE, MAX_PAUSE = 0.25, 5.0
"""Real seconds between actions, whatever the scale: lively, never a flood."""
REFRESH = 0.5
PLAIN_EVERY = 2.0
LINKS_EVERY = 60.0
"""Seconds between repeats of the links when the output is not a terminal (a log)."""
SHUTDOWN_GRACE = 2
"""Seconds the HTTP server waits for open requests (inbox streams) when stopping."""
INBOX_TTL = timedelta(hours=12)
"""Real lifetime of the printed inbox link."""


@dataclass(frozen=True)
class DemoOptions:
    time_scale: float = 3600.0
    host: str = "127.0.0.1"
    port: int = 8000
    seed: int = 7
    reset: bool = False
    duration: float | None = None
    folder: Path = Path(".tidings")
    concurrency: int = 8


class Keeper:
    """Saves the state from any thread, one writer at a time."""

    def __init__(self, paths: DemoPaths, state: DemoState) -> None:
        self.paths, self.state = paths, state
        self._lock = threading.Lock()

    def save(self, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self.state, name, value)
            save_state(self.paths, self.state)


def import_medilink() -> tuple[Any, Any, Any]:
    """``create``, ``Traffic`` and ``seeded_ids`` from the repository's examples."""
    # Like --app: the directory the command runs in is importable (the repository root).
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        from examples.medilink.app import create
        from examples.medilink.simulate import Traffic, seeded_ids
    except ImportError as exc:
        raise ConfigError(
            f"tidings demo runs the MediLink example from the repository's examples/ folder "
            f"and could not import it ({exc}); run it from the repository root (`make demo`)"
        ) from None
    return create, Traffic, seeded_ids


def check_port(host: str, port: int) -> None:
    """Fail early, and clearly, when the port is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use; pick another with --port"
                ) from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


class Demo:
    """One run of the demo (see the module docstring)."""

    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.o = options
        self.console = console
        self.paths = DemoPaths(options.folder)
        self.stopping = asyncio.Event()
        self.actions: list[str] = []
        self._actions_lock = threading.Lock()
        self.worker: Worker | None = None
        self.panel: Panel | None = None

    # -- setup -----------------------------------------------------------------------
    def prepare(self) -> None:
        if self.o.time_scale <= 0:
            raise ConfigError(f"--time-scale must be positive, got {self.o.time_scale}")
        check_port(self.o.host, self.o.port)
        create, traffic_cls, seeded_ids = import_medilink()
        if self.o.reset:
            self.paths.reset()
        self.paths.folder.mkdir(parents=True, exist_ok=True)
        state = load_state(self.paths)
        self.resumed = state is not None
        if state is None:
            state = DemoState(seed=self.o.seed)
        elif state.seed != self.o.seed:
            self.console.print(
                f"note: continuing the story of seed {state.seed}; --reset to start over "
                f"with seed {self.o.seed}",
                style="yellow",
            )
        self.keeper = Keeper(self.paths, state)
        # A first start gets the seed's ids; a later one its own sequence, so ids created
        # after a restart never repeat those of an earlier session.
        ids = seeded_ids(state.seed if state.sessions == 0 else state.seed * 1009 + state.sessions)
        self.ml: MediLink = create(self.paths.database_url, data_url=self.paths.data_url, ids=ids)
        self.app: Tidings = self.ml.app
        origin = state.engine_now or datetime.now(UTC).replace(microsecond=0)
        self.clock = ScaledClock(origin, self.o.time_scale)
        self.app.configure(clock=self.clock)
        self.app.migrate()
        self.traffic: Traffic = traffic_cls(self.ml, seed=state.seed)
        if state.traffic is None and self.ml.data.users():
            # stopped while the first cast registered: go on with the people it made
            state.traffic = self.traffic.snapshot()
        if state.traffic is not None:
            self.traffic.restore(state.traffic)
        self.keeper.save(sessions=state.sessions + 1, engine_now=origin)
        if state.traffic is None:  # the starting cast, before the worker starts
            people = self.traffic.populate()
            self.note(f"{len(people)} people registered (hospital staff and providers)")
            self.keeper.save(traffic=self.traffic.snapshot(), actions=len(people))
        self.api_key = self._api_key(state)

    def _api_key(self, state: DemoState) -> str:
        store, env = self.app.store, self.app.environment
        if state.api_key is not None:
            with contextlib.suppress(InvalidApiKeyError):
                verify_key(store, env, state.api_key)
                return state.api_key
        key = create_key(store, env, name="tidings demo", scope="admin", now=self.clock.now())
        self.keeper.save(api_key=key.secret)
        return key.secret

    # -- traffic (a thread) ------------------------------------------------------------
    def note(self, action: str) -> None:
        with self._actions_lock:
            self.actions.append(action)

    def take_actions(self) -> list[str]:
        with self._actions_lock:
            taken, self.actions = self.actions, []
        return taken

    def simulate(self, stop: threading.Event) -> None:
        """The simulated users: one action per ENGINE_STEP of engine time."""
        traffic, keeper = self.traffic, self.keeper
        pause = min(max(ENGINE_STEP.total_seconds() / self.o.time_scale, MIN_PAUSE), MAX_PAUSE)
        try:
            while not stop.wait(pause):
                try:
                    action = traffic.step()
                except Exception as exc:  # one failed action must not end the story
                    log.warning("simulated action failed: %s", exc)
                    continue
                self.note(f"{action.kind}: {action.description}")
                keeper.save(traffic=traffic.snapshot(), actions=keeper.state.actions + 1)
        except Exception:
            log.exception("the traffic simulation stopped")

    # -- links -------------------------------------------------------------------------
    def demo_user(self) -> str | None:
        users = self.traffic.hospital_users
        return users[0] if users else None

    def links(self, user: str | None) -> list[tuple[str, str]]:
        base = f"http://{self.o.host}:{self.o.port}"
        rows = [("API", f"{base}/api/v1  (Authorization: Bearer {self.api_key})")]
        if user is not None:
            # the token's lifetime is engine time: a real 12 hours at any scale
            token = self.app.inbox_token(user, ttl=engine_duration(self.clock, INBOX_TTL))
            locale = self.ml.data.user(user).locale
            page = f"{base}{INBOX_PATH}?user={user}&locale={locale}&token={token}"
            rows.append((f"inbox of {user}", page))
        rows.append(("dashboard", f"{base}/dashboard/  (sign in with the API key above)"))
        rows.append(("API docs", f"{base}/docs"))
        rows.append(
            (
                "runs from a shell",
                f"{tidings_command()} runs list --app examples.medilink.app:app "
                f"--database-url {self.paths.database_url}",
            )
        )
        return rows

    def header(self, user: str | None) -> Text:
        how = "resumed" if self.resumed else "new"
        text = Text.assemble(
            ("tidings demo", "bold"),
            f" · MediLink · {how} story (seed {self.keeper.state.seed}) · "
            f"engine time x{self.o.time_scale:g} · {self.paths.database_url}\n",
        )
        for name, url in self.links(user):
            text.append(f"  {name:<24} ", style="bold").append(url + "\n", style="cyan")
        return text

    # -- running -----------------------------------------------------------------------
    async def run(self) -> int:
        """Serve, work and simulate until stopped; return the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await asyncio.to_thread(self.prepare)
        except BaseException:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            raise
        self.worker = self.app.worker(self.o.concurrency, poll_interval=1.0)
        working = asyncio.create_task(self.worker.run())
        server = self._server()
        serving = asyncio.create_task(server.serve())
        stop_traffic = threading.Event()
        traffic = threading.Thread(
            target=self.simulate, args=(stop_traffic,), name="demo-traffic", daemon=True
        )
        try:
            await self._started(server, serving)
            traffic.start()
            await self._show(working, serving)
        finally:
            stop_traffic.set()
            await asyncio.to_thread(traffic.join, 30)
            self.worker.stop()
            # Open inbox streams are cut after SHUTDOWN_GRACE; uvicorn reports each cut
            # as an error with a traceback, which is noise when we are the ones stopping.
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
            server.should_exit = True
            await asyncio.gather(working, serving, return_exceptions=True)
            self.keeper.save(engine_now=self.clock.now())
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return self._farewell(working, serving)

    def request_stop(self) -> None:
        if self.stopping.is_set() and self.worker is not None:
            self.worker.stop()  # a second Ctrl-C: hand in-flight runs back now
        self.stopping.set()

    def _server(self) -> uvicorn.Server:
        import uvicorn

        from tidings.server.serve import QuietServer
        from tidings.settings import server_settings

        asgi = self.app.asgi(server_settings(self.app.environment))
        config = uvicorn.Config(
            demo_asgi(asgi),
            host=self.o.host,
            port=self.o.port,
            access_log=False,
            log_level="warning",
            lifespan="off",
            # an open inbox stream (a browser tab) must not hold the exit up
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
        return QuietServer(config, asgi.state.inbox_hub)

    async def _started(self, server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
        deadline = time.monotonic() + 30
        while not server.started:
            if serving.done() or time.monotonic() > deadline:
                raise ConfigError(f"the HTTP server did not start on {self.o.host}:{self.o.port}")
            await asyncio.sleep(0.05)

    async def _show(self, working: asyncio.Task[None], serving: asyncio.Task[None]) -> None:
        user = self.demo_user()
        header = self.header(user)
        until = None if self.o.duration is None else time.monotonic() + self.o.duration

        def over() -> bool:
            late = until is not None and time.monotonic() >= until
            return self.stopping.is_set() or working.done() or serving.done() or late

        # The links first, outside the live panel: they stay put above it. They are in a
        # file too (it holds the admin key: readable by its owner only).
        await asyncio.to_thread(self._write_links, header)
        self.console.print(header, soft_wrap=True)
        self.console.print(
            f"  (these links are also in {self.paths.links} while the demo runs)",
            style="dim",
            soft_wrap=True,
        )
        try:
            if self.console.is_terminal:
                await self._live(Panel(), user, over)
            else:
                await self._plain(user, over, header)
        finally:
            self.paths.links.unlink(missing_ok=True)

    def _write_links(self, header: Text) -> None:
        path = self.paths.links
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(header.plain)

    async def _live(self, panel: Panel, user: str | None, over: Any) -> None:
        with Live(panel.render(None), console=self.console, refresh_per_second=4) as live:
            while not over():
                snap = await asyncio.to_thread(take_snapshot, self.app, user)
                panel.actions.extend(self.take_actions())
                live.update(panel.render(snap))
                self._tick(snap)
                await self._pause(REFRESH)

    async def _plain(self, user: str | None, over: Any, header: Text) -> None:
        """Line by line for a log; the links again every LINKS_EVERY seconds, so they
        can be found without scrolling back to the start."""
        seen: set[str] = set()
        links_shown = time.monotonic()
        if self.resumed:  # what the last session already printed
            first = await asyncio.to_thread(take_snapshot, self.app, user)
            seen.update(d.id for d in first.latest)
        last_summary = 0.0
        while not over():
            snap = await asyncio.to_thread(take_snapshot, self.app, user)
            for action in self.take_actions():
                self.console.print(f"traffic {action}", soft_wrap=True, markup=False)
            for d in reversed(snap.latest):
                if d.id not in seen:
                    seen.add(d.id)
                    self.console.print(delivery_line(d), soft_wrap=True, markup=False)
            if time.monotonic() - last_summary >= PLAIN_EVERY:
                last_summary = time.monotonic()
                self.console.print(summary_line(snap), soft_wrap=True, markup=False)
            if time.monotonic() - links_shown >= LINKS_EVERY:
                links_shown = time.monotonic()
                self.console.print(header, soft_wrap=True)
            self._tick(snap)
            await self._pause(REFRESH)
        snap = await asyncio.to_thread(take_snapshot, self.app, user)
        self.console.print(summary_line(snap), soft_wrap=True, markup=False)

    def _tick(self, snap: Snapshot) -> None:
        self.keeper.save(engine_now=snap.engine_now)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def _farewell(self, working: asyncio.Task[None], serving: asyncio.Task[None]) -> int:
        status = 0
        for what, task in (("worker", working), ("HTTP server", serving)):
            exc = task.exception() if not task.cancelled() else None
            if isinstance(exc, SystemExit | Exception):
                self.console.print(f"error: the {what} stopped: {exc!r}", style="red")
                status = 1
        state = self.keeper.state
        self.console.print(
            f"stopped at engine time {self.clock.now().astimezone():%Y-%m-%d %H:%M}; "
            f"{state.actions} simulated actions so far. Run {restart_command()} again to "
            f"resume, or {restart_command('--reset')} to start over.",
            soft_wrap=True,
        )
        self.app.close()
        self.ml.data.close()
        return status


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the demo until Ctrl-C, SIGTERM or ``options.duration``; the exit status."""
    return asyncio.run(Demo(options, console).run())
