"""Example apps for tidings (run them from the repository root)."""
