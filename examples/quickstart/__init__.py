"""Quickstart: a welcome email sequence, the smallest complete app (docs/quickstart.md)."""
