"""``tidings demo``: the MediLink reference app live, with simulated traffic (see runner)."""

from tidings.demo.runner import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
