"""What ``tidings demo`` keeps between runs: engine time, the simulation, the API key.

Everything lives under one folder (``.tidings/`` in the working directory): tidings'
database, the MediLink example's own database, and a small JSON file with the rest. The
JSON file is rewritten atomically (write, then rename), so a crash leaves the previous
version, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tidings.errors import ConfigError
from tidings.settings import env_demo_launcher

STATE_VERSION = 1


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps its files."""

    folder: Path

    @property
    def database(self) -> Path:
        return self.folder / "demo.db"

    @property
    def data(self) -> Path:
        return self.folder / "demo-medilink.db"

    @property
    def state(self) -> Path:
        return self.folder / "demo-state.json"

    @property
    def links(self) -> Path:
        """The addresses and key of the running demo, for when its output scrolls away."""
        return self.folder / "demo-links.txt"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def data_url(self) -> str:
        return f"sqlite:///{self.data}"

    def reset(self) -> None:
        """Delete every file of the demo (databases with their WAL files, the state)."""
        for db in (self.database, self.data):
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        self.state.unlink(missing_ok=True)
        self.links.unlink(missing_ok=True)


@dataclass
class DemoState:
    """The demo's memory between runs (see the module docstring)."""

    seed: int
    engine_now: datetime | None = None
    """Engine time reached when last saved; the next start resumes from it."""
    sessions: int = 0
    """How many times the demo has started on this data."""
    traffic: dict[str, Any] | None = None
    """The simulation's snapshot (Traffic.snapshot()); None before the first users."""
    api_key: str | None = None
    """An admin API key of the demo's environment (a local, throwaway database)."""
    actions: int = 0
    """Simulated actions taken so far."""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "engine_now": self.engine_now.isoformat() if self.engine_now else None,
            "sessions": self.sessions,
            "traffic": self.traffic,
            "api_key": self.api_key,
            "actions": self.actions,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DemoState:
        when = data.get("engine_now")
        return cls(
            seed=int(data["seed"]),
            engine_now=datetime.fromisoformat(when) if when else None,
            sessions=int(data.get("sessions", 0)),
            traffic=data.get("traffic"),
            api_key=data.get("api_key"),
            actions=int(data.get("actions", 0)),
        )


def load_state(paths: DemoPaths) -> DemoState | None:
    """The saved state, or None when the demo starts fresh."""
    try:
        text = paths.state.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        return DemoState.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"cannot read the demo's saved state {paths.state} ({exc}); "
            f"start over with {restart_command('--reset')}"
        ) from None


def restart_command(*args: str) -> str:
    """The command that starts the demo again, as the user started it (with ``args``)."""
    if env_demo_launcher() == "make":
        extra = f" DEMO_ARGS={' '.join(args)}" if args else ""
        return f"`make demo{extra}`"
    return f"`{' '.join(('tidings demo', *args))}`"


def tidings_command() -> str:
    """How to call the ``tidings`` command from where the demo was started."""
    return ".venv/bin/tidings" if env_demo_launcher() == "make" else "tidings"


def save_state(paths: DemoPaths, state: DemoState) -> None:
    """Write the state atomically."""
    paths.folder.mkdir(parents=True, exist_ok=True)
    tmp = paths.state.with_name(paths.state.name + ".tmp")
    tmp.write_text(json.dumps(state.to_json(), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, paths.state)
