"""The deploy files and operations docs name commands and flags that exist."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer

from tidings.cli import cli

from .conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _commands() -> dict[str, Any]:
    group = typer.main.get_command(cli)  # a click group (typer's own click, maybe)
    return dict(group.commands)  # type: ignore[attr-defined]


def _flags(command: Any) -> set[str]:
    return {opt for p in command.params for opt in getattr(p, "opts", [])}


def _check_invocation(args: list[str]) -> None:
    commands = _commands()
    name, *rest = args
    if name not in commands:
        pytest.skip(f"`tidings {name}` belongs to another part not in this build yet")
    flags = _flags(commands[name])
    for arg in rest:
        if arg.startswith("--"):
            assert arg.split("=", 1)[0] in flags, f"tidings {name} has no {arg}"


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_units_run_real_commands(unit: Path) -> None:
    (line,) = [ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[0].endswith("/tidings")
    _check_invocation(argv[1:])
    text = unit.read_text()
    assert "EnvironmentFile=/etc/tidings/tidings.env" in text
    assert "User=tidings" in text


def test_the_timer_starts_the_backup_daily() -> None:
    timer = (DEPLOY / "systemd" / "tidings-backup.timer").read_text()
    assert "OnCalendar=*-*-* 02:30:00 UTC" in timer
    backup = (DEPLOY / "systemd" / "tidings-backup.service").read_text()
    assert "--keep 7" in backup


def test_dockerfile_builds_from_files_that_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            *sources, _dest = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    extras = re.search(r'"\.\[([a-z,]+)\]"', text)
    assert extras is not None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(extras.group(1).split(",")) <= set(project["optional-dependencies"])
    cmd = re.search(r'^CMD \["(\w+)"\]', text, re.M)
    assert cmd is not None
    assert cmd.group(1) in _commands()


def test_cli_reference_lists_the_operations_commands_and_their_flags() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text()
    commands = _commands()
    for name in ("backup", "restore", "doctor", "prune", "mcp"):
        assert f"`tidings {name}" in reference
        documented = re.search(rf"`tidings {name}([^`]*)`", reference)
        assert documented is not None
        for flag in re.findall(r"--[a-z-]+", documented.group(1)):
            assert flag in _flags(commands[name]), f"docs/cli.md: tidings {name} {flag}"


def test_operations_docs_use_real_flags() -> None:
    commands = _commands()
    pages = [*(ROOT / "docs" / "operations").glob("*.md"), *(ROOT / "docs" / "deploy").glob("*.md")]
    checked = 0
    for page in pages:
        for match in re.finditer(
            r"tidings (backup|restore|doctor|prune|mcp|worker|migrate)([^\n`|]*)", page.read_text()
        ):
            name, rest = match.group(1), match.group(2)
            flags = _flags(commands[name])
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
                assert flag in flags, f"{page.name}: `tidings {name} ... {flag}`"
                checked += 1
    assert checked > 10
