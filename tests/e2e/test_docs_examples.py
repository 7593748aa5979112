"""The docs run as written: every block of docs/quickstart.md, then the curl examples
of docs/guides/http-api.md, in an empty folder against a live ``tidings dev``; and the
tutorial from "Write your own task" on.

How a block is run is read from its info string, as a reader would read it:

- ``python``, ``toml``, ``ini`` whose first line is ``# <file name>``: saved as that file;
- any other ``python`` block: run with ``python`` in the folder;
- ``sh``: run with bash (``set -euo pipefail``); ``sh background`` is started and left
  running (``tidings dev``) until the port it serves answers; ``sh no-run`` is shown only
  (``make demo``, ``pip install``: they need the repository or the network), and so
  is ``python no-run`` (an excerpt of a file in the repository);
- anything else (``json``, ``text``, ``html``) is output or reference, not run.

Blocks run in the order of the page, in one folder, with the virtual environment's
``bin`` first on PATH (where ``tidings`` and ``pytest`` are) and no ``TIDINGS_*``
variables of the developer's. The docs' port 8000 is swapped for a free one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.server.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
TUTORIAL = ROOT / "docs" / "tutorial.md"
HTTP_GUIDE = ROOT / "docs" / "guides" / "http-api.md"
BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
FILE_LINE = re.compile(r"^# ([\w.-]+\.(?:py|toml|ini))\s*$")
SHELLS = ("sh", "bash", "shell")
DOCS_PORT = "8000"


@dataclass(frozen=True)
class Block:
    lang: str
    flags: tuple[str, ...]
    text: str
    line: int

    @property
    def file_name(self) -> str | None:
        first = self.text.splitlines()[0] if self.text else ""
        found = FILE_LINE.match(first)
        return found.group(1) if found and self.lang in ("python", "toml", "ini") else None

    def where(self, path: Path) -> str:
        return f"{path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for m in BLOCK.finditer(text):
        info = m.group(1).split()
        lang, flags = (info[0], tuple(info[1:])) if info else ("", ())
        found.append(Block(lang, flags, m.group(2), text.count("\n", 0, m.start()) + 1))
    return found


def test_every_block_is_marked_in_a_way_the_runner_knows() -> None:
    """A typo in an info string (``sh no_run``) must not silently skip a block."""
    known_flags = {"no-run", "background"}
    for path in (QUICKSTART, TUTORIAL, HTTP_GUIDE):
        for block in blocks(path):
            assert set(block.flags) <= known_flags, f"{block.where(path)}: {block.flags}"
            assert block.lang, f"{block.where(path)}: a block without a language"
    quick = blocks(QUICKSTART)
    no_run = [b for b in quick if "no-run" in b.flags]
    assert len(no_run) <= 2, "keep blocks that are not run to the few that cannot be"
    assert any("background" in b.flags for b in quick)


class Folder:
    """An empty project folder, its environment, and the processes started in it."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd = cwd
        self.port = port
        self.background: list[subprocess.Popen[str]] = []
        self.log_file: IO[str] | None = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.pop("PYTHONPATH", None)  # the folder's app.py, not the repository's modules
        env["COLUMNS"] = "200"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.env = env

    def ported(self, text: str) -> str:
        return text.replace(f":{DOCS_PORT}", f":{self.port}").replace(
            f"--port {DOCS_PORT}", f"--port {self.port}"
        )

    def run(self, block: Block, where: str, extra_env: dict[str, str] | None = None) -> str:
        env = {**self.env, **(extra_env or {})}
        if block.lang == "python":
            argv = [sys.executable, "-c", block.text]
        else:
            argv = ["bash", "-c", "set -euo pipefail\n" + self.ported(block.text)]
        done = subprocess.run(
            argv, cwd=self.cwd, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, (
            f"{where} failed ({done.returncode}):\n{block.text}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}\n{self.logs()}"
        )
        return done.stdout

    def start(self, block: Block) -> None:
        self.log_file = (self.cwd / "background.out").open("w")
        proc = subprocess.Popen(
            ["bash", "-c", "exec " + self.ported(block.text).strip()],
            cwd=self.cwd,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.background.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the background block ended:\n{self.logs()}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"nothing answered on port {self.port}:\n{self.logs()}")

    def logs(self) -> str:
        out = self.cwd / "background.out"
        return f"--- tidings dev\n{out.read_text()[-4000:]}" if out.exists() else ""

    def stop(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if self.log_file is not None:
            self.log_file.close()


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Folder]:
    f = Folder(tmp_path, free_port())
    try:
        yield f
    finally:
        f.stop()


def run_page(folder: Folder, path: Path) -> list[str]:
    """Run a page's blocks in order; the outputs of the blocks run."""
    outputs = []
    for block in blocks(path):
        where = block.where(path)
        if "no-run" in block.flags:
            continue
        if block.file_name is not None:
            (folder.cwd / block.file_name).write_text(block.text, encoding="utf-8")
        elif block.lang == "python" or (block.lang in SHELLS and not block.flags):
            outputs.append(folder.run(block, where))
        elif block.lang in SHELLS and "background" in block.flags:
            folder.start(block)
    return outputs


def test_the_tutorial_runs_as_written_from_your_own_task_on(folder: Folder) -> None:
    """Sections 1 and 2 are about the demo, in the repository (``no-run``); from
    section 3 on, the tutorial happens in a folder of one's own."""
    text = "\n".join(run_page(folder, TUTORIAL))
    assert "1 passed in " in text
    assert '"runIds":["run_' in text.replace(" ", "")
    assert text.count("WAITING") >= 2  # both events started a run, asleep for two hours


def test_the_quick_start_runs_as_written_then_the_http_guides_curls(folder: Folder) -> None:
    outputs = run_page(folder, QUICKSTART)
    text = "\n".join(outputs)
    # what the page says happens, happens
    assert '"reminded": true' in text  # the run ended COMPLETED with its result
    assert "welcome | Welcome to Acme, Ada!" in text
    assert "profile-reminder | One more step, Ada" in text
    assert '"created":true' in text.replace(" ", "")  # the curl's answer
    assert "1 passed in " in text  # the TestEngine test, without a warning

    # The HTTP guide's curl examples, against the same server, as $TIDINGS with $KEY.
    key = folder.run(
        Block("sh", (), "tidings keys create --name docs --scope admin", 0), "admin key"
    ).strip()
    env = {"TIDINGS": f"http://127.0.0.1:{folder.port}", "KEY": key}
    curls = [b for b in blocks(HTTP_GUIDE) if b.lang in SHELLS and "curl" in b.text]
    assert len(curls) >= 3
    for block in curls:
        # --fail-with-body: an answer of 400 or more fails the block, and shows why
        strict = Block(
            block.lang,
            block.flags,
            'curl() { command curl -sS --fail-with-body "$@"; }\n' + block.text,
            block.line,
        )
        folder.run(strict, block.where(HTTP_GUIDE), env)
