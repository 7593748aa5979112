"""Where the ``tidings`` command writes: its consoles, JSON output, errors and logs."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from tidings import redaction
from tidings.logs import json_handler as json_log_handler
from tidings.logs import resolve_format as resolve_log_format


def make_console(stream: TextIO, **options: Any) -> Console:
    """A rich Console for ``stream``; piped output is not squeezed into 80 columns."""
    # A pipe has no width to respect, and tables cut at 80 columns lose run ids.
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=160 if piped else None, **options)


out = make_console(sys.stdout)
err = make_console(sys.stderr, stderr=True)


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON to stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """Print ``message`` as one red ``error: ...`` line on stderr."""
    one_line = re.sub(r"\s*\n\s*", " ", message.strip())
    err.print(Text.assemble(("error: ", "bold red"), one_line), soft_wrap=True)


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


__all__ = ["configure_logging", "err", "make_console", "out", "print_error", "print_json"]
