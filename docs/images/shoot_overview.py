"""Take the dashboard screenshots of docs/guides/dashboard.md during a live demo.

    .venv/bin/python docs/images/shoot_overview.py [--seconds 90]

Starts `tidings demo` (engine time x3600) in a temporary folder on a free port, lets
the story play for ``--seconds``, signs in to the dashboard with the demo's API key in
headless Chromium (Debian's package, driven by Playwright; $TIDINGS_CHROMIUM overrides
the path) and saves the overview at desktop and phone widths next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
SIZES = {"dashboard-overview.png": (1280, 900), "dashboard-overview-phone.png": (390, 844)}


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    seconds = parser.parse_args().seconds
    port = free_port()
    tidings = str(Path(sys.executable).with_name("tidings"))
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        demo = subprocess.Popen(
            [tidings, "demo", "--port", str(port), "--data-dir", folder, "--time-scale", "3600"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(seconds)
            key = json.loads((Path(folder) / "demo-state.json").read_text())["api_key"]
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/dashboard/")
                page.get_by_label("Admin API key").fill(key)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_selector("svg.chart")
                for name, (width, height) in SIZES.items():
                    page.set_viewport_size({"width": width, "height": height})
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(HERE / name), full_page=True)
                    print(HERE / name)
                browser.close()
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(60)


if __name__ == "__main__":
    main()
